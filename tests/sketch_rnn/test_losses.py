"""Sketch RNN losses and schedules against numpy references."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sketch_rnn import losses, pixel_cells
from sketch_rnn.configs import SketchRNNConfig


def np_pdf(dx, dy, mx, my, sx, sy, rho):
    """Bivariate normal density from the covariance matrix."""
    d = np.stack(np.broadcast_arrays(dx - mx, dy - my), -1)[..., None]  # (..., 2, 1)
    cov = np.stack([np.stack([sx * sx, rho * sx * sy], -1),
                    np.stack([rho * sx * sy, sy * sy], -1)], -2)  # (..., 2, 2)
    quad = (np.swapaxes(d, -1, -2) @ np.linalg.inv(cov) @ d)[..., 0, 0]
    return np.exp(-0.5 * quad) / (2 * np.pi * np.sqrt(np.linalg.det(cov)))


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def random_case(seed, b=3, t=6, m=4):
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(size=(b, t, m)).astype("float32") * 0.5
              for k in ("pi_logits", "mu_x", "mu_y", "log_sigma_x", "log_sigma_y")}
    params["rho"] = np.tanh(rng.normal(size=(b, t, m))).astype("float32") * 0.9
    params["pen_logits"] = rng.normal(size=(b, t, 3)).astype("float32")
    target = np.zeros((b, t, 5), np.float32)
    target[..., :2] = rng.normal(size=(b, t, 2))
    target[np.arange(b)[:, None], np.arange(t)[None], 2 + rng.integers(0, 3, (b, t))] = 1.0
    lengths = rng.integers(0, t + 1, b).astype("int32")
    return target, lengths, params


def np_stroke_loss(target, lengths, p, eps=1e-6):
    b, t, _ = target.shape
    total = 0.0
    for i in range(b):
        for j in range(lengths[i]):
            dens = np_pdf(target[i, j, 0], target[i, j, 1], p["mu_x"][i, j], p["mu_y"][i, j],
                          np.exp(p["log_sigma_x"][i, j]), np.exp(p["log_sigma_y"][i, j]),
                          p["rho"][i, j])
            total -= np.log(np.sum(softmax(p["pi_logits"][i, j]) * dens) + eps)
    return total / (b * t)


def np_pen_loss(target, logits, lengths=None):
    b, t, _ = target.shape
    log_q = np.log(softmax(logits.astype(np.float64)))
    ce = -(target[..., 2:] * log_q).sum(-1)
    if lengths is not None:
        ce = ce * (np.arange(t)[None] < lengths[:, None])
    return ce.sum() / (b * t)


def test_bivariate_normal_pdf_matches_numpy():
    rng = np.random.default_rng(0)
    args = [rng.normal(size=(4, 5)).astype("float32") for _ in range(4)]
    sx, sy = np.exp(rng.normal(size=(2, 4, 5)) * 0.5).astype("float32")
    rho = np.tanh(rng.normal(size=(4, 5))).astype("float32") * 0.95
    got = losses.bivariate_normal_pdf(*args, sx, sy, rho)
    np.testing.assert_allclose(got, np_pdf(*args, sx, sy, rho), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stroke_loss_matches_numpy_with_lengths_or_mask(seed):
    target, lengths, params = random_case(seed)
    want = np_stroke_loss(target, lengths, params)
    got = losses.stroke_loss(target, lengths, params)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    mask = np.arange(target.shape[1])[None] < lengths[:, None]
    np.testing.assert_allclose(losses.stroke_loss(target, mask, params), want, rtol=1e-5)


def test_stroke_loss_epsilon_keeps_it_finite():
    target, _, params = random_case(0)
    target[..., :2] = 1e4  # Density underflows to 0.
    lengths = np.full(3, 6, np.int32)
    got = float(losses.stroke_loss(target, lengths, params, epsilon=1e-6))
    np.testing.assert_allclose(got, -np.log(1e-6), rtol=1e-5)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(-50, 50))
def test_stroke_loss_ignores_padding(seed, junk):
    target, lengths, params = random_case(seed)
    changed = target.copy()
    for i, n in enumerate(lengths):
        changed[i, n:, :2] = junk
    np.testing.assert_allclose(losses.stroke_loss(changed, lengths, params),
                               losses.stroke_loss(target, lengths, params), rtol=1e-6)


def test_pen_loss_matches_numpy():
    target, lengths, params = random_case(3)
    np.testing.assert_allclose(losses.pen_loss(target, params["pen_logits"]),
                               np_pen_loss(target, params["pen_logits"]), rtol=1e-5)
    np.testing.assert_allclose(losses.pen_loss(target, params["pen_logits"], mask=lengths),
                               np_pen_loss(target, params["pen_logits"], lengths), rtol=1e-5)


def test_kl_matches_numpy_and_floor():
    rng = np.random.default_rng(4)
    mu, presig = rng.normal(size=(2, 5, 7)).astype("float32")
    want = -np.mean(np.sum(1 + presig - mu ** 2 - np.exp(presig), -1)) / (2 * 7)
    np.testing.assert_allclose(losses.kl_divergence(mu, presig), want, rtol=1e-5)
    np.testing.assert_allclose(losses.kl_loss(mu, presig, 0.2), max(want, 0.2), rtol=1e-5)
    np.testing.assert_allclose(losses.kl_loss(mu * 0, presig * 0, 0.2), 0.2)
    np.testing.assert_allclose(losses.kl_divergence(mu * 0, presig * 0), 0.0)


@pytest.mark.parametrize("step", [0, 1, 1000, 45_000, 1_000_000])
def test_kl_weight_matches_numpy(step):
    np.testing.assert_allclose(losses.kl_weight(step, 0.01, 0.5, 0.99995),
                               0.5 - (0.5 - 0.01) * 0.99995 ** step, rtol=1e-5)


def _outputs(params, seed=5, nz=3):
    rng = np.random.default_rng(seed)
    b = params["mu_x"].shape[0]
    return dict(params, mu=rng.normal(size=(b, nz)).astype("float32"),
                presig=rng.normal(size=(b, nz)).astype("float32"))


def test_compute_losses_conditional():
    target, lengths, params = random_case(6)
    strokes = np.concatenate([np.zeros((3, 1, 5), np.float32), target], 1)
    batch = {"strokes": strokes, "lengths": lengths}
    config = SketchRNNConfig.testing()
    out = _outputs(params)
    got = {k: float(v) for k, v in losses.compute_losses(out, batch, 100, config).items()}
    l_s = np_stroke_loss(target, lengths, params)
    l_p = np_pen_loss(target, params["pen_logits"])
    kl = -np.mean(1 + out["presig"] - out["mu"] ** 2 - np.exp(out["presig"])) / 2
    w = 0.5 - (0.5 - 0.01) * 0.99995 ** 100
    np.testing.assert_allclose(
        [got["L_s"], got["L_p"], got["L_R"], got["L_KL"], got["L_KL_floored"], got["w_KL"]],
        [l_s, l_p, l_s + l_p, kl, max(kl, 0.2), w], rtol=1e-5)
    np.testing.assert_allclose(got["loss"], l_s + l_p + w * max(kl, 0.2), rtol=1e-5)
    evaluated = losses.compute_losses(out, batch, 100, config, training=False)
    np.testing.assert_allclose(evaluated["L_p"],
                               np_pen_loss(target, params["pen_logits"], lengths), rtol=1e-5)


def test_compute_losses_unconditional():
    target, lengths, params = random_case(7)
    strokes = np.concatenate([np.zeros((3, 1, 5), np.float32), target], 1)
    config = dataclasses.replace(SketchRNNConfig.testing(), conditional=False)
    got = losses.compute_losses(params, {"strokes": strokes, "lengths": lengths}, 5, config)
    assert float(got["L_KL"]) == 0.0 and float(got["w_KL"]) == 0.0
    np.testing.assert_allclose(got["loss"], got["L_R"])
    for value in got.values():
        assert value.dtype == "float32" and value.shape == ()


def test_pen_loss_weight_scales_only_the_trained_pen_term():
    target, lengths, params = random_case(8)
    strokes = np.concatenate([np.zeros((3, 1, 5), np.float32), target], 1)
    batch = {"strokes": strokes, "lengths": lengths}
    config = dataclasses.replace(SketchRNNConfig.testing(), pen_loss_weight=3.0)
    out = _outputs(params)
    got = {k: float(v) for k, v in losses.compute_losses(out, batch, 100, config).items()}
    l_s = np_stroke_loss(target, lengths, params)
    l_p = np_pen_loss(target, params["pen_logits"])
    np.testing.assert_allclose([got["L_s"], got["L_p"], got["L_R"]], [l_s, l_p, l_s + l_p],
                               rtol=1e-5)  # The logged terms stay magenta's.
    np.testing.assert_allclose(got["loss"],
                               l_s + 3.0 * l_p + got["w_KL"] * got["L_KL_floored"], rtol=1e-5)
    with pytest.raises(ValueError, match="pen_loss_weight"):
        dataclasses.replace(SketchRNNConfig.testing(), pen_loss_weight=-1.0)


# The probability of whole-pixel offsets (cell_log_prob)

def np_cell_mass(dx, dy, h, mx, my, sx, sy, rho, n=1200):
    """One component's mass over [dx +- h] x [dy +- h] by the midpoint rule on an n x n grid."""
    offs = -h + (np.arange(n) + 0.5) * 2 * h / n
    x, y = np.meshgrid(dx + offs, dy + offs)
    return np_pdf(x, y, mx, my, sx, sy, rho).sum() * (2 * h / n) ** 2


def test_cell_log_prob_is_exact_for_independent_axes_into_the_far_tails():
    import math
    phi = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))

    def log_mass(c, h, mu, s):  # log(Phi(b) - Phi(a)) from the nearer tail
        a, b = (c - h - mu) / s, (c + h - mu) / s
        return math.log(phi(b) - phi(a) if a <= 0 else phi(-a) - phi(-b))

    for dx, dy, sx, sy in ((0, 0, 1, 1), (3, 2, 0.3, 0.2), (30, 0, 1, 1), (-30, 30, 1, 2),
                           (0, 0, 100, 50), (0.1, -0.1, 0.01, 0.02)):
        got = pixel_cells.cell_log_prob(np.float64(dx), np.float64(dy), 0.5, np.zeros(1), np.zeros(1),
                                   np.zeros(1), np.array([sx], float), np.array([sy], float),
                                   np.zeros(1)).numpy()
        want = log_mass(dx, 0.5, 0, sx) + log_mass(dy, 0.5, 0, sy)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (dx, dy, sx, sy)


@pytest.mark.parametrize("seed", range(4))
def test_cell_log_prob_matches_a_fine_grid_for_correlated_mixtures(seed):
    rng = np.random.default_rng(seed)
    m, h = 3, 0.3
    mx, my = rng.normal(size=(2, m))
    sx, sy = np.exp(rng.normal(size=(2, m)) - 1)
    rho = rng.uniform(-0.95, 0.95, m)
    pi = softmax(rng.normal(size=m))
    dx, dy = rng.normal(size=2) * 0.5
    want = np.log(sum(pi[j] * np_cell_mass(dx, dy, h, mx[j], my[j], sx[j], sy[j], rho[j])
                      for j in range(m)))
    got = pixel_cells.cell_log_prob(dx, dy, h, np.log(pi), mx, my, sx, sy, rho).numpy()
    assert got == pytest.approx(want, abs=1e-4)  # 24 nodes: about 3e-5 nats here.


def test_cell_log_prob_limits_narrow_and_wide():
    # A component far narrower than the cell, inside it: its whole weight.
    got = pixel_cells.cell_log_prob(0.0, 0.0, 0.5, np.log([0.3, 0.7]), np.array([0.1, 5.0]),
                               np.array([-0.2, 5.0]), np.array([1e-3, 1e-3]),
                               np.array([2e-3, 1e-3]), np.array([0.99, 0.0])).numpy()
    assert got == pytest.approx(np.log(0.3), abs=1e-9)
    # Far wider than the cell: the density times the cell's area.
    args = (0.4, -0.3, 1e-3, 0.1, 0.2, 2.0, 3.0, 0.5)
    got = pixel_cells.cell_log_prob(0.4, -0.3, 1e-3, np.zeros(1), *[np.array([a]) for a in args[3:]])
    want = np.log(np_pdf(0.4, -0.3, *args[3:]) * (2e-3) ** 2)
    assert float(got.numpy()) == pytest.approx(want, abs=1e-6)


def test_sketch_nll_discrete_averages_real_points_only():
    target, lengths, params = random_case(3)
    target[..., :2] = np.round(target[..., :2] * 4) / 4  # A lattice of spacing 1/4.
    out = losses.sketch_nll(target, lengths, params, half_width=0.125)
    pi = softmax(params["pi_logits"].astype(np.float64))
    for i, n in enumerate(lengths):
        want = 0.0
        for j in range(n):
            p = {k: params[k][i, j].astype(np.float64) for k in params}
            want -= float(pixel_cells.cell_log_prob(
                target[i, j, 0], target[i, j, 1], 0.125, np.log(pi[i, j]), p["mu_x"], p["mu_y"],
                np.exp(p["log_sigma_x"]), np.exp(p["log_sigma_y"]), p["rho"]))
        want = want / n if n else 0.0
        assert float(out["nll_offsets_discrete"][i]) == pytest.approx(want, rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(out["nll_discrete"], out["nll_offsets_discrete"] + out["nll_pen"],
                               rtol=1e-6)
    assert "nll_offsets_discrete" not in losses.sketch_nll(target, lengths, params)
