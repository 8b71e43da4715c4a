"""The probability of whole-pixel offsets: a bivariate normal mixture's mass over each pixel cell."""

import math

import numpy as np
import tensorflow as tf


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
