"""Sketch RNN trainer: one-step run and its artefacts, exact resume, guards, strategies, export."""

import dataclasses
import json
import os
import re
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from sketch_rnn import configs
from sketch_rnn import train
from tests.support import trainers

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(**kw):
    return dataclasses.replace(configs.SketchRNNConfig.testing(), **kw)


def _restored(config, workdir):
    """(model, step) built for config with the run's latest checkpoint restored."""
    model, step, optimizer = train.build(config, tf.distribute.get_strategy())
    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    ckpt.restore(tf.train.latest_checkpoint(str(workdir / "checkpoints"))).expect_partial()
    return model, step


@pytest.fixture(scope="module")
def one_step_run(tmp_path_factory):
    return trainers.one_step_run(train.train_and_evaluate, _config(), tmp_path_factory,
                                 "sketch_one_step")[:2]


def test_one_step_writes_checkpoint_events_export(one_step_run):
    config, workdir = one_step_run
    trainers.check_run_artefacts(workdir, config)
    assert {"loss", "L_R", "L_s", "L_p", "L_KL", "lr", "grad_norm"} <= trainers.summary_tags(
        workdir, "train")


def test_export_matches_in_process_model(one_step_run):
    from sketch_rnn import export as export_lib
    from sketch_rnn import sample as sample_lib
    config, workdir = one_step_run
    loaded = tf.saved_model.load(str(workdir / "export"))
    model, step = _restored(config, workdir)
    info = json.loads((workdir / "data.json").read_text())
    scale = info["scale_factor"]
    got = loaded.sample(n=3, temperature=0.7, seed=5, max_len=20)
    s5, lengths = sample_lib.sample(model, 3, 0.7, 5, 20)
    want = export_lib.stroke5_to_stroke3(s5, lengths, scale)
    np.testing.assert_array_equal(got["lengths"].numpy(), lengths.numpy())
    np.testing.assert_allclose(got["strokes"].numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


def test_validation_nll_is_the_log_likelihood_signature_averaged_over_sketches(one_step_run):
    from sketch_rnn import data
    config, workdir = one_step_run
    loaded = tf.saved_model.load(str(workdir / "export"))
    model, step = _restored(config, workdir)
    splits = train.load_data(config)
    odd = dataclasses.replace(config, batch_size=7)
    got = train.make_evaluate(model, step, config, data.eval_pipeline(splits, odd))(1)
    sketches = splits.valid or splits.train
    assert len(sketches) % odd.batch_size != 0  # The padded last batch's copies are left out.
    assert max(len(s) for s in sketches) == config.max_seq_len  # Its end step is scored too.
    want = _export_nll(loaded, sketches, splits.scale_factor)
    for k in ("nll_offsets", "nll_pen", "nll"):
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5)
    assert {"nll_offsets", "nll_pen", "nll"} <= trainers.summary_tags(workdir, "valid")


def test_validation_pen_loss_is_the_training_mode_value(one_step_run):
    """Validation L_p counts every step up to N_max, as in training (unlike magenta's eval model,
    which masks the steps after each sketch's end; `compute_losses(training=False)` would)."""
    from sketch_rnn import data
    from sketch_rnn import export as export_lib
    from sketch_rnn import losses
    config, workdir = one_step_run
    model, step = _restored(config, workdir)
    splits = train.load_data(config)
    whole = dataclasses.replace(config, batch_size=len(splits.valid or splits.train))
    pipeline = data.eval_pipeline(splits, whole)
    got = train.make_evaluate(model, step, whole, pipeline)(1)
    (batch,) = list(pipeline.eval_batches())  # One batch: the whole split, no padding.
    assert np.all(batch["weights"] > 0)
    strokes, lengths = tf.constant(batch["strokes"]), tf.constant(batch["lengths"])
    assert int(tf.reduce_min(lengths)) < strokes.shape[1] - 1  # Some steps after an end.
    outputs = model({"strokes": export_lib.with_end_row(strokes), "lengths": lengths},
                    training=False)
    target, pen_logits = strokes[:, 1:], outputs["pen_logits"][:, :-1]
    every_step = float(losses.pen_loss(target, pen_logits))
    masked = float(losses.pen_loss(target, pen_logits, mask=lengths))
    assert got["L_p"] == pytest.approx(every_step, rel=1e-4)
    assert abs(got["L_p"] - masked) > 1e-3 * every_step


def _export_nll(loaded, sketches, scale):
    """The export's log_likelihood averaged over `sketches` (normalised stroke-3)."""
    strokes = np.zeros((len(sketches), max(len(s) for s in sketches), 3), np.float32)
    for i, s in enumerate(sketches):
        strokes[i, :len(s)] = s
    strokes[:, :, :2] *= scale  # The export speaks data units.
    out = loaded.log_likelihood(strokes=tf.constant(strokes),
                                lengths=tf.constant([len(s) for s in sketches], tf.int32))
    return {k: float(np.mean(v.numpy())) for k, v in out.items()}


def test_the_test_split_nll_is_logged_beside_validation(one_step_run):
    from sketch_rnn import data
    config, workdir = one_step_run
    loaded = tf.saved_model.load(str(workdir / "export"))
    model, step = _restored(config, workdir)
    splits = train.load_data(config)
    assert splits.test
    got = train.make_evaluate(model, step, config, data.eval_pipeline(splits, config),
                              data.eval_pipeline(splits, config, "test"))(1)
    want = _export_nll(loaded, splits.test, splits.scale_factor)
    for k in ("nll_offsets", "nll_pen", "nll"):
        np.testing.assert_allclose(got[f"test_{k}"], want[k], rtol=1e-4, atol=1e-5)
    assert got["nll_offsets"] != got["test_nll_offsets"]  # Two splits, two figures.
    assert "test_L_s" not in got  # Only the NLLs: nothing is chosen on the test split.
    assert {"test_nll_offsets", "test_nll_pen", "test_nll"} <= trainers.summary_tags(
        workdir, "valid")


def test_pixel_data_is_also_scored_as_whole_pixels_and_picks_the_best(one_step_run):
    from sketch_rnn import data
    from sketch_rnn.client import SketchModel
    config, workdir = one_step_run
    model, step = _restored(config, workdir)
    splits = train.load_data(config)
    assert splits.integer_offsets  # The built-in doodles are whole pixels.
    got = train.make_evaluate(model, step, config, data.eval_pipeline(splits, config),
                              data.eval_pipeline(splits, config, "test"),
                              0.5 / splits.scale_factor)(1)
    # The same figure from the export's client on the drawings in pixels.
    pixels = [np.concatenate([np.round(s[:, :2] * splits.scale_factor), s[:, 2:]], 1)
              for s in splits.test]
    want = SketchModel(workdir / "export").log_likelihood(pixels, pixel=1.0)
    for k in ("nll_offsets_discrete", "nll_discrete", "nll_offsets"):
        np.testing.assert_allclose(got[f"test_{k}"], want[k].mean(), rtol=1e-4, atol=1e-5)
    # A probability of whole pixels: about the density NLL in pixels for a wide mixture.
    assert got["nll_offsets_discrete"] == pytest.approx(
        got["nll_offsets"] + 2 * np.log(splits.scale_factor), abs=0.05)
    assert train.best_metric(config, splits) == "nll_discrete"
    assert train.best_metric(config, dataclasses.replace(splits, integer_offsets=False)) == "L_R"
    assert json.loads((workdir / "best" / "best.json").read_text())["metric"] == "nll_discrete"
    assert {"nll_offsets_discrete", "nll_discrete", "test_nll_offsets_discrete",
            "test_nll_discrete"} <= trainers.summary_tags(workdir, "valid")


def test_export_checkpoint_writes_the_best_one_and_refuses_clearly(one_step_run, tmp_path):
    import shutil
    from common.errors import DataError
    from sketch_rnn import export as export_lib
    _, workdir = one_step_run
    run = tmp_path / "run"
    shutil.copytree(workdir, run)
    shutil.rmtree(run / "checkpoints")  # Only best/ (step 1) is left.
    out, path = export_lib.export_checkpoint(run, tmp_path / "best_export")
    assert path.startswith(str(run / "best"))
    trained = tf.saved_model.load(str(workdir / "export"))
    want = trained.sample(n=2, temperature=0.5, seed=3, max_len=12)
    for again in range(2):  # The second export replaces the first whole.
        loaded = tf.saved_model.load(str(out))
        got = loaded.sample(n=2, temperature=0.5, seed=3, max_len=12)
        np.testing.assert_array_equal(got["strokes"].numpy(), want["strokes"].numpy())
        if not again:
            export_lib.export_checkpoint(run, out, "1")
    assert json.loads((out / "metadata.json").read_text())["model"] == "sketch_rnn"
    for which, needle in (("latest", "no latest checkpoint (steps kept: 1)"),
                          ("7", "no 7 checkpoint (steps kept: 1)"),
                          ("newest", "give best, latest or a step number")):
        with pytest.raises(DataError, match=re.escape(needle)):
            export_lib.export_checkpoint(run, tmp_path / "x", which)
    (tmp_path / "notes").mkdir()
    with pytest.raises(DataError, match="is not an export"):
        export_lib.export_checkpoint(run, tmp_path / "notes")
    proc = subprocess.run([sys.executable, "-m", "scripts.export_sketch_rnn",
                           f"--workdir={tmp_path / 'nowhere'}", f"--out={tmp_path / 'y'}"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 2 and "cannot read the run's config" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "y").exists()


def test_export_loads_without_the_package(one_step_run, tmp_path):
    _, workdir = one_step_run
    out = trainers.run_export_without_package(workdir / "export", """
        out = m.sample(n=2, temperature=0.5, seed=3, max_len=12)
        strokes = out['strokes'][:, :5]
        z = m.encode(strokes=strokes, lengths=tf.constant([5, 5]))['z']
        dec = m.decode(z=z, temperature=0.1, seed=1, max_len=12)
        comp = m.complete(strokes=strokes, lengths=tf.constant([5, 5]), temperature=0.5, seed=2, max_len=12)
        meta = json.loads(m.metadata()['json'].numpy())
        print('OK', out['strokes'].shape, dec['strokes'].shape, comp['strokes'].shape, meta['model'])
    """, tmp_path)
    assert "OK (2, 12, 3) (2, 12, 3) (2, 12, 3) sketch_rnn" in out


def test_resume_equals_uninterrupted(tmp_path, monkeypatch):
    trainers.skip_exports(monkeypatch, train.export_lib)
    trainers.check_resume_equals_uninterrupted(train.train_and_evaluate, _config, tmp_path,
                                               steps=3)


def test_incompatible_config_is_refused(one_step_run):
    config, workdir = one_step_run
    trainers.check_incompatible_config_refused(train.train_and_evaluate, config, workdir,
                                               dec_rnn_size=24)


def test_mirrored_strategy_two_cpus(tmp_path):
    assert len(tf.config.list_logical_devices("CPU")) == 2
    train.train_and_evaluate(_config(num_steps=2, strategy="mirrored"), tmp_path)
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multi_worker_two_processes(tmp_path):
    ports = [_free_port(), _free_port()]
    driver = textwrap.dedent(f"""
        import dataclasses, sys
        import numpy as np
        from common.training import loop as training
        captured = {{}}
        orig = training.run
        def run(spec):
            out = orig(spec)
            captured['w'] = [v.numpy() for v in spec.trackables['model'].weights]
            return out
        training.run = run
        from sketch_rnn import configs, train
        config = dataclasses.replace(configs.SketchRNNConfig.testing(), num_steps=3,
                                     strategy='multi_worker', save_every=3, eval_every=3)
        train.train_and_evaluate(config, {str(tmp_path / 'run')!r})
        np.savez(sys.argv[1], *captured['w'])
    """)
    procs = []
    for i in range(2):
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                     "task": {"type": "worker", "index": i}}
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), TF_CPP_MIN_LOG_LEVEL="2",
                   PYTHONPATH=REPO)
        procs.append(subprocess.Popen(
            [sys.executable, "-c", driver, str(tmp_path / f"w{i}.npz")], cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=400)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-3000:]
    w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert len(w0.files) == len(w1.files) > 0
    for k in w0.files:
        np.testing.assert_array_equal(w0[k], w1[k])
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
    assert not (tmp_path / "run" / ".worker-1").exists()


def test_init_from_copies_weights_and_refuses_other_architectures(one_step_run, tmp_path):
    from common.errors import DataError
    from sketch_rnn.model import SketchRNN

    config, source = one_step_run
    reference = SketchRNN(config)
    latest = tf.train.latest_checkpoint(str(source / "checkpoints"))
    tf.train.Checkpoint(model=reference).restore(latest).expect_partial()
    fresh = dataclasses.replace(config, seed=7)
    model, _, _ = train.build(fresh, tf.distribute.get_strategy())
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(),
                                                         reference.get_weights()))
    train.init_weights(model, source)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    wider, _, _ = train.build(dataclasses.replace(config, dec_rnn_size=24),
                              tf.distribute.get_strategy())
    with pytest.raises(DataError, match=r"dec_cell/kernel.*shape"):
        train.init_weights(wider, source)
    decoder_only, _, _ = train.build(dataclasses.replace(config, conditional=False),
                                     tf.distribute.get_strategy())
    with pytest.raises(DataError, match=r"dec_cell/kernel' has shape \(25, 64\) there and \(21"):
        train.init_weights(decoder_only, source)  # No z in the decoder's input.
    layer_norm, _, _ = train.build(dataclasses.replace(config, enc_model="layer_norm"),
                                   tf.distribute.get_strategy())
    with pytest.raises(DataError, match="no weight 'enc_fw/enc_fw_cell/ln_gamma'"):
        train.init_weights(layer_norm, source)
    with pytest.raises(DataError, match="config"):
        train.init_weights(model, tmp_path)
    # A run started from those weights records where they came from; its step starts at 0.
    last = train.train_and_evaluate(dataclasses.replace(fresh, num_steps=1,
                                                        init_from=str(source)), tmp_path / "ft")
    assert np.isfinite(last["loss"])
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["init_from"] == str(source)
    # Resuming (here: two more steps) needs its own checkpoint only, not the source.
    moved = tmp_path / "moved"
    source.rename(moved)
    try:
        last = train.train_and_evaluate(dataclasses.replace(fresh, num_steps=3,
                                                            init_from=str(source)), tmp_path / "ft")
    finally:
        moved.rename(source)
    assert np.isfinite(last["loss"])
