"""Sketch RNN losses (eqs. 6-10), the per-sketch likelihood and KL annealing: pure tensor functions."""

import math

import numpy as np
import tensorflow as tf
from keras import ops

from common.training.schedules import exponential_decay


def _f32(x):
    return ops.cast(x, "float32")


def bivariate_normal_pdf(dx, dy, mu_x, mu_y, sigma_x, sigma_y, rho):
    """N(dx, dy | mu, sigma, rho) of a bivariate normal (Graves 2013 eqs. 24-25); broadcasts."""
    norm_x, norm_y = dx - mu_x, dy - mu_y
    s_xy = sigma_x * sigma_y
    z = (ops.square(norm_x / sigma_x) + ops.square(norm_y / sigma_y)
         - 2.0 * rho * norm_x * norm_y / s_xy)
    one_minus_rho2 = 1.0 - ops.square(rho)
    return ops.exp(-z / (2.0 * one_minus_rho2)) / (
        2.0 * math.pi * s_xy * ops.sqrt(one_minus_rho2))


def _mask(lengths_or_mask, num_steps):
    """(B,) lengths or a (B, T) mask -> float32 (B, T) mask."""
    m = ops.convert_to_tensor(lengths_or_mask)
    if len(m.shape) == 1:
        steps = ops.arange(num_steps, dtype="int32")
        m = steps[None, :] < ops.cast(m, "int32")[:, None]  # (B, T)
    return _f32(m)


def offset_nll_steps(target, params, epsilon=1e-6):
    """-log(sum_j Pi_j N(dx_i, dy_i | ...) + eps) at every step: (B, T).

    Args:
        target: (B, T, 5) stroke-5 targets.
        params: dict with pi_logits, mu_x, mu_y, log_sigma_x, log_sigma_y, rho (B, T, M).
        epsilon: added inside the log (magenta's 1e-6).
    """
    target = _f32(target)
    dx, dy = target[..., 0:1], target[..., 1:2]  # (B, T, 1)
    pdf = bivariate_normal_pdf(
        dx, dy, _f32(params["mu_x"]), _f32(params["mu_y"]),
        ops.exp(_f32(params["log_sigma_x"])), ops.exp(_f32(params["log_sigma_y"])),
        _f32(params["rho"]))  # (B, T, M)
    pi = ops.softmax(_f32(params["pi_logits"]), axis=-1)
    return -ops.log(ops.sum(pi * pdf, axis=-1) + epsilon)  # (B, T)


def offset_log_density_steps(target, params):
    """log sum_j Pi_j N(dx_i, dy_i | ...) at every step, exactly (log-sum-exp, no epsilon): (B, T)."""
    target = _f32(target)
    dx, dy = target[..., 0:1], target[..., 1:2]  # (B, T, 1)
    log_sx, log_sy = _f32(params["log_sigma_x"]), _f32(params["log_sigma_y"])
    rho = _f32(params["rho"])
    zx = (dx - _f32(params["mu_x"])) / ops.exp(log_sx)
    zy = (dy - _f32(params["mu_y"])) / ops.exp(log_sy)
    one_minus_rho2 = 1.0 - ops.square(rho)
    log_pdf = (-(ops.square(zx) + ops.square(zy) - 2.0 * rho * zx * zy) / (2.0 * one_minus_rho2)
               - math.log(2.0 * math.pi) - log_sx - log_sy - 0.5 * ops.log(one_minus_rho2))
    log_pi = ops.log_softmax(_f32(params["pi_logits"]), axis=-1)
    return ops.logsumexp(log_pi + log_pdf, axis=-1)  # (B, T, M) -> (B, T)


def _normal_cdf(x):
    return 0.5 * tf.math.erfc(-x / math.sqrt(2.0))


def _cdf_difference(lo, hi):
    """Phi(hi) - Phi(lo) for lo <= hi, from the nearer tail (no cancellation near 1)."""
    upper = lo > 0.0
    return tf.where(upper, _normal_cdf(-lo) - _normal_cdf(-hi), _normal_cdf(hi) - _normal_cdf(lo))


def cell_log_prob(dx, dy, half_width, log_pi, mu_x, mu_y, sigma_x, sigma_y, rho, nodes=24):
    """log P(the offset lies in the cell [dx +- h] x [dy +- h]) under a bivariate normal mixture.

    On pixel data an offset is a whole number of pixels, so its probability is the mixture's
    mass over the pixel's cell, not the density at its centre (which grows without bound as
    the components narrow onto the lattice). Each component's mass is integrated exactly in
    y given x (a normal CDF) and by Gauss-Legendre in x after the substitution v = Phi(z_x),
    which keeps the integrand within [0, 1] however narrow or wide the component; computed
    in float64, from the nearer tail, so far cells keep a finite log.

    Args:
        dx, dy: (...) cell centres, in the model's units.
        half_width: h, half a pixel in the model's units (0.5 / the normaliser).
        log_pi, mu_x, mu_y, sigma_x, sigma_y, rho: (..., M) mixture parameters.
        nodes: Gauss-Legendre nodes (24: within about 1e-4 nats of a fine grid).

    Returns:
        float64 (...) log-probabilities (at most 0).

    Reference: the discretised likelihood of PixelCNN++ (Salimans et al. 2017), for a
    bivariate normal mixture; Theis et al. 2016 on continuous densities of discrete data.
    """
    f64 = lambda a: tf.cast(a, tf.float64)
    dx, dy = f64(dx)[..., None], f64(dy)[..., None]  # (..., 1)
    mx, my, sx, sy, r = (f64(a) for a in (mu_x, mu_y, sigma_x, sigma_y, rho))  # (..., M)
    h = f64(half_width)
    za, zb = (dx - h - mx) / sx, (dx + h - mx) / sx  # (..., M) the cell in x's std units
    flip = tf.where(za > 0.0, f64(-1.0), f64(1.0))  # Integrate from the nearer tail.
    lo, hi = tf.minimum(flip * za, flip * zb), tf.maximum(flip * za, flip * zb)  # lo <= 0
    va = _normal_cdf(lo)  # (..., M)
    width = _normal_cdf(hi) - va  # (..., M) the component's mass in the column
    t, w = np.polynomial.legendre.leggauss(nodes)
    v = va[..., None] + width[..., None] * f64((1.0 + t) / 2.0)  # (..., M, Q)
    v = tf.clip_by_value(v, 1e-300, 1.0 - 1e-16)
    z = flip[..., None] * tf.math.ndtri(v)  # (..., M, Q) x in its std units
    s = sy * tf.sqrt(tf.maximum(1.0 - tf.square(r), 1e-12))  # (..., M) std of y given x
    m = my[..., None] + (r * sy)[..., None] * z  # (..., M, Q) mean of y given x
    a = (dy[..., None] - h - m) / s[..., None]
    b = (dy[..., None] + h - m) / s[..., None]
    g = tf.maximum(_cdf_difference(a, b), 0.0)  # (..., M, Q) y's mass in the cell given x
    inner = tf.reduce_sum(g * f64(w / 2.0), axis=-1)  # (..., M) the mean of g over the column
    log_mass = tf.math.log(tf.maximum(width * inner, 1e-300))  # (..., M)
    return tf.reduce_logsumexp(f64(log_pi) + log_mass, axis=-1)  # (...)


def offset_cell_log_prob_steps(target, params, half_width):
    """cell_log_prob of every step's offset (model outputs, as offset_nll_steps): float64 (B, T)."""
    return cell_log_prob(
        target[..., 0], target[..., 1], half_width,
        tf.nn.log_softmax(_f32(params["pi_logits"]), axis=-1), params["mu_x"], params["mu_y"],
        ops.exp(_f32(params["log_sigma_x"])), ops.exp(_f32(params["log_sigma_y"])), params["rho"])


def pen_nll_steps(target, pen_logits):
    """Pen-state cross-entropy -sum_k p_k log q_k at every step: (B, T)."""
    log_q = ops.log_softmax(_f32(pen_logits), axis=-1)
    return -ops.sum(_f32(target)[..., 2:5] * log_q, axis=-1)


def stroke_loss(target, lengths_or_mask, params, epsilon=1e-6):
    """L_s = -(1/N_max) sum_{i<=N_s} log(sum_j Pi_j N(dx_i, dy_i | ...) + eps), batch mean.

    Args:
        target: (B, T, 5) stroke-5 targets S_1..S_T (N_max = T).
        lengths_or_mask: (B,) real lengths N_s, or a (B, T) mask of real strokes.
        params: dict with pi_logits, mu_x, mu_y, log_sigma_x, log_sigma_y, rho (B, T, M).
        epsilon: added inside the log.

    Returns:
        float32 scalar.
    """
    nll = offset_nll_steps(target, params, epsilon)  # (B, T)
    mask = _mask(lengths_or_mask, ops.shape(target)[1])
    return ops.mean(nll * mask)


def pen_loss(target, pen_logits, mask=None):
    """L_p = -(1/N_max) sum_{i<=N_max} sum_k p_k,i log q_k,i, batch mean.

    Args:
        target: (B, T, 5) stroke-5 targets; the pen one-hot is target[..., 2:].
        pen_logits: (B, T, 3).
        mask: optional (B,) lengths or (B, T) mask; masked steps count as zero but N_max
            stays T (magenta's eval mode).

    Returns:
        float32 scalar.
    """
    ce = pen_nll_steps(target, pen_logits)  # (B, T)
    if mask is not None:
        ce = ce * _mask(mask, ops.shape(target)[1])
    return ops.mean(ce)


def sketch_nll(target, lengths, params, half_width=None):
    """Per-sketch negative log-likelihoods in nats (the `log_likelihood` export signature).

    Args:
        target: (B, T, 5) stroke-5 targets S_1..S_T with T > max(lengths): the end-of-sketch
            row (0, 0, 0, 0, 1) after each sketch's last real point is scored too.
        lengths: (B,) real points N per sketch.
        params: the decoder's outputs along the sketch (teacher forcing), (B, T, ...).

    Returns:
        dict of (B,) float32: nll_offsets, the mean over the N real points of
        -log sum_j Pi_j N(dx, dy) (exact: no epsilon, unlike L_s; 0 for an empty sketch);
        nll_pen, the mean pen cross-entropy over the N points and the end-of-sketch step;
        nll, their sum. Offsets are in the model's (normalised) units.
        With `half_width` (half a pixel in the model's units, for pixel data) also
        nll_offsets_discrete, the mean of -cell_log_prob over the points (nats per point as
        a probability of whole pixels: no normaliser enters it), and nll_discrete with the pen.
    """
    steps = ops.shape(target)[1]
    n = ops.cast(lengths, "float32")
    points = _mask(lengths, steps)  # (B, T)
    with_end = _mask(ops.cast(lengths, "int32") + 1, steps)  # (B, T)
    log_density = ops.where(points > 0, offset_log_density_steps(target, params), 0.0)
    offsets = -ops.sum(log_density, axis=1)
    offsets = ops.where(n > 0, offsets / ops.maximum(n, 1.0), 0.0)
    pen = ops.sum(pen_nll_steps(target, params["pen_logits"]) * with_end, axis=1) / (n + 1.0)
    out = {"nll_offsets": offsets, "nll_pen": pen, "nll": offsets + pen}
    if half_width is not None:
        log_cell = _f32(offset_cell_log_prob_steps(target, params, half_width))  # (B, T)
        cells = -ops.sum(ops.where(points > 0, log_cell, 0.0), axis=1)
        out["nll_offsets_discrete"] = ops.where(n > 0, cells / ops.maximum(n, 1.0), 0.0)
        out["nll_discrete"] = out["nll_offsets_discrete"] + pen
    return out


def kl_divergence(mu, presig):
    """Unfloored L_KL = -(1/(2 N_z)) sum(1 + presig - mu^2 - exp(presig)), batch mean."""
    mu, presig = _f32(mu), _f32(presig)
    return -0.5 * ops.mean(1.0 + presig - ops.square(mu) - ops.exp(presig))


def kl_loss(mu, presig, tolerance):
    """max(L_KL, tolerance) (the KL floor of eq. 10); use kl_divergence for the raw value."""
    return ops.maximum(kl_divergence(mu, presig), _f32(tolerance))


def kl_weight(step, start, maximum, decay_rate):
    """w_KL(step) = max - (max - start) * decay_rate**step, float32."""
    return _f32(maximum) - (_f32(maximum) - _f32(start)) * exponential_decay(step, decay_rate)


def compute_losses(outputs, batch, step, config, training=True):
    """All loss terms of one batch.

    Args:
        outputs: SketchRNN.call() output dict.
        batch: dict with strokes (B, T+1, 5) and lengths (B,).
        step: training step (for w_KL).
        config: SketchRNNConfig.
        training: when False and config.mask_pen_loss_in_eval, L_p only counts real steps.

    Returns:
        dict of float32 scalars: loss = L_R + w_KL * L_KL_floored, L_R = L_s + L_p, L_s,
        L_p, L_KL (unfloored, for logging), L_KL_floored, w_KL. Unconditional models:
        loss = L_R and the KL terms and w_KL are 0.
    """
    target = batch["strokes"][:, 1:]  # (B, T, 5)
    lengths = batch["lengths"]
    l_s = stroke_loss(target, lengths, outputs, epsilon=config.log_epsilon)
    pen_mask = None if training or not config.mask_pen_loss_in_eval else lengths
    l_p = pen_loss(target, outputs["pen_logits"], mask=pen_mask)
    l_r = l_s + l_p
    if config.conditional:
        l_kl = kl_divergence(outputs["mu"], outputs["presig"])
        l_kl_floored = ops.maximum(l_kl, _f32(config.kl_tolerance))
        w_kl = kl_weight(step, config.kl_weight_start, config.kl_weight, config.kl_decay_rate)
    else:
        l_kl = l_kl_floored = w_kl = _f32(0.0)
    return {"loss": l_r + w_kl * l_kl_floored, "L_R": l_r, "L_s": l_s, "L_p": l_p,
            "L_KL": l_kl, "L_KL_floored": l_kl_floored, "w_KL": w_kl}
