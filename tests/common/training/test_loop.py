"""The shared training loop on a toy regression: resume, strategies, non-finite skips, guards."""

import contextlib
import json
import os
import pathlib
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.training import loop
from common.training import memory
from common.training import steps as train_steps
from common.training import strategies
from common.training import workdir as workdir_lib
from common.errors import WorkdirError


def _toy_run(workdir, num_steps, strategy_name="default", nan_steps=(), save_every=2, seed=0,
             on_step=None):
    strategy = strategies.make_strategy(strategy_name)
    rng = np.random.default_rng(0)
    x_all = rng.normal(size=(64, 3)).astype("float32")
    y_all = (x_all @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")

    def make_dataset(start):
        def gen():
            k = start
            while True:
                r = np.random.default_rng([seed, k])
                idx = r.integers(0, 64, size=8)
                x = x_all[idx].copy()
                if k in nan_steps:
                    x[0, 0] = np.nan
                yield {"x": x, "y": y_all[idx]}
                k += 1
        sig = {"x": tf.TensorSpec((8, 3), tf.float32), "y": tf.TensorSpec((8, 1), tf.float32)}
        return tf.data.Dataset.from_generator(gen, output_signature=sig)

    with strategy.scope():
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        step = tf.Variable(0, dtype=tf.int64, trainable=False)
        optimizer = keras.optimizers.Adam(learning_rate=lambda: 0.05 * 0.99 ** tf.cast(step, tf.float32))
        optimizer.build(model.trainable_variables)

    def replica_step(batch):
        def loss_fn():
            pred = model(batch["x"], training=True)
            loss = tf.reduce_mean(tf.square(pred - batch["y"]))
            return loss, {}
        grads, loss, _, gnorm, finite = train_steps.global_gradients(
            loss_fn, model.trainable_variables, clip_value=1.0)
        train_steps.apply_if_finite(optimizer, grads, model.trainable_variables, finite)
        return {"loss": loss, "grad_norm": gnorm, "finite": finite}

    exported = []

    def export(path):
        exported.append(path)
        (pathlib.Path(path) / "weights.json").write_text(json.dumps(
            [w.tolist() for w in model.get_weights()]))

    spec = loop.LoopSpec(
        workdir=pathlib.Path(workdir), strategy=strategy, num_steps=num_steps, log_every=1,
        eval_every=2, save_every=save_every, step=step,
        trackables={"model": model, "optimizer": optimizer, "step": step},
        make_dataset=make_dataset, replica_step=replica_step, items_per_step=8,
        evaluate=lambda s: {"val": float(np.mean((model(x_all).numpy() - y_all) ** 2))},
        export=export, best_metric="val", on_step=on_step)
    last = loop.run(spec)
    return model.get_weights(), last, int(step.numpy())


def test_resume_equals_uninterrupted(tmp_path):
    w_full, _, s_full = _toy_run(tmp_path / "a", 6)
    _toy_run(tmp_path / "b", 4)
    w_resumed, _, s_res = _toy_run(tmp_path / "b", 6)
    assert s_full == s_res == 6
    for a, b in zip(w_full, w_resumed):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert (tmp_path / "b" / "export" / "weights.json").exists()
    assert (tmp_path / "b" / "best" / "best.json").exists()
    assert list((tmp_path / "b" / "events" / "train").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_the_running_step_then_stops(tmp_path, sig):
    """A signal mid-step: the step finishes, is checkpointed (off the save_every grid) and
    Stopped is raised; resuming from it equals the unbroken run; the handlers are restored."""
    # As in a terminal (pytest-xdist workers ignore SIGINT, and an ignored signal stays so).
    terminal = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
    saved = {s: signal.signal(s, h) for s, h in terminal.items()}
    try:
        _signal_run(tmp_path, sig)
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def _signal_run(tmp_path, sig):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    w_full, _, _ = _toy_run(tmp_path / "a", 6, save_every=4)
    kill_at_3 = lambda s: s == 3 and os.kill(os.getpid(), sig)  # noqa: E731
    with pytest.raises(loop.Stopped, match=rf"{sig.name} at step 3/6: its checkpoint is saved"
                       ) as stopped:
        _toy_run(tmp_path / "b", 6, save_every=4, on_step=kill_at_3)
    assert stopped.value.exit_code == 128 + sig
    assert {s: signal.getsignal(s) for s in before} == before
    assert tf.train.latest_checkpoint(str(tmp_path / "b" / "checkpoints")).endswith("ckpt-3")
    w_resumed, _, step = _toy_run(tmp_path / "b", 6, save_every=4)
    assert step == 6
    for a, b in zip(w_full, w_resumed):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_an_ignored_signal_stays_ignored(tmp_path):
    """SIGINT ignored (a background job's): the loop leaves it so and trains to the end."""
    saved = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ping = lambda s: s == 2 and os.kill(os.getpid(), signal.SIGINT)  # noqa: E731
        _, _, step = _toy_run(tmp_path, 4, on_step=ping)
        assert step == 4 and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, saved)


def test_non_finite_step_is_skipped(tmp_path, capsys):
    w, last, step = _toy_run(tmp_path, 4, nan_steps=(1,))
    assert step == 4
    assert all(np.all(np.isfinite(x)) for x in w)
    assert "non-finite" in capsys.readouterr().err


def test_mirrored_matches_default(tmp_path):
    w_default, _, _ = _toy_run(tmp_path / "d", 3)
    w_mirror, _, _ = _toy_run(tmp_path / "m", 3, strategy_name="mirrored")
    assert len(tf.config.list_logical_devices("CPU")) == 2
    for a, b in zip(w_default, w_mirror):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_mirrored_skips_non_finite(tmp_path):
    w, _, step = _toy_run(tmp_path, 3, strategy_name="mirrored", nan_steps=(0,))
    assert step == 3 and all(np.all(np.isfinite(x)) for x in w)


def test_truncated_latest_checkpoint_falls_back(tmp_path, capsys):
    _toy_run(tmp_path, 4)
    data = sorted((tmp_path / "checkpoints").glob("ckpt-4.data-*"))
    assert data
    data[0].write_bytes(data[0].read_bytes()[:10])
    _, _, step = _toy_run(tmp_path, 5)
    assert step == 5
    assert "unreadable" in capsys.readouterr().err


def test_unknown_strategy():
    with pytest.raises(ValueError, match="unknown strategy"):
        strategies.make_strategy("tpu")


def test_lock_refuses_live_and_takes_stale(tmp_path, caplog):
    lock = workdir_lib.WorkdirLock(tmp_path).acquire()
    other = workdir_lib.WorkdirLock(tmp_path)
    (tmp_path / ".lock").write_text("")  # Mid-write by its owner: still refused.
    with pytest.raises(WorkdirError, match="in use by process"):
        other.acquire()
    lock.release()
    assert not (tmp_path / ".lock").exists()
    # Files left by dead runs are taken over, even if the pid now names another process.
    host = os.uname().nodename
    for pid in (2 ** 22 + 7, os.getppid()):
        (tmp_path / ".lock").write_text(json.dumps({"pid": pid, "host": host}))
        with caplog.at_level("WARNING"):
            other.acquire()
        assert f"left by pid {pid}" in caplog.text
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
        other.release()
        assert not (tmp_path / ".lock").exists()


def test_lock_without_flock(tmp_path, monkeypatch):
    """The O_EXCL fallback: a live pid on this host is the owner; a dead one is stale."""
    monkeypatch.setattr(workdir_lib, "fcntl", None)
    lock = workdir_lib.WorkdirLock(tmp_path)
    (tmp_path / ".lock").write_text(json.dumps(
        {"pid": os.getppid(), "host": os.uname().nodename}))
    with pytest.raises(WorkdirError, match=f"in use by process {os.getppid()}"):
        lock.acquire()
    (tmp_path / ".lock").write_text(json.dumps({"pid": 2 ** 22 + 7, "host": os.uname().nodename}))
    lock.acquire()
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / ".lock").exists()


CONTENDER = """
import pathlib, sys, time
from common.training.workdir import WorkdirLock
from common.errors import WorkdirError
workdir, log = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
while time.time() < float(sys.argv[3]):
    pass
won = 0
for _ in range(40):
    try:
        lock = WorkdirLock(workdir).acquire()
    except WorkdirError:
        time.sleep(0.001)
        continue
    with log.open("a") as f:
        f.write(f"+{sys.argv[4]}\\n")
        f.flush()
        time.sleep(0.002)
        f.write(f"-{sys.argv[4]}\\n")
    lock.release()
    won += 1
print(won)
"""


def test_lock_is_exclusive_under_contention(tmp_path):
    """Six processes race for the lock over and over; never are two inside at once, and a
    stale file left at the start is taken over by exactly one of them."""
    import subprocess
    import sys
    import time
    repo = pathlib.Path(__file__).resolve().parents[3]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".lock").write_text(json.dumps(
        {"pid": 2 ** 22 + 7, "host": os.uname().nodename}))
    log = tmp_path / "log"
    start = time.time() + 3
    procs = [subprocess.Popen(
        [sys.executable, "-c", CONTENDER, str(tmp_path / "run"), str(log), str(start), str(i)],
        cwd=repo, env=dict(os.environ, PYTHONPATH=str(repo)), stdout=subprocess.PIPE, text=True)
        for i in range(6)]
    wins = [int(p.communicate(timeout=120)[0].split()[-1]) for p in procs]
    assert sum(wins) > 0
    lines = log.read_text().split()
    assert len(lines) == 2 * sum(wins)
    for enter, leave in zip(lines[::2], lines[1::2]):  # Strictly +i, -i, +j, -j, ...
        assert enter[0] == "+" and leave == "-" + enter[1:], lines
    assert not (tmp_path / "run" / ".lock").exists()


def test_config_guard_and_overwrite(tmp_path):
    assert not workdir_lib.check_or_write_config(tmp_path, {"a": 1, "num_steps": 5}, ("num_steps",))
    assert workdir_lib.check_or_write_config(tmp_path, {"a": 1, "num_steps": 9}, ("num_steps",))
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(WorkdirError, match="different config"):
        workdir_lib.check_or_write_config(tmp_path, {"a": 2, "num_steps": 9}, ("num_steps",))
    workdir_lib.check_or_write_config(tmp_path, {"a": 2, "num_steps": 9}, ("num_steps",), overwrite=True)
    backups = list(tmp_path.glob("replaced-*"))
    assert len(backups) == 1 and (backups[0] / "checkpoints").is_dir()
    assert json.loads((backups[0] / "config.json").read_text())["a"] == 1



def test_config_guard_accepts_new_fields_at_their_defaults(tmp_path):
    # config.json written before a field existed: that field at its default still resumes.
    workdir_lib.check_or_write_config(tmp_path, {"a": 1})
    assert workdir_lib.check_or_write_config(tmp_path, {"a": 1, "crop": "resize"},
                                             defaults={"crop": "resize"})
    with pytest.raises(WorkdirError, match="crop"):
        workdir_lib.check_or_write_config(tmp_path / "x", {"a": 1})
        workdir_lib.check_or_write_config(tmp_path / "x", {"a": 1, "crop": "center"},
                                          defaults={"crop": "resize"})
    with pytest.raises(WorkdirError, match="crop"):  # Without defaults: a different config.
        workdir_lib.check_or_write_config(tmp_path / "y", {"a": 1})
        workdir_lib.check_or_write_config(tmp_path / "y", {"a": 1, "crop": "resize"})


def test_config_guard_treats_the_same_data_path_as_equal(tmp_path, monkeypatch):
    data = tmp_path / "images"
    data.mkdir()
    (tmp_path / "other").mkdir()
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.chdir(tmp_path)
    workdir_lib.check_or_write_config(run, {"data": [str(data), "builtin"]})
    assert workdir_lib.check_or_write_config(run, {"data": ["images", "builtin"]})
    assert workdir_lib.check_or_write_config(run, {"data": ["./images/", "builtin"]})
    for bad in (["other", "builtin"], ["images"], ["missing", "builtin"]):
        with pytest.raises(WorkdirError, match="different config"):
            workdir_lib.check_or_write_config(run, {"data": bad})

def test_atomic_directory_keeps_old_on_failure(tmp_path):
    target = tmp_path / "export"
    with workdir_lib.atomic_directory(target) as d:
        (d / "f").write_text("one")
    with pytest.raises(RuntimeError):
        with workdir_lib.atomic_directory(target) as d:
            (d / "f").write_text("two")
            raise RuntimeError("boom")
    assert (target / "f").read_text() == "one"
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


def test_global_gradients_flags_a_norm_above_max_grad_norm():
    v = tf.Variable([3.0, 4.0])

    def loss_fn(scale):
        return lambda: (scale * tf.reduce_sum(tf.square(v)) / 2.0, {})

    for scale, max_norm, ok in [(1.0, 10.0, True), (100.0, 10.0, False), (100.0, 0.0, True),
                                (np.inf, 0.0, False)]:
        grads, loss, _, norm, good = train_steps.global_gradients(
            loss_fn(scale), [v], clip_value=1.0, max_grad_norm=max_norm)
        assert bool(good) is ok, (scale, max_norm)
        if np.isfinite(scale):
            np.testing.assert_allclose(float(norm), 5.0 * scale, rtol=1e-6)  # Before clipping.
            np.testing.assert_allclose(grads[0].numpy(), np.clip([3 * scale, 4 * scale], -1, 1))


def test_skip_reason_names_the_cause():
    assert "above max_grad_norm" in loop._skip_reason({"loss": 1.0, "grad_norm": 1e9})
    assert loop._skip_reason({"loss": np.nan, "grad_norm": 1.0}) == "non-finite loss or gradient"
    assert loop._skip_reason({"loss": 1.0, "grad_norm": np.inf}) == "non-finite loss or gradient"


def test_best_record_restarts_when_the_metric_changes(tmp_path):
    from common.training import checkpoints
    v = tf.Variable(1.0)
    ckpts = checkpoints.Checkpoints(tmp_path, {"v": v})
    assert ckpts.maybe_save_best(1, 0.5, "loss")
    assert not ckpts.maybe_save_best(2, 0.7, "loss")
    assert ckpts.best_value("loss") == 0.5 and ckpts.best_value("nll_dequantised") is None
    # A resumed run that now picks on another metric does not compare across metrics.
    assert ckpts.maybe_save_best(3, 0.9, "nll_dequantised")
    assert json.loads((tmp_path / "best" / "best.json").read_text()) == {
        "step": 3, "metric": "nll_dequantised", "value": 0.9}
    assert not ckpts.maybe_save_best(4, 0.95, "nll_dequantised")


def test_loop_trims_only_the_first_step_eval_and_save(tmp_path, monkeypatch):
    blocks = []

    @contextlib.contextmanager
    def spy(interval=0.5):
        blocks.append(interval)
        yield

    monkeypatch.setattr(memory, "trimming", spy)
    _toy_run(tmp_path, 4)  # Evaluates and saves at steps 2 and 4.
    assert len(blocks) == 3  # The first step, the first evaluation, the first save.
