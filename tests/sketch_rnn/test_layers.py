"""LSTM / LayerNorm LSTM cells and the MDN head against numpy re-implementations."""

import numpy as np
import pytest
import tensorflow as tf

from sketch_rnn import layers
from tests.layer_testing import run_layer_test


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_layer_norm(x, gamma, beta, num_blocks, eps=1e-3):
    b = x.shape[0]
    xr = x.reshape(b, num_blocks, -1)
    mean = xr.mean(-1, keepdims=True)
    var = ((xr - mean) ** 2).mean(-1, keepdims=True)
    return ((xr - mean) / np.sqrt(var + eps)).reshape(b, -1) * gamma + beta


def np_lstm_step(cell, x, h, c):
    gates = np.concatenate([x, h], 1) @ cell.kernel.numpy() + cell.bias.numpy()
    i, j, f, o = np.split(gates, 4, 1)
    new_c = c * sigmoid(f + cell.forget_bias) + sigmoid(i) * np.tanh(j)
    return np.tanh(new_c) * sigmoid(o), new_c


def np_ln_lstm_step(cell, x, h, c):
    gates = np_layer_norm(np.concatenate([x, h], 1) @ cell.kernel.numpy(), cell.ln_gamma.numpy(),
                          cell.ln_beta.numpy(), 4)
    i, j, f, o = np.split(gates, 4, 1)
    new_c = c * sigmoid(f + cell.forget_bias) + sigmoid(i) * np.tanh(j)
    ln_c = np_layer_norm(new_c, cell.ln_c_gamma.numpy(), cell.ln_c_beta.numpy(), 1)
    return np.tanh(ln_c) * sigmoid(o), new_c


def _randomise(layer, rng):
    for w in layer.weights:
        w.assign(rng.normal(scale=0.5, size=w.shape).astype("float32"))


def _inputs(rng, b=3, x=5, h=6):
    return (rng.normal(size=(b, x)).astype("float32"), rng.normal(size=(b, h)).astype("float32"),
            rng.normal(size=(b, h)).astype("float32"))


@pytest.mark.parametrize("cls,ref", [(layers.LSTMCell, np_lstm_step),
                                     (layers.LayerNormLSTMCell, np_ln_lstm_step)])
def test_cell_step_matches_numpy(cls, ref):
    rng = np.random.default_rng(0)
    cell = cls(6, forget_bias=0.7)
    cell.build((None, 5))
    _randomise(cell, rng)
    x, h, c = _inputs(rng)
    out, (new_h, new_c) = cell(x, [h, c], training=False)
    want_h, want_c = ref(cell, x, h, c)
    np.testing.assert_allclose(new_c, want_c, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(new_h, want_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out, new_h)
    assert cell.state_size == [6, 6] and cell.output_size == 6


@pytest.mark.parametrize("cls", [layers.LSTMCell, layers.LayerNormLSTMCell])
def test_recurrent_dropout_only_on_g_when_training(cls):
    rng = np.random.default_rng(1)
    keep = 0.5
    cell = cls(64, recurrent_dropout_keep=keep, seed=3)
    cell.build((None, 5))
    x, h, c = _inputs(rng, b=4, h=64)
    _, (_, c_eval) = cell(x, [h, c], training=False)
    _, (_, c_train) = cell(x, [h, c], training=True)
    # Recover g from c' = c * sigmoid(f + fb) + sigmoid(i) * g.
    gates = np.concatenate([x, h], 1) @ cell.kernel.numpy()
    if cls is layers.LSTMCell:
        gates = gates + cell.bias.numpy()
    else:
        gates = np_layer_norm(gates, cell.ln_gamma.numpy(), cell.ln_beta.numpy(), 4)
    i, j, f, _ = np.split(gates, 4, 1)
    keep_c = c * sigmoid(f + cell.forget_bias)
    g_eval = (np.asarray(c_eval) - keep_c) / sigmoid(i)
    g_train = (np.asarray(c_train) - keep_c) / sigmoid(i)
    np.testing.assert_allclose(g_eval, np.tanh(j), atol=1e-4)
    dropped = np.isclose(g_train, 0.0, atol=1e-4)
    np.testing.assert_allclose(g_train[~dropped], np.tanh(j)[~dropped] / keep, atol=1e-3)
    assert 0.3 < dropped.mean() < 0.7


def test_block_orthogonal_blocks_are_orthogonal():
    w = np.asarray(layers.BlockOrthogonal(4, seed=1)((6, 24)))
    for k in range(4):
        block = w[:, 6 * k:6 * (k + 1)]
        np.testing.assert_allclose(block.T @ block, np.eye(6), atol=1e-5)
    fused = np.asarray(layers.FusedLSTMKernel(5, seed=2)((11, 24)))
    limit = np.sqrt(6.0 / (5 + 24))  # Glorot uniform W_xh rows.
    assert np.all(np.abs(fused[:5]) <= limit) and fused[:5].std() > limit / 4
    for k in range(4):
        block = fused[5:, 6 * k:6 * (k + 1)]
        np.testing.assert_allclose(block.T @ block, np.eye(6), atol=1e-5)


def test_cell_kernel_init_is_fused_and_bias_zero():
    cell = layers.LSTMCell(6)
    cell.build((None, 5))
    assert tuple(cell.kernel.shape) == (11, 24)
    np.testing.assert_array_equal(cell.bias.numpy(), 0.0)
    rec = cell.kernel.numpy()[5:, :6]
    np.testing.assert_allclose(rec.T @ rec, np.eye(6), atol=1e-5)


@pytest.mark.parametrize("cls", [layers.LSTMCell, layers.LayerNormLSTMCell])
def test_cell_layer_checks(cls, tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    run_layer_test(lambda: cls(5, recurrent_dropout_keep=0.9, seed=1), x, (2, 4, 5), tmp_path)


def test_make_cell_kinds():
    assert isinstance(layers.make_cell("lstm", 4), layers.LSTMCell)
    assert isinstance(layers.make_cell("layer_norm", 4), layers.LayerNormLSTMCell)
    from sketch_rnn.hyper_lstm import HyperLSTMCell
    cell = layers.make_cell("hyper", 4, hyper_num_units=3, hyper_embedding_size=2)
    assert isinstance(cell, HyperLSTMCell) and cell.state_size == [4, 3, 4, 3]
    with pytest.raises(ValueError, match="gru"):
        layers.make_cell("gru", 4)
    with pytest.raises(ValueError, match="recurrent_dropout_keep"):
        layers.make_cell("lstm", 4, recurrent_dropout_keep=0.0)


def test_mdn_head_layout_and_layer_checks(tmp_path):
    m = 3
    raw = np.arange(2 * (6 * m + 3), dtype="float32").reshape(2, -1) / 10.0
    p = layers.split_mixture_params(raw, m)
    np.testing.assert_allclose(p["pen_logits"], raw[:, :3])
    for k, key in enumerate(["pi_logits", "mu_x", "mu_y", "log_sigma_x", "log_sigma_y"]):
        np.testing.assert_allclose(p[key], raw[:, 3 + k * m:3 + (k + 1) * m])
    np.testing.assert_allclose(p["rho"], np.tanh(raw[:, 3 + 5 * m:]), rtol=1e-6)
    assert layers.mdn_output_size(m) == 21
    x = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
    run_layer_test(lambda: layers.MixtureDensityHead(m), x, (2, 4, 21), tmp_path)


# ------------------------------------------------------------------ fused sequence scan

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
        pointwise = lambda p, c, k, q: layers.lstm_pointwise(p, c, k, q, 0.7)  # noqa: E731
    else:
        params = (1.0 + const(4 * h), const(4 * h), 1.0 + const(h), const(h))
        pointwise = lambda p, c, k, q: layers.ln_lstm_pointwise(p, c, k, q, 0.7)  # noqa: E731
    mask = tf.constant(rng.random((t, b, h)) < 0.8)
    no_lengths = hashed == "no_lengths"
    hashed = hashed is True
    if hashed:  # Per-step masks from a function, re-derived in the backward pass.
        mask = layers.hashed_keep_mask(tf.constant([5, 9]), b, h, 0.8)
    lengths = tf.constant([t, 2, 0], tf.int32)
    w_out, w_h_last, w_c_last = const(t, b, h), const(b, h), const(b, h)
    inputs = [x, w_x, xp_seq, w_h, h0, c0, *params]

    def fused(*args):
        return layers.recurrent_scan(pointwise, *args[:6], args[6:], mask, 0.8,
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


@pytest.mark.parametrize("cls", [layers.LSTMCell, layers.LayerNormLSTMCell])
def test_run_sequence_matches_cell_steps(cls):
    rng = np.random.default_rng(8)
    cell = cls(6, forget_bias=0.7)
    cell.build((None, 4 + 3))  # Step inputs (4) then constants (3).
    _randomise(cell, rng)
    x = rng.normal(size=(5, 2, 4)).astype("float32")
    z = rng.normal(size=(2, 3)).astype("float32")
    h, c = rng.normal(size=(2, 2, 6)).astype("float32")
    out, (h_last, c_last) = cell.run_sequence(x, [h, c], constants=z)
    _, held = cell.run_sequence(x, [h, c], constants=z, lengths=[2, 5], return_sequence=False)
    states = [h, c]
    for t in range(5):
        step, states = cell(np.concatenate([x[t], z], 1), states)
        np.testing.assert_allclose(out[t], step, rtol=1e-5, atol=1e-5)
        if t == 1:
            np.testing.assert_allclose(held[1][0], states[1][0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h_last, states[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c_last, states[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(held[0][1], states[0][1], rtol=1e-5, atol=1e-5)


def test_hashed_keep_mask_rate_determinism_and_independence():
    keep = layers.hashed_keep_mask(tf.constant([3, 5]), 100, 512, 0.9)
    eager = np.stack([keep(t).numpy() for t in range(12)])  # (T, B, H)
    xla = tf.function(lambda t: keep(t), jit_compile=True)
    np.testing.assert_array_equal(eager, np.stack([xla(tf.constant(t)) for t in range(12)]))
    assert abs(eager.mean() - 0.9) < 0.002  # 614,400 draws: std 0.0004.
    corr = np.corrcoef(eager.reshape(12, -1).astype(float))
    assert np.abs(corr - np.eye(12)).max() < 0.03  # Steps are uncorrelated (std 0.0044).
    other = layers.hashed_keep_mask(tf.constant([3, 6]), 100, 512, 0.9)(0).numpy()
    assert abs(np.corrcoef(other.ravel(), eager[0].ravel())[0, 1]) < 0.03
    assert not np.array_equal(other, eager[0])
    rows = eager.mean(axis=(0, 2))  # Each batch row gets its own draws.
    assert rows.min() > 0.88 and rows.max() < 0.92
    half = layers.hashed_keep_mask(tf.constant([0, 0]), 64, 64, 0.5)
    assert abs(np.mean([half(t).numpy().mean() for t in range(40)]) - 0.5) < 0.005
    assert layers.hashed_keep_mask(tf.constant([1, 2]), 4, 8, 1.0)(3).numpy().all()


def test_run_sequence_dropout_mask_only_when_training():
    cell = layers.LSTMCell(8, recurrent_dropout_keep=0.5, seed=4)
    cell.build((None, 3))
    x = np.random.default_rng(9).normal(size=(4, 2, 3)).astype("float32")
    zeros = [np.zeros((2, 8), np.float32)] * 2
    a = cell.run_sequence(x, zeros, training=True)[0]
    b = cell.run_sequence(x, zeros, training=True)[0]
    c = cell.run_sequence(x, zeros, training=False)[0]
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(c, cell.run_sequence(x, zeros)[0])


@pytest.fixture
def bf16_matmuls():
    layers.set_matmul_dtype("bfloat16")
    yield
    layers.set_matmul_dtype("float32")


@pytest.mark.parametrize("jit", [False, True])
def test_bf16_matmul_is_fp32_accumulated(bf16_matmuls, jit):
    rng = np.random.default_rng(10)
    a = rng.normal(size=(8, 300)).astype("float32")
    b = rng.normal(size=(300, 6)).astype("float32")
    got = tf.function(lambda a, b: layers.matmul(a, b), jit_compile=jit)(a, b)
    got_t = tf.function(lambda a_t, b: layers.matmul(a_t, b, transpose_a=True),
                        jit_compile=jit)(np.ascontiguousarray(a.T), b)
    assert got.dtype == tf.float32
    want = (a.astype(tf.bfloat16.as_numpy_dtype).astype(np.float64)
            @ b.astype(tf.bfloat16.as_numpy_dtype).astype(np.float64))
    # Under XLA only the inputs round; oneDNN (no XLA) also rounds the result to bf16.
    rtol = 1e-4 if jit else 8e-3
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-3)
    np.testing.assert_allclose(got_t, want, rtol=rtol, atol=1e-3)
    with pytest.raises(ValueError, match="float16"):
        layers.set_matmul_dtype("float16")


def test_auto_matmul_dtype_follows_the_hardware(tmp_path, monkeypatch):
    # A CPU without bf16 matmuls (AVX-512 Xeon, measured slower in bf16) gets fp32.
    xeon = "avx2 fma avx512f avx512bw avx512_vnni"
    assert not layers.native_bf16(xeon.split())
    assert layers.native_bf16((xeon + " avx512_bf16").split())
    assert layers.native_bf16("amx_bf16 amx_tile".split())
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor : 0\nflags\t\t: {xeon} avx512_bf16\n\nprocessor : 1\n")
    assert "avx512_bf16" in layers._cpu_flags(str(info))
    assert layers._cpu_flags(str(tmp_path / "missing")) == set()
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    for flags, want in ((xeon, "float32"), (xeon + " avx512_bf16", "bfloat16")):
        monkeypatch.setattr(layers, "_cpu_flags", lambda flags=flags: set(flags.split()))
        assert layers.resolve_matmul_dtype("auto") == want
        try:
            assert layers.set_matmul_dtype("auto") == want
            assert layers.get_matmul_dtype() == want
        finally:
            layers.set_matmul_dtype("float32")
    assert layers.resolve_matmul_dtype("bfloat16") == "bfloat16"
    with pytest.raises(ValueError, match="float16"):
        layers.resolve_matmul_dtype("float16")


def test_bf16_sequence_close_to_fp32(bf16_matmuls):
    rng = np.random.default_rng(11)
    cell = layers.LayerNormLSTMCell(16)
    cell.build((None, 5))
    x = rng.normal(size=(10, 4, 5)).astype("float32")
    zeros = [np.zeros((4, 16), np.float32)] * 2
    got = cell.run_sequence(x, zeros)[0]
    layers.set_matmul_dtype("float32")
    want = cell.run_sequence(x, zeros)[0]
    np.testing.assert_allclose(got, want, atol=3e-2)
    assert not np.array_equal(got, want)


def test_bf16_scan_gradients_close_to_fp32(bf16_matmuls):
    rng = np.random.default_rng(12)
    cell = layers.LSTMCell(16, recurrent_dropout_keep=0.9, seed=3)
    cell.build((None, 5))
    x = tf.constant(rng.normal(size=(12, 4, 5)).astype("float32"))
    zeros = [tf.zeros((4, 16))] * 2

    @tf.function(jit_compile=True)
    def grads(x):
        with tf.GradientTape() as tape:
            out, (h, c) = cell.run_sequence(x, zeros)
            loss = tf.reduce_sum(tf.sin(out)) + tf.reduce_sum(c)
        return tape.gradient(loss, cell.trainable_variables)

    got = grads(x)
    layers.set_matmul_dtype("float32")
    want = tf.function(grads.python_function, jit_compile=True)(x)
    for g, w in zip(got, want):
        rel = np.linalg.norm(g - w) / np.linalg.norm(w)
        assert 0 < rel < 0.03, rel


@pytest.mark.parametrize("transpose_a,transpose_b", [(False, False), (True, False),
                                                     (False, True), (True, True)])
def test_bf16_matmul_gradients(bf16_matmuls, transpose_a, transpose_b):
    rng = np.random.default_rng(13)
    a = tf.constant(rng.normal(size=(6, 7) if transpose_a else (7, 6)).astype("float32"))
    b = tf.constant(rng.normal(size=(5, 6) if transpose_b else (6, 5)).astype("float32"))
    w = tf.constant(rng.normal(size=(7, 5)).astype("float32"))

    def grads(fn):
        with tf.GradientTape() as tape:
            tape.watch([a, b])
            loss = tf.reduce_sum(fn(a, b, transpose_a=transpose_a, transpose_b=transpose_b) * w)
        return tape.gradient(loss, [a, b])

    got = grads(layers.matmul)
    want = grads(tf.linalg.matmul)
    for g, v in zip(got, want):
        np.testing.assert_allclose(g, v, rtol=2e-2, atol=5e-2)
