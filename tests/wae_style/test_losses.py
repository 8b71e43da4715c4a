"""Tests for wae_style.losses against numpy references."""

import numpy as np
import keras
import pytest
from hypothesis import given, settings, strategies as st

from wae_style import configs, losses
from common.training import config as config_utils

SCALES = losses.DEFAULT_SCALES


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _feats(rng, b=3):
    return {"a": rng.normal(size=(b, 4, 4, 3)).astype("float32"),
            "b": rng.normal(size=(b, 2, 2, 5)).astype("float32")}


def _np_gram(f):
    b, h, w, c = f.shape
    flat = f.reshape(b, h * w, c)
    return np.einsum("bpi,bpj->bij", flat, flat) / (h * w)


def test_pixel_loss():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(2, 3, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(_np(losses.pixel_loss(x, y)), np.mean((x - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(_np(losses.pixel_loss(x, y, per_example=True)),
                               np.mean((x - y) ** 2, axis=(1, 2, 3)), rtol=1e-5)


def test_feature_and_gram_loss():
    rng = np.random.default_rng(1)
    fx, fy = _feats(rng), _feats(rng)
    expected = np.mean([np.mean((fx[k] - fy[k]) ** 2) for k in fx])
    np.testing.assert_allclose(_np(losses.feature_loss(fx, fy)), expected, rtol=1e-5)
    np.testing.assert_allclose(_np(losses.feature_loss(fx, fy, layers=["b"])),
                               np.mean((fx["b"] - fy["b"]) ** 2), rtol=1e-5)
    np.testing.assert_allclose(_np(losses.feature_loss(list(fx.values()), list(fy.values()))),
                               expected, rtol=1e-5)
    per = [np.mean((fx[k] - fy[k]) ** 2, axis=(1, 2, 3)) for k in fx]
    np.testing.assert_allclose(_np(losses.feature_loss(fx, fy, per_example=True)),
                               np.mean(per, axis=0), rtol=1e-5)
    g = np.mean([np.mean((_np_gram(fx[k]) - _np_gram(fy[k])) ** 2) for k in fx])
    np.testing.assert_allclose(_np(losses.gram_loss(fx, fy)), g, rtol=1e-5)
    gper = np.mean([np.mean((_np_gram(fx[k]) - _np_gram(fy[k])) ** 2, axis=(1, 2)) for k in fx],
                   axis=0)
    np.testing.assert_allclose(_np(losses.gram_loss(fx, fy, per_example=True)), gper, rtol=1e-5)


def _np_imq(x, y, scales, sigma):
    c0 = 2.0 * x.shape[-1] * sigma ** 2
    return sum(c0 * s / (c0 * s + np.sum((x - y) ** 2)) for s in scales)


def _np_mmd(z, p, scales=SCALES, sigma=1.0):
    """Direct double loops of the unbiased estimator."""
    n, m = len(z), len(p)
    qq = sum(_np_imq(z[i], z[j], scales, sigma) for i in range(n) for j in range(n) if i != j)
    pp = sum(_np_imq(p[i], p[j], scales, sigma) for i in range(m) for j in range(m) if i != j)
    qp = sum(_np_imq(z[i], p[j], scales, sigma) for i in range(n) for j in range(m))
    return qq / (n * (n - 1)) + pp / (m * (m - 1)) - 2.0 * qp / (n * m)


def test_imq_kernel_sum_matrix():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    k = _np(losses.imq_kernel_sum(x.astype("float32"), y.astype("float32"), SCALES, 2.0))
    expected = [[_np_imq(a, b, SCALES, 2.0) for b in y] for a in x]
    np.testing.assert_allclose(k, expected, rtol=1e-5)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 7), m=st.integers(2, 7), d=st.integers(1, 6),
       sigma=st.sampled_from([0.5, 1.0, 2.0]), shift=st.floats(-2, 2), seed=st.integers(0, 99))
def test_mmd_matches_double_loop(n, m, d, sigma, shift, seed):
    rng = np.random.default_rng(seed)
    z = (rng.normal(size=(n, d)) + shift).astype("float64")
    p = rng.normal(size=(m, d)).astype("float64")
    got = _np(losses.mmd_penalty(z, p, SCALES, sigma))
    np.testing.assert_allclose(got, _np_mmd(z, p, SCALES, sigma), rtol=1e-6, atol=1e-9)


def test_mmd_small_for_prior_large_for_shift():
    rng = np.random.default_rng(3)
    p = rng.normal(size=(256, 16)).astype("float32")
    same = float(_np(losses.mmd_penalty(rng.normal(size=(256, 16)).astype("float32"), p)))
    shifted = float(_np(losses.mmd_penalty((rng.normal(size=(256, 16)) + 1.0)
                                           .astype("float32"), p)))
    assert abs(same) < 0.01
    assert shifted > 20 * max(abs(same), 1e-3)


def test_gan_losses():
    lq = np.array([0.5, -1.0, 2.0], "float32")
    lp = np.array([1.5, 0.0], "float32")
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    np.testing.assert_allclose(_np(losses.gan_generator_loss(lq)), -np.mean(np.log(sig(lq))),
                               rtol=1e-5)
    expected = -np.mean(np.log(sig(lp))) - np.mean(np.log(1 - sig(lq)))
    np.testing.assert_allclose(_np(losses.discriminator_loss(lq, lp)), expected, rtol=1e-5)
    config = config_utils.replace_from_strings(configs.WAEConfig.testing(), ["gan_lambda=2"])
    out = losses.discriminator_losses({"content": lq, "style": lq}, {"content": lp, "style": lp},
                                      config)
    np.testing.assert_allclose(_np(out["disc_loss"]), 4 * expected, rtol=1e-5)


def test_sample_prior_shapes_and_determinism():
    config = config_utils.replace_from_strings(configs.WAEConfig.testing(), ["prior_sigma=2"])
    a = losses.sample_prior(500, config, seed=3)
    b = losses.sample_prior(500, config, seed=np.array([3, 0], "int32"))
    assert a["content"].shape == (500, config.content_dim)
    assert a["style"].shape == (500, config.style_dim)
    np.testing.assert_allclose(_np(a["content"]), _np(b["content"]))
    assert abs(np.std(_np(a["style"])) - 2.0) < 0.1


def _fake_outputs(rng, config, b=4, penalty_logits=False):
    images = rng.uniform(size=(b, 8, 8, 3)).astype("float32")
    layers = config.vgg_layers
    out = {
        "recon": rng.uniform(size=(b, 8, 8, 3)).astype("float32"),
        "z_content": rng.normal(size=(b, config.content_dim)).astype("float32"),
        "z_style": rng.normal(size=(b, config.style_dim)).astype("float32"),
        "features": {n: rng.normal(size=(b, 2, 2, 3)).astype("float32") for n in layers},
        "recon_features": {n: rng.normal(size=(b, 2, 2, 3)).astype("float32") for n in layers},
    }
    if penalty_logits:
        out["disc_content"] = rng.normal(size=(b,)).astype("float32")
        out["disc_style"] = rng.normal(size=(b,)).astype("float32")
    return out, images


def test_compute_losses_mmd():
    rng = np.random.default_rng(4)
    config = config_utils.replace_from_strings(
        configs.WAEConfig.testing(), ["pixel_weight=2", "feature_weight=0.5", "gram_weight=0.25"])
    out, images = _fake_outputs(rng, config)
    prior = {"content": rng.normal(size=(4, config.content_dim)).astype("float32"),
             "style": rng.normal(size=(4, config.style_dim)).astype("float32")}
    res = {k: float(_np(v)) for k, v in losses.compute_losses(out, images, prior, config).items()}
    assert set(res) == {"loss", "pixel", "feature", "gram", "recon", "mmd_content",
                        "mmd_style", "mmd"}
    pixel = np.mean((images - out["recon"]) ** 2)
    feature = np.mean([np.mean((out["features"][n] - out["recon_features"][n]) ** 2)
                       for n in config.content_feature_layers])
    gram = np.mean([np.mean((_np_gram(out["features"][n]) - _np_gram(out["recon_features"][n]))
                            ** 2) for n in config.style_layers])
    recon = 2 * pixel + 0.5 * feature + 0.25 * gram
    mmd_c = _np_mmd(out["z_content"], prior["content"])
    mmd_s = _np_mmd(out["z_style"], prior["style"])
    np.testing.assert_allclose(
        [res["pixel"], res["feature"], res["gram"], res["recon"], res["mmd_content"],
         res["mmd_style"], res["mmd"], res["loss"]],
        [pixel, feature, gram, recon, mmd_c, mmd_s, mmd_c + mmd_s,
         recon + config.mmd_lambda * (mmd_c + mmd_s)], rtol=1e-4)
    seeded = losses.compute_losses(out, images, 7, config)
    assert np.isfinite(float(_np(seeded["loss"])))


def test_compute_losses_gan():
    rng = np.random.default_rng(5)
    config = config_utils.replace_from_strings(configs.WAEConfig.testing(), ["penalty=gan", "gan_lambda=3"])
    out, images = _fake_outputs(rng, config, penalty_logits=True)
    res = losses.compute_losses(out, images, 0, config)
    gan = float(_np(losses.gan_generator_loss(out["disc_content"])
                    + losses.gan_generator_loss(out["disc_style"])))
    np.testing.assert_allclose(float(_np(res["gan"])), gan, rtol=1e-5)
    np.testing.assert_allclose(float(_np(res["loss"])), float(_np(res["recon"])) + 3 * gan,
                               rtol=1e-5)
    del out["disc_content"]
    with pytest.raises(ValueError, match="discriminator logits"):
        losses.compute_losses(out, images, 0, config)


def test_compute_losses_needs_features():
    rng = np.random.default_rng(6)
    config = configs.WAEConfig.testing()
    out, images = _fake_outputs(rng, config)
    del out["features"]
    with pytest.raises(ValueError, match="return_features"):
        losses.compute_losses(out, images, 0, config)


def test_suggest_loss_weights_equalises():
    rng = np.random.default_rng(7)
    config = configs.WAEConfig.testing()
    out, images = _fake_outputs(rng, config)
    w = losses.suggest_loss_weights(out, images, config)
    terms = {k: float(_np(v)) for k, v in losses.reconstruction_terms(out, images, config).items()}
    np.testing.assert_allclose(w["feature_weight"] * terms["feature"], terms["pixel"], rtol=1e-5)
    np.testing.assert_allclose(w["gram_weight"] * terms["gram"], terms["pixel"], rtol=1e-5)
