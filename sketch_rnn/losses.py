"""Sketch RNN losses (eqs. 6-10), the per-sketch likelihood and KL annealing: pure tensor functions."""

import math

import tensorflow as tf
from keras import ops

from common.training.schedules import exponential_decay
from sketch_rnn.pixel_cells import cell_log_prob


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
        dict of float32 scalars: loss = L_s + w_p * L_p + w_KL * L_KL_floored (w_p =
        config.pen_loss_weight, 1 in magenta), L_R = L_s + L_p (unweighted), L_s, L_p,
        L_KL (unfloored, for logging), L_KL_floored, w_KL. Unconditional models: the KL
        terms and w_KL are 0.
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
    l_trained = l_s + _f32(config.pen_loss_weight) * l_p  # = L_R exactly at magenta's w_p = 1.
    return {"loss": l_trained + w_kl * l_kl_floored, "L_R": l_r, "L_s": l_s, "L_p": l_p,
            "L_KL": l_kl, "L_KL_floored": l_kl_floored, "w_KL": w_kl}
