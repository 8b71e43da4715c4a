"""Gram matrices against a numpy reference."""

import numpy as np

from wae_style import gram


def test_gram_matches_numpy():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(3, 5, 7, 4)).astype("float32")
    want = np.einsum("bhwi,bhwj->bij", f, f) / (5 * 7)
    got = np.asarray(gram.gram_matrix(f))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert got.shape == (3, 4, 4)
    np.testing.assert_allclose(got, np.transpose(got, (0, 2, 1)), atol=1e-6)


def test_gram_gradient_matches_autodiff():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    f = tf.constant(rng.normal(size=(2, 3, 5, 4)).astype("float32"))
    w = tf.constant(rng.normal(size=(2, 4, 4)).astype("float32"))  # Not symmetric.
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(f)
        got = tf.reduce_sum(gram.gram_matrix(f) * w)
        want = tf.reduce_sum(tf.einsum("bhwi,bhwj->bij", f, f) / 15.0 * w)
    np.testing.assert_allclose(tape.gradient(got, f).numpy(), tape.gradient(want, f).numpy(),
                               rtol=1e-5, atol=1e-5)
    low = tf.cast(f, tf.bfloat16)  # bf16 features: a float32 Gram, a bf16 gradient.
    with tf.GradientTape() as tape:
        tape.watch(low)
        g = gram.gram_matrix(low)
        loss = tf.reduce_sum(g * w)
    assert g.dtype == tf.float32 and tape.gradient(loss, low).dtype == tf.bfloat16
