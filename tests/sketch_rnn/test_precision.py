"""Matmul precision per model: bf16 / fp32 matmuls, "auto", and models of two precisions in one process."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from common import hardware
from sketch_rnn import configs, losses, precision
from sketch_rnn.configs import SketchRNNConfig
from sketch_rnn.lstm import LayerNormLSTMCell, LSTMCell
from sketch_rnn.model import SketchRNN
from tests.support.models import make_batch
from tests.support.precision import fake_machine, inject_decision


def _bf16_round(x):
    return x.astype(tf.bfloat16.as_numpy_dtype).astype(np.float64)


@pytest.mark.parametrize("jit", [False, True])
def test_bf16_matmul_is_fp32_accumulated(jit):
    rng = np.random.default_rng(10)
    a = rng.normal(size=(8, 300)).astype("float32")
    b = rng.normal(size=(300, 6)).astype("float32")
    got = tf.function(lambda a, b: precision.matmul(a, b, "bfloat16"), jit_compile=jit)(a, b)
    got_t = tf.function(lambda a_t, b: precision.matmul(a_t, b, "bfloat16", transpose_a=True),
                        jit_compile=jit)(np.ascontiguousarray(a.T), b)
    assert got.dtype == tf.float32
    want = _bf16_round(a) @ _bf16_round(b)
    # Under XLA only the inputs round; oneDNN (no XLA) also rounds the result to bf16.
    rtol = 1e-4 if jit else 8e-3
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-3)
    np.testing.assert_allclose(got_t, want, rtol=rtol, atol=1e-3)
    fp32 = precision.matmul(a, b, "float32")
    np.testing.assert_allclose(fp32, a.astype(np.float64) @ b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("transpose_a,transpose_b", [(False, False), (True, False),
                                                     (False, True), (True, True)])
def test_bf16_matmul_gradients(transpose_a, transpose_b):
    rng = np.random.default_rng(13)
    a = tf.constant(rng.normal(size=(6, 7) if transpose_a else (7, 6)).astype("float32"))
    b = tf.constant(rng.normal(size=(5, 6) if transpose_b else (6, 5)).astype("float32"))
    w = tf.constant(rng.normal(size=(7, 5)).astype("float32"))

    def grads(fn):
        with tf.GradientTape() as tape:
            tape.watch([a, b])
            loss = tf.reduce_sum(fn(a, b, transpose_a=transpose_a, transpose_b=transpose_b) * w)
        return tape.gradient(loss, [a, b])

    got = grads(lambda a, b, **kw: precision.matmul(a, b, "bfloat16", **kw))
    want = grads(tf.linalg.matmul)
    for g, v in zip(got, want):
        np.testing.assert_allclose(g, v, rtol=2e-2, atol=5e-2)


def test_auto_matmul_dtype_is_measured_unless_set(tmp_path, monkeypatch):
    # A CPU without bf16 matmuls (AVX-512 Xeon) emulates them: fp32, nothing timed.
    xeon = "avx2 fma avx512f avx512bw avx512_vnni"
    assert not hardware.native_bf16(xeon.split())
    assert hardware.native_bf16((xeon + " avx512_bf16").split())
    assert hardware.native_bf16("amx_bf16 amx_tile".split())
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor : 0\nflags\t\t: {xeon} avx512_bf16\n\nprocessor : 1\n")
    assert "avx512_bf16" in hardware.cpu_flags(str(info))
    assert hardware.cpu_flags(str(tmp_path / "missing")) == set()
    # With the flag, the faster one as measured (the timings injected here); a bf16 flag on
    # a machine where bf16 is the slow one (an avx512_bf16 Xeon without AMX) gives fp32.
    for flags, seconds, want in (
            (xeon, {}, "float32"),
            (xeon + " avx512_bf16", {"float32": 2.6e-3, "bfloat16": 1.9e-3}, "bfloat16"),
            (xeon + " avx512_bf16", {"float32": 1.9e-3, "bfloat16": 2.6e-3}, "float32")):
        calls = fake_machine(monkeypatch, tmp_path / want, seconds, set(flags.split()))
        assert configs.resolve_matmul_dtype("auto") == want
        # Resolved once, when the config is built; the layers get the resolved value.
        config = dataclasses.replace(SketchRNNConfig.testing(), matmul_dtype="auto")
        assert config.matmul_dtype == want
        assert config.to_dict()["matmul_dtype"] == want
        assert LSTMCell(4, matmul_dtype="auto").get_config()["matmul_dtype"] == want
        # Timed: the testing config's shapes and the default shapes of a lone cell.
        shapes = set(configs.matmul_shapes(config)) | set(configs.matmul_shapes(SketchRNNConfig))
        assert {c[1] for c in calls} == (shapes if seconds else set())
    calls = fake_machine(monkeypatch, tmp_path, {})  # An explicit dtype is never timed.
    assert configs.resolve_matmul_dtype("bfloat16") == "bfloat16"
    assert SketchRNNConfig(matmul_dtype="float32").matmul_dtype == "float32"
    assert LSTMCell(4, matmul_dtype="bfloat16").matmul_dtype == "bfloat16"
    assert calls == []
    with pytest.raises(ValueError, match="float16"):
        configs.resolve_matmul_dtype("float16")
    with pytest.raises(ValueError, match="float16"):
        LSTMCell(4, matmul_dtype="float16")


def _twin_cells(cls, **kwargs):
    """The same cell (same weights) in fp32 and in bf16."""
    fp32 = cls(16, matmul_dtype="float32", **kwargs)
    bf16 = cls(16, matmul_dtype="bfloat16", **kwargs)
    for cell in (fp32, bf16):
        cell.build((None, 5))
    bf16.set_weights(fp32.get_weights())
    return fp32, bf16


def test_bf16_sequence_close_to_fp32():
    rng = np.random.default_rng(11)
    fp32, bf16 = _twin_cells(LayerNormLSTMCell)
    x = rng.normal(size=(10, 4, 5)).astype("float32")
    zeros = [np.zeros((4, 16), np.float32)] * 2
    got, want = bf16.run_sequence(x, zeros)[0], fp32.run_sequence(x, zeros)[0]
    np.testing.assert_allclose(got, want, atol=3e-2)
    assert not np.array_equal(got, want)


def test_bf16_scan_gradients_close_to_fp32():
    rng = np.random.default_rng(12)
    fp32, bf16 = _twin_cells(LSTMCell, recurrent_dropout_keep=0.9, seed=3)
    x = tf.constant(rng.normal(size=(12, 4, 5)).astype("float32"))
    zeros = [tf.zeros((4, 16))] * 2

    def grads(cell):
        @tf.function(jit_compile=True)
        def run(x):
            with tf.GradientTape() as tape:
                out, (h, c) = cell.run_sequence(x, zeros)
                loss = tf.reduce_sum(tf.sin(out)) + tf.reduce_sum(c)
            return tape.gradient(loss, cell.trainable_variables)
        return run(x)

    got, want = grads(bf16), grads(fp32)
    for g, w in zip(got, want):
        rel = np.linalg.norm(g - w) / np.linalg.norm(w)
        assert 0 < rel < 0.03, rel


def _model(dtype, kind="lstm"):
    config = dataclasses.replace(SketchRNNConfig.testing(), matmul_dtype=dtype, enc_model=kind,
                                 dec_model=kind, seed=3)
    return SketchRNN(config)


@pytest.mark.parametrize("kind", ["lstm", "hyper"])
def test_two_models_keep_their_own_precision(kind):
    batch = make_batch(SketchRNNConfig.testing(), [32, 9, 17])
    first = _model("float32", kind)
    before = first(batch)["mu_x"].numpy()
    second = _model("bfloat16", kind)  # Built after: must not change the first model.
    second.set_weights(first.get_weights())
    run = tf.function(lambda m: m(batch)["mu_x"])  # Traced now, after both were built.
    np.testing.assert_allclose(run(first), before, rtol=1e-5, atol=1e-6)  # Graph vs eager.
    low = run(second).numpy()
    assert np.abs(low - before).max() > 1e-4  # bf16 rounding shows.
    np.testing.assert_allclose(low, before, atol=0.05)
    # Every layer carries its own dtype, in its config too.
    for model, want in ((first, "float32"), (second, "bfloat16")):
        cells = [model.dec_cell, model.enc_fw.cell, model.enc_bw.cell]
        if kind == "hyper":
            cells += [cell.hyper_cell for cell in cells]
        for layer in cells:
            assert layer.matmul_dtype == want and layer.get_config()["matmul_dtype"] == want
        assert model.head.get_config()["matmul_dtype"] == "float32"  # The head always is.
    # A third fp32 model built last gives the first model's exact outputs.
    third = _model("float32", kind)
    third.set_weights(first.get_weights())
    np.testing.assert_allclose(run(third), before, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "auto"])
def test_xla_train_step_in_each_precision(dtype, monkeypatch):
    # Forces each path: bf16 runs natively on bf16 hardware (avx512_bf16 / AMX) and is
    # emulated elsewhere; "auto" is decided here as bf16 (the probe is tested on its own).
    inject_decision(monkeypatch, "bfloat16")
    want = {"auto": "bfloat16"}.get(dtype, dtype)
    reference = _model("float32")
    model = _model(dtype)
    model.set_weights(reference.get_weights())
    assert model.config.matmul_dtype == want
    batch = make_batch(model.config, [32, 9, 17])
    step = tf.Variable(0, dtype=tf.int64)

    def grads(m):
        @tf.function(jit_compile=True)
        def run():
            with tf.GradientTape() as tape:
                loss = losses.compute_losses(m(batch, training=False), batch, step,
                                             m.config)["loss"]
            return loss, tape.gradient(loss, m.trainable_variables)
        return run()

    (loss, got), (loss_ref, ref) = grads(model), grads(reference)
    if want == "float32":
        np.testing.assert_allclose(loss, loss_ref, rtol=1e-5)
    else:
        assert loss != loss_ref
        np.testing.assert_allclose(loss, loss_ref, rtol=2e-2)
    for g, r in zip(got, ref):
        g, r = np.asarray(g), np.asarray(r)
        assert np.isfinite(g).all()
        assert np.linalg.norm(g - r) <= 0.05 * np.linalg.norm(r) + 1e-6


def test_mixture_head_stays_fp32_and_exports_compute_in_fp32(tmp_path):
    from sketch_rnn import export as export_lib
    config = dataclasses.replace(SketchRNNConfig.testing(), matmul_dtype="bfloat16",
                                 init_stddev=0.3, seed=5)
    low = SketchRNN(config)
    assert low.dec_cell.matmul_dtype == "bfloat16" and low.head.matmul_dtype == "float32"
    info = {"scale_factor": 2.0, "class_names": ["a"]}
    export_lib.export(low, config, info, tmp_path / "export")
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    assert json.loads(loaded.metadata()["json"].numpy())["config"]["matmul_dtype"] == "float32"
    rng = np.random.default_rng(0)
    strokes = np.concatenate([rng.normal(0, 2, (3, 20, 2)),
                              (rng.random((3, 20, 1)) < 0.2)], -1).astype(np.float32)
    lengths = tf.constant([20, 7, 13], tf.int32)
    got = loaded.log_likelihood(strokes=tf.constant(strokes), lengths=lengths)["nll"].numpy()
    exact, _ = export_lib.fp32_copy(low, config)
    assert exact is not low and exact.dec_cell.matmul_dtype == "float32"
    want = export_lib.SketchRNNExport(exact, exact.config, info).log_likelihood(
        tf.constant(strokes), lengths)["nll"].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # The copy really changed the precision: the bf16 model's mixture differs.
    mixture = {m: export_lib.SketchRNNExport(m, m.config, info).mixture(
        tf.constant(strokes), lengths)["mu_x"].numpy() for m in (low, exact)}
    np.testing.assert_allclose(loaded.mixture(strokes=tf.constant(strokes), lengths=lengths)[
        "mu_x"].numpy(), mixture[exact], rtol=1e-5, atol=1e-5)
    assert np.abs(mixture[low] - mixture[exact]).max() > 3e-5  # fp32 paths agree to ~1e-7.


def test_validation_of_a_bf16_model_runs_in_fp32_on_its_current_weights():
    from sketch_rnn import data
    from sketch_rnn import export as export_lib
    from sketch_rnn import train
    config = dataclasses.replace(SketchRNNConfig.testing(), matmul_dtype="bfloat16",
                                 init_stddev=0.3, seed=5)
    strategy = tf.distribute.get_strategy()
    low, step, _ = train.build(config, strategy)
    splits = train.load_data(config)
    pipeline = data.eval_pipeline(splits, config)
    evaluate = train.make_evaluate(low, step, config, pipeline)
    exact, exact_config = export_lib.fp32_copy(low, config)
    want = train.make_evaluate(exact, step, exact_config, pipeline)(0)
    got = evaluate(0)
    for k in ("L_s", "nll_offsets", "nll"):
        assert got[k] == pytest.approx(want[k], rel=1e-6)
    low.head.bias.assign(low.head.bias + 0.5)  # Training moves the weights: validation follows.
    moved, _ = export_lib.fp32_copy(low, config)
    want = train.make_evaluate(moved, step, exact_config, pipeline)(0)
    assert evaluate(0)["nll"] == pytest.approx(want["nll"], rel=1e-6) != got["nll"]
