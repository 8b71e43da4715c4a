"""The fused recurrence (recurrent_scan) against autodiff, and the hashed dropout masks."""

import numpy as np
import pytest
import tensorflow as tf

from sketch_rnn.lstm import ln_lstm_pointwise, lstm_pointwise
from sketch_rnn.recurrence import hashed_keep_mask, recurrent_scan


def _reference_scan(pointwise, x, w_x, xp_seq, w_h, h0, c0, params, mult, lengths):
    """Plain autodiff loop of recurrent_scan; the final state is taken at each length."""
    hs, h, c, h_last, c_last = [], h0, c0, h0, c0
    for t in range(x.shape[0]):
        pre = x[t] @ w_x + xp_seq + h @ w_h
        h, c = pointwise(pre, c, None if mult is None else mult[t], params)
        at_end = (lengths - 1 == t)[:, None]
        h_last, c_last = tf.where(at_end, h, h_last), tf.where(at_end, c, c_last)
        hs.append(h)
    return tf.stack(hs), h_last, c_last


@pytest.mark.parametrize("kind,t,recompute,mode,hashed", [
    (kind, 6, recompute, mode, False)
    for kind, recompute in (("lstm", False), ("layer_norm", True))
    for mode in ("eager", "graph", "xla")] + [("lstm", 34, True, "graph", False),
                                              ("lstm", 6, False, "eager", True),
                                              ("lstm", 34, True, "graph", True),
                                              ("layer_norm", 6, True, "xla", True),
                                              ("lstm", 34, False, "xla", "no_lengths")])
def test_recurrent_scan_gradients_match_autodiff(kind, t, recompute, mode, hashed):
    # t=6 is one backward chunk of 6 steps, t=34 two chunks of 17: both check dw_h.
    # hashed: the masks come from hashed_keep_mask, re-derived in the backward pass;
    # "no_lengths": the fixed mask and lengths=None (every sequence ends at T - 1).
    rng = np.random.default_rng(7)
    b, x_size, h = 3, 4, 5

    def const(*shape):
        return tf.constant(rng.normal(scale=0.5, size=shape).astype("float32"))

    x, w_x, xp_seq = const(t, b, x_size), const(x_size, 4 * h), const(b, 4 * h)
    w_h = const(h, 4 * h)
    h0, c0 = const(b, h), const(b, h)
    if kind == "lstm":
        params = ()
        pointwise = lambda p, c, k, q: lstm_pointwise(p, c, k, q, 0.7)  # noqa: E731
    else:
        params = (1.0 + const(4 * h), const(4 * h), 1.0 + const(h), const(h))
        pointwise = lambda p, c, k, q: ln_lstm_pointwise(p, c, k, q, 0.7)  # noqa: E731
    mask = tf.constant(rng.random((t, b, h)) < 0.8)
    no_lengths = hashed == "no_lengths"
    hashed = hashed is True
    if hashed:  # Per-step masks from a function, re-derived in the backward pass.
        mask = hashed_keep_mask(tf.constant([5, 9]), b, h, 0.8)
    lengths = tf.constant([t, 2, 0], tf.int32)
    w_out, w_h_last, w_c_last = const(t, b, h), const(b, h), const(b, h)
    inputs = [x, w_x, xp_seq, w_h, h0, c0, *params]

    def fused(*args):
        return recurrent_scan(pointwise, *args[:6], args[6:], mask, 0.8,
                                     None if no_lengths else lengths, recompute=recompute)

    def reference(*args):
        full = tf.stack([mask(i) for i in range(t)]) if hashed else mask  # (T, B, H)
        mult = tf.cast(full, tf.float32) / 0.8
        return _reference_scan(pointwise, *args[:6], args[6:], mult,
                               tf.fill([b], t) if no_lengths else lengths)

    def grads(fn):
        def run(*args):
            with tf.GradientTape() as tape:
                tape.watch(list(args))
                hs, h_last, c_last = fn(*args)
                value = (tf.reduce_sum(hs * w_out) + tf.reduce_sum(h_last * w_h_last)
                         + tf.reduce_sum(c_last * w_c_last))
            return [value, hs, h_last, c_last] + tape.gradient(value, list(args))
        if mode != "eager":
            run = tf.function(run, jit_compile=mode == "xla")
        return run(*inputs)

    got, want = grads(fused), grads(reference)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_hashed_keep_mask_rate_determinism_and_independence():
    keep = hashed_keep_mask(tf.constant([3, 5]), 100, 512, 0.9)
    eager = np.stack([keep(t).numpy() for t in range(12)])  # (T, B, H)
    xla = tf.function(lambda t: keep(t), jit_compile=True)
    np.testing.assert_array_equal(eager, np.stack([xla(tf.constant(t)) for t in range(12)]))
    assert abs(eager.mean() - 0.9) < 0.002  # 614,400 draws: std 0.0004.
    corr = np.corrcoef(eager.reshape(12, -1).astype(float))
    assert np.abs(corr - np.eye(12)).max() < 0.03  # Steps are uncorrelated (std 0.0044).
    other = hashed_keep_mask(tf.constant([3, 6]), 100, 512, 0.9)(0).numpy()
    assert abs(np.corrcoef(other.ravel(), eager[0].ravel())[0, 1]) < 0.03
    assert not np.array_equal(other, eager[0])
    rows = eager.mean(axis=(0, 2))  # Each batch row gets its own draws.
    assert rows.min() > 0.88 and rows.max() < 0.92
    half = hashed_keep_mask(tf.constant([0, 0]), 64, 64, 0.5)
    assert abs(np.mean([half(t).numpy().mean() for t in range(40)]) - 0.5) < 0.005
    assert hashed_keep_mask(tf.constant([1, 2]), 4, 8, 1.0)(3).numpy().all()
