"""SIGKILL the real trainer CLIs at chosen moments, rerun the same command, compare with an unbroken run."""

import concurrent.futures
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.support.killhook import ENV
from tests.support.trainers import REFERENCE_STEPS, TRAINERS

REPO = pathlib.Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 600


def command(model, workdir, num_steps, save_every, eval_every, hook=None):
    """The trainer command line; with a hook it runs through tests.support.killhook."""
    args = TRAINERS[model] + [f"--workdir={workdir}", f"--num_steps={num_steps}",
                            f"--save_every={save_every}", f"--eval_every={eval_every}"]
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop(ENV, None)
    if hook:
        env[ENV] = hook
        return [sys.executable, "-m", "tests.support.killhook"] + args, env
    return [sys.executable, "-m"] + args, env


def launch(cmd, env, log):
    """Starts cmd with the default SIGINT handler: pytest-xdist workers ignore SIGINT and
    children inherit that, where a terminal's Ctrl-C would interrupt them."""
    with open(log, "wb") as f:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(proc, pred, timeout=RUN_TIMEOUT, poll=0.01):
    """Polls pred() until it is true (returns True) or the process ends (returns False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        if proc.poll() is not None:
            return pred()
        time.sleep(poll)
    proc.kill()
    raise AssertionError("timed out waiting for the trainer")


def latest_step(workdir):
    """Step of the newest checkpoint the `checkpoint` state file names (None if none)."""
    path = tf.train.latest_checkpoint(str(pathlib.Path(workdir) / "checkpoints"))
    return int(path.rsplit("-", 1)[1]) if path else None


def checkpoint_state(workdir):
    """Every checkpointed tensor of the newest checkpoint, by name (save_counter left out)."""
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(workdir / "checkpoints")))
    return {n: reader.get_tensor(n) for n in sorted(reader.get_variable_to_shape_map())
            if n != "_CHECKPOINTABLE_OBJECT_GRAPH" and not n.startswith("save_counter")}


def assert_no_corrupt_checkpoint(workdir):
    """Every checkpoint the state files of checkpoints/ and best/ name reads back completely."""
    n = 0
    for sub in ("checkpoints", "best"):
        state = tf.train.get_checkpoint_state(str(workdir / sub))
        for path in (state.all_model_checkpoint_paths if state else []):
            reader = tf.train.load_checkpoint(path)
            for name in reader.get_variable_to_shape_map():
                reader.get_tensor(name)
            n += 1
    assert (workdir / "export" / "saved_model.pb").stat().st_size > 0
    return n


BIG_DEBRIS = ("checkpoints/*_temp", "best/*_temp", ".export.tmp-*", ".export.old-*")


def leftovers(workdir, patterns=BIG_DEBRIS + (".*.tmp",)):
    """Temp files and folders a killed write left behind (names only)."""
    return sorted(str(p.relative_to(workdir)) for pat in patterns for p in workdir.glob(pat))


def run_killed(model, workdir, num_steps, save_every, eval_every, kill, log):
    """Runs the trainer and SIGKILLs it at `kill`; returns its output.

    kill: ("hook", "<point>:<n>") inside the process, ("step", k) after "step k/" is printed,
    ("export_tmp",) while an export temp folder exists, ("delay", seconds) after the first step.
    """
    hook = kill[1] if kill[0] == "hook" else None
    cmd, env = command(model, workdir, num_steps, save_every, eval_every, hook)
    proc = launch(cmd, env, log)
    text = lambda: log.read_text(errors="replace")  # noqa: E731
    if kill[0] == "hook":
        proc.wait(timeout=RUN_TIMEOUT)
    else:
        if kill[0] == "step":
            hit = wait_for(proc, lambda: f"step {kill[1]}/" in text())
        elif kill[0] == "export_tmp":
            hit = wait_for(proc, lambda: any(workdir.glob(".export.tmp-*")), poll=0.005)
        else:
            hit = wait_for(proc, lambda: "step 1/" in text())
            time.sleep(kill[1])
        assert hit, text()[-3000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, text()[-3000:])
    return text()


def resume(model, workdir, num_steps, save_every, eval_every, log):
    cmd, env = command(model, workdir, num_steps, save_every, eval_every)
    proc = launch(cmd, env, log)
    proc.wait(timeout=RUN_TIMEOUT)
    out = log.read_text(errors="replace")
    assert proc.returncode == 0, out[-4000:]
    return out


def kill_and_resume(model, workdir, kills, num_steps, save_every, eval_every=100):
    """Kills at each moment in turn (each rerun is the same command), then runs to the end.

    Returns one observation dict per kill.
    """
    workdir = pathlib.Path(workdir)
    observations = []
    for i, kill in enumerate(kills):
        killed_out = run_killed(model, workdir, num_steps, save_every, eval_every, kill,
                                workdir.parent / f"{workdir.name}.kill{i}.log")
        last = latest_step(workdir)
        lock_left = (workdir / ".lock").exists()
        debris = leftovers(workdir)
        out = None  # Before the last kill, the next kill happens during the rerun itself.
        if i == len(kills) - 1:
            out = resume(model, workdir, num_steps, save_every, eval_every,
                         workdir.parent / f"{workdir.name}.run{i}.log")
        if i and observations[-1]["last_complete"] is not None:  # This rerun resumed first.
            prev = observations[-1]["last_complete"]
            assert f"ckpt-{prev} at step {prev}." in killed_out, killed_out[-3000:]
        observations.append({"kill": kill, "last_complete": last, "lock_left": lock_left,
                             "debris": debris, "resume_out": out})
    return observations


def check_resume(obs, num_steps):
    """The rerun resumed from the last complete checkpoint and the step counter went on."""
    out, last = obs["resume_out"], obs["last_complete"]
    if last is None:
        assert "Resuming from" not in out
        first = 1
    else:
        assert "Resuming from " in out and f"ckpt-{last} at step {last}." in out, out[-3000:]
        first = last + 1
    steps = [int(s) for s in re.findall(r"^step (\d+)/", out, flags=re.M)]
    assert steps and steps[0] == first and steps[-1] == num_steps, steps
    if obs["lock_left"]:
        assert "Removing stale lock" in out, out[-3000:]
    assert "unreadable" not in out  # No fallback needed: no complete checkpoint was damaged.


def reference_run(model, workdir, num_steps, eval_every):
    """An uninterrupted CLI run (one save, at the end)."""
    log = pathlib.Path(str(workdir) + ".log")
    resume(model, workdir, num_steps, num_steps, eval_every, log)
    return checkpoint_state(pathlib.Path(workdir))


def assert_same_weights(a, b):
    assert a.keys() == b.keys() and a
    diffs = {k: float(np.max(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64))))
             for k in a if a[k].dtype.kind in "fiu" and a[k].size}
    worst = max(diffs.values())
    assert worst == 0.0, sorted(diffs.items(), key=lambda kv: -kv[1])[:5]


def scenario(model, tmp, name, kills, num_steps, save_every, eval_every=100):
    workdir = tmp / name
    obs = kill_and_resume(model, workdir, kills, num_steps, save_every, eval_every)
    check_resume(obs[-1], num_steps)
    n_ckpts = assert_no_corrupt_checkpoint(workdir)
    return workdir, obs, n_ckpts


# ----------------------------------------------------------------------------- default run

DEFAULT_KILLS = {  # save_every=2, num_steps=4.
    # Sketch RNN: killed inside the step-4 checkpoint write (data written, not merged).
    "sketch_rnn": (("hook", "ckpt_shard:4"), 2),
    # WAE: an external SIGKILL while the step-2 export is being written (checkpoint 2 done).
    "wae_style": (("export_tmp",), 2),
}


def test_kill_once_and_resume(tmp_path, reference_runs, record):
    """One kill per model; the reference is the session's uninterrupted CLI run."""
    num_steps, save_every = REFERENCE_STEPS, 2
    with concurrent.futures.ThreadPoolExecutor(len(DEFAULT_KILLS)) as pool:  # Both at once.
        futures = {model: pool.submit(scenario, model, tmp_path, f"{model}-killed", [kill],
                                      num_steps, save_every)
                   for model, (kill, _) in DEFAULT_KILLS.items()}
        results = {model: f.result() for model, f in futures.items()}
    for model, (kill, expect_last) in DEFAULT_KILLS.items():
        workdir, obs, n_ckpts = results[model]
        assert obs[0]["last_complete"] == expect_last, model
        got = checkpoint_state(workdir)
        assert int(got["step/.ATTRIBUTES/VARIABLE_VALUE"]) == num_steps
        assert_same_weights(got, checkpoint_state(reference_runs[model]))
        assert leftovers(workdir) == []  # The killed write's temp folders were cleaned up.
        record("kill_resume", model=model, kill=kill, resumed_from=obs[0]["last_complete"],
               lock_left=obs[0]["lock_left"], debris_after_kill=obs[0]["debris"],
               checkpoints_read=n_ckpts, weights="bit-identical")


@pytest.mark.parametrize("sig", [pytest.param(signal.SIGINT, marks=pytest.mark.slow),
                                 signal.SIGTERM])  # The loop's own test covers both signals.
def test_a_signal_saves_the_running_step_and_the_same_command_resumes(tmp_path, sig):
    """Ctrl-C or SIGTERM mid-run (no save due): the step is checkpointed, exit 128 + signal
    with one line and no traceback; rerunning the same command resumes from that step."""
    workdir, log = tmp_path / "interrupted", tmp_path / "interrupted.log"
    cmd, env = command("sketch_rnn", workdir, 100000, 100000, 100000)
    proc = launch(cmd, env, log)
    try:
        assert wait_for(proc, lambda: "step 3/" in log.read_text(errors="replace"))
        proc.send_signal(sig)
        assert proc.wait(timeout=120) == 128 + sig
    finally:
        proc.kill()
    text = log.read_text()
    step = latest_step(workdir)
    assert step is not None and step >= 3, text[-2000:]
    assert "Traceback" not in text, text[-2000:]
    assert f"stopped: {sig.name} at step {step}/100000: its checkpoint is saved" in text, text[-2000:]
    cmd, env = command("sketch_rnn", workdir, step + 1, 2, 100000)
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=RUN_TIMEOUT)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"ckpt-{step} at step {step}." in res.stdout + res.stderr
    assert latest_step(workdir) == step + 1


# ----------------------------------------------------------------------------- slow: many moments

SLOW_SCENARIOS = {
    # name: (kills in order, save_every)
    "step3": ([("step", 3)], 1),
    "timed": ([("delay", 1.7)], 1),
    "ckpt_shard": ([("hook", "ckpt_shard:3")], 1),
    "ckpt_state": ([("hook", "ckpt_state:3")], 1),
    "ckpt_sweep": ([("hook", "ckpt_sweep:5")], 1),
    "best": ([("hook", "best:1")], 1),
    "export": ([("hook", "export:2")], 1),
    "export_swap": ([("hook", "export_swap:2")], 1),
    "config": ([("hook", "config:1")], 1),
    "three_in_a_row": ([("hook", "ckpt_shard:2"), ("hook", "export_swap:2"), ("step", 5)], 1),
}
SLOW_STEPS = 6


@pytest.mark.slow
@pytest.mark.parametrize("model", ["sketch_rnn", "wae_style"])
def test_kill_at_many_moments(tmp_path, model, record):
    eval_every = 2  # Evaluations (and best/ writes) happen between the kills too.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        ref = pool.submit(reference_run, model, tmp_path / "reference", SLOW_STEPS, eval_every)
        futures = {name: pool.submit(scenario, model, tmp_path, name, kills, SLOW_STEPS,
                                     save_every, eval_every)
                   for name, (kills, save_every) in SLOW_SCENARIOS.items()}
        want = ref.result()
        results = {name: f.result() for name, f in futures.items()}
    summary = {}
    for name, (workdir, obs, n_ckpts) in results.items():
        got = checkpoint_state(workdir)
        assert int(got["step/.ATTRIBUTES/VARIABLE_VALUE"]) == SLOW_STEPS, name
        assert_same_weights(got, want)
        assert leftovers(workdir, BIG_DEBRIS) == [], name  # No temp checkpoint or export left.
        summary[name] = {"resumed_from": [o["last_complete"] for o in obs],
                         "debris_after_kill": [o["debris"] for o in obs],
                         "small_temp_files_at_end": leftovers(workdir),
                         "checkpoints_read": n_ckpts}
    record("kill_resume_slow", model=model, kills=sum(len(k) for k, _ in SLOW_SCENARIOS.values()),
           scenarios=summary, weights="bit-identical")
