"""Faults while training: bad batches, a full disk, truncated checkpoints, atomic writes, workdir guards."""

import dataclasses
import errno
import hashlib
import json
import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from common import files
from common.images import grid
from demo import gallery as gallery_lib
from common.training import workdir as workdir_lib
from common.errors import WorkdirError
from sketch_rnn import configs
from sketch_rnn import data as sketch_data
from sketch_rnn import export as export_lib
from sketch_rnn import train

REPO = pathlib.Path(__file__).resolve().parents[2]
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def config(**kw):
    kw.setdefault("eval_every", 100)
    return dataclasses.replace(configs.SketchRNNConfig.testing(), **kw)


@pytest.fixture
def light(monkeypatch):
    """The real Sketch RNN trainer with a tiny stand-in export and no summary images.

    The export stub writes the weights' checksum, so a test can tell exports apart.
    """
    monkeypatch.setattr(train, "make_images", lambda *a, **k: (lambda step: {}))

    def tiny_export(model, cfg, info, path):
        total = float(sum(np.abs(w).sum() for w in model.get_weights()))
        (pathlib.Path(path) / "weights.txt").write_text(repr(total))

    monkeypatch.setattr(export_lib, "export", tiny_export)


def state(workdir, number=None):
    """Checkpointed tensors of ckpt-`number` (default newest), by name, save_counter left out."""
    d = pathlib.Path(workdir) / "checkpoints"
    path = str(d / f"ckpt-{number}") if number else tf.train.latest_checkpoint(str(d))
    reader = tf.train.load_checkpoint(path)
    return {n: reader.get_tensor(n) for n in sorted(reader.get_variable_to_shape_map())
            if n != "_CHECKPOINTABLE_OBJECT_GRAPH" and not n.startswith("save_counter")}


def model_weights(st):
    return {k: v for k, v in st.items() if k.startswith("model/")}


def scalars(workdir, tag):
    """step -> value of a TensorBoard scalar written by the trainer."""
    out = {}
    for f in sorted((pathlib.Path(workdir) / "events" / "train").glob("events.out.tfevents.*")):
        for ev in tf.compat.v1.train.summary_iterator(str(f)):
            for v in ev.summary.value:
                if v.tag == tag:
                    out[ev.step] = float(tf.make_ndarray(v.tensor))
    return out


def digest(folder):
    """name -> sha256 of every file under a folder."""
    folder = pathlib.Path(folder)
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- bad steps


def test_bad_steps_are_skipped_and_logged(tmp_path, light, monkeypatch, capsys, record):
    """Step 2: a NaN batch. Step 3: a batch whose values overflow. Step 4: a huge but finite
    gradient (the loss times 1e15). Steps 5 and 6 are normal."""
    from sketch_rnn import losses
    real_pipeline, real_losses = sketch_data.train_pipeline, losses.compute_losses

    def poisoned(splits, cfg):
        pipe = real_pipeline(splits, cfg)
        batch = pipe.batch

        def bad_batch(index):  # Pipeline batch `index` feeds step index + 1.
            out = batch(index)
            if index == 1:
                out["strokes"][0, 1:4, 0] = np.nan
            elif index == 2:
                out["strokes"][:, 1:, 0:2] *= np.float32(1e30)
            return out

        pipe.batch = bad_batch
        return pipe

    def huge_loss(outputs, batch, step, cfg, **kw):
        values = dict(real_losses(outputs, batch, step, cfg, **kw))
        values["loss"] = values["loss"] * tf.where(tf.equal(step, 3), 1e15, 1.0)
        return values

    monkeypatch.setattr(sketch_data, "train_pipeline", poisoned)
    monkeypatch.setattr(losses, "compute_losses", huge_loss)
    workdir = tmp_path / "run"
    train.train_and_evaluate(config(num_steps=3, save_every=1), workdir)
    err = capsys.readouterr().err
    assert "step 2: non-finite loss or gradient, update skipped (1 so far)" in err
    assert "step 3: non-finite loss or gradient, update skipped (2 so far)" in err
    assert err.count("update skipped") == 2

    def unchanged(skipped):
        """A skipped step leaves every weight, slot and the optimiser's counter as they were
        (the step counter and the dropout RNG state move on)."""
        before, after = state(workdir, skipped - 1), state(workdir, skipped)
        for k in before:
            if not k.startswith(("step/", "rng/")):
                np.testing.assert_array_equal(before[k], after[k], err_msg=k)

    unchanged(2), unchanged(3)
    train.train_and_evaluate(config(num_steps=4, save_every=1), workdir)  # Resume: step 4.
    err = capsys.readouterr().err
    assert err.count("update skipped") == 1
    assert "above max_grad_norm, update skipped (1 so far)" in err
    line = next(l for l in err.splitlines() if "above max_grad_norm" in l)
    assert line.startswith("WARNING: step 4: gradient norm ")
    unchanged(4)
    train.train_and_evaluate(config(num_steps=6, save_every=1), workdir)  # Steps 5-6.
    assert "update skipped" not in capsys.readouterr().err
    loss, skips, norm = (scalars(workdir, t) for t in ("loss", "skipped_steps", "grad_norm"))
    assert skips[3] == 2.0 and skips[4] == 1.0 and skips[6] == 0.0  # Counted per run, in TensorBoard.
    assert not np.isfinite(loss[2]) and not np.isfinite(loss[3])
    assert norm[4] > config().max_grad_norm and np.isfinite(norm[4]) and np.isfinite(loss[4])
    at4, at5 = model_weights(state(workdir, 4)), model_weights(state(workdir, 5))
    step5 = max(float(np.abs(v - at4[k]).max()) for k, v in at5.items())
    assert 0 < step5 < 0.01  # Training goes on with normal, bounded Adam steps (lr 1e-3).
    assert all(np.isfinite(loss[s]) and loss[s] < 100 for s in (1, 5, 6))
    assert all(np.isfinite(norm[s]) and norm[s] < config().max_grad_norm for s in (1, 5, 6))
    assert all(np.all(np.isfinite(v)) for v in state(workdir).values() if v.dtype.kind == "f")
    record("faults_bad_steps", skipped=[2, 3, 4], max_weight_change_step5=step5,
           losses={s: loss[s] for s in sorted(loss)}, grad_norm={s: norm[s] for s in sorted(norm)})


def test_huge_gradient_threshold_off_clips_and_applies(tmp_path, light, monkeypatch, capsys):
    """With max_grad_norm=0 a finite huge gradient is clipped element-wise and applied."""
    from sketch_rnn import losses
    real_losses = losses.compute_losses

    def huge_loss(outputs, batch, step, cfg, **kw):
        values = dict(real_losses(outputs, batch, step, cfg, **kw))
        values["loss"] = values["loss"] * tf.where(tf.equal(step, 1), 1e15, 1.0)
        return values

    monkeypatch.setattr(losses, "compute_losses", huge_loss)
    workdir = tmp_path / "run"
    train.train_and_evaluate(config(num_steps=2, save_every=1, max_grad_norm=0.0), workdir)
    assert "update skipped" not in capsys.readouterr().err
    norm = scalars(workdir, "grad_norm")
    assert norm[2] > 1e12
    at1, at2 = model_weights(state(workdir, 1)), model_weights(state(workdir, 2))
    change = max(float(np.abs(v - at1[k]).max()) for k, v in at2.items())
    assert 0 < change < 0.01


# ----------------------------------------------------------------------------- full disk


def test_full_disk_on_checkpoint_keeps_previous_and_says_so(tmp_path, light, monkeypatch):
    workdir = tmp_path / "run"
    train.train_and_evaluate(config(num_steps=2, save_every=1), workdir)
    before = {"checkpoints": digest(workdir / "checkpoints"), "export": digest(workdir / "export"),
              "config": (workdir / "config.json").read_text()}
    real_save = tf.train.CheckpointManager.save

    def full_disk(self, checkpoint_number=None, **kw):
        if "checkpoints" in str(self.directory) and checkpoint_number == 3:
            raise ENOSPC
        return real_save(self, checkpoint_number=checkpoint_number, **kw)

    monkeypatch.setattr(tf.train.CheckpointManager, "save", full_disk)
    with pytest.raises(WorkdirError) as info:
        train.train_and_evaluate(config(num_steps=4, save_every=1), workdir)
    msg = str(info.value)
    assert "could not write a checkpoint" in msg and "No space left on device" in msg
    assert "ckpt-2) is kept" in msg
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints")).endswith("ckpt-2")
    assert digest(workdir / "checkpoints") == before["checkpoints"]  # Nothing touched.
    assert digest(workdir / "export") == before["export"]
    now = json.loads((workdir / "config.json").read_text())  # Intact; only num_steps moved on.
    assert {k: v for k, v in now.items() if k != "num_steps"} == {
        k: v for k, v in json.loads(before["config"]).items() if k != "num_steps"}
    assert not (workdir / ".lock").exists()  # Released on the error.
    assert int(state(workdir)["step/.ATTRIBUTES/VARIABLE_VALUE"]) == 2  # Still readable.


def test_full_disk_inside_tensorflow_writer(tmp_path, light, monkeypatch):
    """The failure comes from TF's own save op (as a real full disk would), not from Python."""
    from tensorflow.python.ops import gen_io_ops
    workdir = tmp_path / "run"
    real_merge = gen_io_ops.merge_v2_checkpoints

    def check(dest):
        if dest.numpy().decode().endswith("checkpoints/ckpt-2"):
            raise ENOSPC
        return 0

    def merge(prefixes, dest, *a, **kw):
        with tf.control_dependencies([tf.py_function(check, [dest], tf.int32)]):
            return real_merge(prefixes, dest, *a, **kw)

    monkeypatch.setattr(gen_io_ops, "merge_v2_checkpoints", merge)
    with pytest.raises(WorkdirError, match=r"could not write a checkpoint .* step 2: .*No space"):
        train.train_and_evaluate(config(num_steps=3, save_every=1), workdir)
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints")).endswith("ckpt-1")
    assert (workdir / "export" / "weights.txt").exists()  # Step 1's export is untouched.


def test_full_disk_on_export_keeps_previous_export(tmp_path, light, monkeypatch):
    workdir = tmp_path / "run"
    train.train_and_evaluate(config(num_steps=1, save_every=1), workdir)
    old = digest(workdir / "export")

    def half_then_full(model, cfg, info, path):
        (pathlib.Path(path) / "saved_model.pb").write_bytes(b"\0" * 1000)  # A partial write.
        raise ENOSPC

    monkeypatch.setattr(export_lib, "export", half_then_full)
    with pytest.raises(WorkdirError, match=r"could not write the export .* step 2.*No space"):
        train.train_and_evaluate(config(num_steps=2, save_every=1), workdir)
    assert digest(workdir / "export") == old
    assert not list(workdir.glob(".export.*"))  # The temp folder is gone.
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints")).endswith("ckpt-2")


def test_full_disk_on_small_files_keeps_old_content(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    files.atomic_write_text(path, '{"a": 1}\n')

    def no_space(fd):
        raise ENOSPC

    monkeypatch.setattr(workdir_lib.os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        workdir_lib.check_or_write_config(tmp_path, {"a": 1})
    with pytest.raises(OSError, match="No space"):
        files.atomic_write_bytes(tmp_path / "data.bin", b"x" * 100)
    assert path.read_text() == '{"a": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]  # No temp files left.


@pytest.mark.parametrize("raised, code, message", [
    (ENOSPC, 2, "error: [Errno 28] No space left on device"),  # A full disk.
    (KeyboardInterrupt(), 130, "interrupted; files already written are kept"),  # Ctrl-C.
    (FileNotFoundError(2, "No such file or directory", "out/x.png"), 2,
     "error: out/x.png: No such file or directory\n"),  # The file first, no errno.
    (ValueError("two\nlines"), 2, "error: two lines\n"),
])
def test_cli_ends_with_one_line(raised, code, message, capsys):
    from common import cli

    def fails():
        raise raised

    with pytest.raises(SystemExit) as info:
        cli.exit_on_error(fails)
    assert info.value.code == code
    assert capsys.readouterr().err.startswith(message)


# ----------------------------------------------------------------------------- truncated checkpoint


def test_truncated_checkpoints_fall_back_with_a_warning(tmp_path, light, capsys, record):
    ref = tmp_path / "reference"
    train.train_and_evaluate(config(num_steps=4, save_every=4), ref)
    workdir = tmp_path / "run"
    train.train_and_evaluate(config(num_steps=3, save_every=1), workdir)
    ckpts = workdir / "checkpoints"
    data3 = next(ckpts.glob("ckpt-3.data-*"))
    data3.write_bytes(data3.read_bytes()[: data3.stat().st_size // 2])  # Truncated data.
    index2 = ckpts / "ckpt-2.index"
    index2.write_bytes(index2.read_bytes()[:40])  # Truncated index.
    capsys.readouterr()
    train.train_and_evaluate(config(num_steps=4, save_every=1), workdir)
    out = capsys.readouterr()
    assert "WARNING: checkpoint" in out.err and "ckpt-3 is unreadable" in out.err
    assert "ckpt-2 is unreadable" in out.err
    assert "Resumed from older checkpoint" in out.out and "at step 1." in out.out
    # The half-read newer checkpoints left nothing behind: same weights as an unbroken run.
    got, want = state(workdir), state(ref)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    # When no checkpoint can be read at all, the run stops with a clear error.
    for f in ckpts.glob("ckpt-*.index"):
        f.write_bytes(b"")
    with pytest.raises(WorkdirError, match="no readable checkpoint"):
        train.train_and_evaluate(config(num_steps=5, save_every=1), workdir)
    record("faults_truncated_checkpoints", truncated=["ckpt-3.data", "ckpt-2.index"],
           resumed_from=1, weights="bit-identical to an unbroken run")


# ----------------------------------------------------------------------------- atomic writes


def test_writers_use_temp_file_and_rename(tmp_path, monkeypatch):
    """config.json, data.json, best.json, gallery PNG / SVG / index.html: temp file, then rename."""
    renames = []
    for mod in (workdir_lib, files):
        real = mod.os.replace

        def spy(src, dst, real=real):
            renames.append((pathlib.Path(src), pathlib.Path(dst)))
            return real(src, dst)

        monkeypatch.setattr(mod.os, "replace", spy)
    workdir_lib.check_or_write_config(tmp_path / "w", {"a": 1})
    gal = gallery_lib.Gallery(tmp_path / "g")
    gal.add_sketches("s", "grid", [np.array([[0, 0, 0], [5, 5, 1]], np.float32)], ncols=1)
    gal.add_png("s", "img", np.zeros((4, 4, 3), np.float32))
    gal.write_index()
    done = {d.name for _, d in renames}
    assert {"config.json", "grid.png", "grid.svg", "img.png", "index.html"} <= done
    for src, dst in renames:
        assert src.parent == dst.parent and src.name.startswith(f".{dst.name}.")
        assert src.name.endswith(".tmp") and not src.exists()


def test_failed_gallery_write_keeps_the_old_file(tmp_path, monkeypatch):
    gal = gallery_lib.Gallery(tmp_path)
    gal.add_png("s", "img", np.ones((4, 4, 3), np.float32))
    old = (tmp_path / "img.png").read_bytes()
    real_save = grid.Image.Image.save

    def half_then_full(self, fp, *a, **kw):
        fp.write(b"\x89PNG partial")
        raise ENOSPC

    monkeypatch.setattr(grid.Image.Image, "save", half_then_full)
    with pytest.raises(OSError, match="No space"):
        gal.add_png("s", "img", np.zeros((4, 4, 3), np.float32))
    monkeypatch.setattr(grid.Image.Image, "save", real_save)
    assert (tmp_path / "img.png").read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.png"]


def test_interrupted_export_swap_is_recovered(tmp_path):
    """A crash between the two renames: the next start puts the old export back."""
    target = tmp_path / "export"
    with workdir_lib.atomic_directory(target) as d:
        (d / "f").write_text("one")
    os.replace(target, tmp_path / ".export.old-123")  # The crash left only the old copy.
    (tmp_path / ".export.tmp-abc").mkdir()  # And a half-written new one.
    workdir_lib.recover_directory(target)
    assert (target / "f").read_text() == "one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


# ----------------------------------------------------------------------------- workdir guards

HOLDER = ("import sys, time\nfrom common.training.workdir import WorkdirLock\n"
          "WorkdirLock(sys.argv[1]).acquire()\nprint('held', flush=True)\ntime.sleep(600)\n")


def test_lock_and_config_guards(tmp_path, light, caplog):
    """A second trainer is refused; a crashed one's lock is taken over; a changed config is
    refused unless overwrite=True, which moves the old run aside."""
    workdir = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(workdir)], cwd=REPO,
                              env=dict(os.environ, PYTHONPATH=str(REPO)),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WorkdirError, match=f"in use by process {holder.pid}"):
            train.train_and_evaluate(config(num_steps=1), workdir)
        assert not (workdir / "config.json").exists()  # Refused before writing anything.
    finally:
        holder.send_signal(signal.SIGKILL)  # A crash: the lock file stays behind.
        holder.wait()
    assert json.loads((workdir / ".lock").read_text())["pid"] == holder.pid
    with caplog.at_level("WARNING"):
        train.train_and_evaluate(config(num_steps=1), workdir)
    assert "Removing stale lock" in caplog.text
    assert not (workdir / ".lock").exists()  # Released on a normal exit.
    before = digest(workdir / "checkpoints")
    with pytest.raises(WorkdirError, match=r"different config \(dec_rnn_size: 16 -> 24\)"):
        train.train_and_evaluate(config(num_steps=1, dec_rnn_size=24), workdir)
    assert not (workdir / ".lock").exists()  # And after an error.
    assert digest(workdir / "checkpoints") == before
    # --overwrite moves the old run aside; nothing is deleted.
    train.train_and_evaluate(config(num_steps=1, dec_rnn_size=24), workdir, overwrite=True)
    backups = list(workdir.glob("replaced-*"))
    assert len(backups) == 1 and digest(backups[0] / "checkpoints") == before
    assert json.loads((workdir / "config.json").read_text())["dec_rnn_size"] == 24


def test_odd_lock_files(tmp_path):
    lock = workdir_lib.WorkdirLock(tmp_path)
    (tmp_path / ".lock").write_text("garbage{")  # Half-written by a crash: taken over.
    lock.acquire()
    lock.release()
    (tmp_path / ".lock").write_text(json.dumps({"pid": 1, "host": "other-machine"}))
    with pytest.raises(WorkdirError, match="locked by host 'other-machine'.*delete the lock"):
        lock.acquire()


@pytest.mark.slow
def test_cli_lock_and_overwrite_end_to_end(tmp_path, record):
    """Real CLIs: a second trainer on a busy workdir, a changed config, then --overwrite."""
    workdir = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    base = [sys.executable, "-m", "scripts.train_sketch_rnn", "--config=testing",
            "--dataset=builtin", f"--workdir={workdir}", "--eval_every=100"]
    first = subprocess.Popen(base + ["--num_steps=400", "--save_every=400"], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in first.stdout:  # Wait until it trains (so it holds the lock).
            if line.startswith("step 1/"):
                break
        second = subprocess.run(base + ["--num_steps=2"], cwd=REPO, env=env, capture_output=True,
                                text=True, timeout=600)
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=120)
    assert second.returncode == 2 and f"in use by process {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr
    changed = subprocess.run(base + ["--num_steps=2", "--override=dec_rnn_size=24"], cwd=REPO,
                             env=env, capture_output=True, text=True, timeout=600)
    assert changed.returncode == 2 and "different config" in changed.stderr
    assert "--overwrite" in changed.stderr
    forced = subprocess.run(base + ["--num_steps=2", "--override=dec_rnn_size=24", "--overwrite"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert len(list(workdir.glob("replaced-*"))) == 1
    record("faults_cli_guards", second_trainer="refused, exit 2", changed_config="refused, exit 2",
           overwrite="old run moved to replaced-*/")
