"""The model-agnostic training loop: steps, progress, summaries, evaluation, checkpoints, export."""

import contextlib
import dataclasses
import pathlib
import shutil
import signal
import sys
import threading
import time
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from common.errors import WorkdirError
from common.training import layout
from common.training import memory
from common.training import workdir as workdir_lib
from common.training.checkpoints import Checkpoints
from common.training.strategies import in_cluster, worker_info


# ----------------------------------------------------------------------------- progress

def _fmt_time(seconds):
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class Progress:
    """One terminal line per log interval: step, losses, throughput and ETA."""

    def __init__(self, start_step, num_steps, items_per_step, item_name, stream=None):
        self.start_step, self.num_steps = start_step, num_steps
        self.items_per_step, self.item_name = items_per_step, item_name
        self.stream = stream or sys.stdout
        self.t0 = time.time()
        self.last_t, self.last_step = self.t0, start_step

    def rate(self, step):
        now = time.time()
        dt, ds = now - self.last_t, step - self.last_step
        self.last_t, self.last_step = now, step
        return ds / dt if dt > 0 else 0.0

    def line(self, step, metrics, steps_per_s):
        done = step - self.start_step
        elapsed = time.time() - self.t0
        eta = elapsed / done * (self.num_steps - step) if done else 0.0
        losses = " ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        pct = 100.0 * step / max(self.num_steps, 1)
        print(f"step {step}/{self.num_steps} ({pct:.0f}%) | {losses} | {steps_per_s:.2f} steps/s "
              f"{steps_per_s * self.items_per_step:.1f} {self.item_name}/s | ETA {_fmt_time(eta)}",
              file=self.stream, flush=True)


# ----------------------------------------------------------------------------- stopping

class Stopped(KeyboardInterrupt):
    """Training stopped by SIGINT or SIGTERM after saving its step; exit_code is 128 + signal."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.exit_code = 128 + int(signum)


class _StopRequest:
    """While active, SIGINT and SIGTERM only ask the loop to stop after the running step.

    The first signal restores the previous handlers, so a second one acts at once. Only
    the main thread can set handlers; elsewhere (and across workers) signals act as before,
    and a signal the process ignores (SIGINT in a background job) stays ignored.
    """

    def __init__(self, enabled):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signum = None
        self._previous = {}

    def __enter__(self):
        if self.enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous = signal.getsignal(sig)
                if previous is not signal.SIG_IGN:
                    self._previous[sig] = previous
                    signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        del frame
        self.signum = signum
        self._restore()
        print(f"{signal.Signals(signum).name}: stopping after this step and saving it "
              "(send it again to stop at once).", file=sys.stderr, flush=True)

    def _restore(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._previous = {}

    def __exit__(self, *exc):
        self._restore()
        return False


# ----------------------------------------------------------------------------- the loop

@dataclasses.dataclass
class LoopSpec:
    """What a model's trainer hands the shared loop.

    Attributes:
      workdir: the run's folder.
      strategy: the tf.distribute strategy that owns the variables.
      num_steps, log_every, eval_every, save_every: step counts (num_steps is the total).
      step: an int64 tf.Variable counting finished steps (checkpointed).
      trackables: everything to checkpoint (model, optimizer, step, ...).
      make_dataset: start_step -> tf.data.Dataset of global batches from that step on.
      replica_step: batch -> dict of scalar metrics; it must update the weights itself
        (see global_gradients / apply_if_finite) and include "finite" (bool).
      items_per_step: examples per global batch, for the throughput figure.
      item_name: e.g. "sketches".
      evaluate: step -> dict of validation scalars (runs on the chief only).
      images: step -> dict of name -> (N, H, W, C) arrays for image summaries.
      export: path -> None, writes the SavedModel into the given (empty) folder.
      best_metric: validation key whose minimum picks the best checkpoint.
      shown_metrics: the metrics on the progress line (None: all of them).
      before_restore: called once before the latest checkpoint is restored.
      on_step: called with the step number after each step's own host work (the finite
        check, the progress line and scalars) and before that step's evaluation and save;
        benchmarks time the trainer with it.
    """

    workdir: pathlib.Path
    strategy: tf.distribute.Strategy
    num_steps: int
    log_every: int
    eval_every: int
    save_every: int
    step: tf.Variable
    trackables: Mapping[str, object]
    make_dataset: Callable[[int], tf.data.Dataset]
    replica_step: Callable[[Mapping[str, tf.Tensor]], Mapping[str, tf.Tensor]]
    items_per_step: int
    item_name: str = "examples"
    evaluate: Optional[Callable[[int], Mapping[str, float]]] = None
    images: Optional[Callable[[int], Mapping[str, np.ndarray]]] = None
    export: Optional[Callable[[pathlib.Path], None]] = None
    best_metric: Optional[str] = None
    shown_metrics: Optional[Sequence[str]] = None
    before_restore: Optional[Callable[[], None]] = None
    on_step: Optional[Callable[[int], None]] = None


def _scalars(writer, values, step):
    if writer is None:
        return
    with writer.as_default(step=step):
        for k, v in values.items():
            tf.summary.scalar(k, v)


def run(spec: LoopSpec):
    """Runs (or resumes) training to spec.num_steps; returns the last metrics as floats.

    SIGINT (Ctrl-C) or SIGTERM lets the running step finish, saves its checkpoint and
    raises Stopped; rerunning the same command resumes from that step. (Multi-worker
    runs, whose saves are collective, keep the default handling.)
    """
    strategy = spec.strategy
    chief, task_id = worker_info(strategy)
    with _StopRequest(enabled=not in_cluster(strategy)) as stop:
        return _run(spec, strategy, chief, task_id, stop)


def _run(spec, strategy, chief, task_id, stop):
    ckpts = Checkpoints(spec.workdir, spec.trackables, is_chief=chief, task_id=task_id)
    if spec.before_restore is not None:
        spec.before_restore()
    restored = ckpts.restore_latest()
    start = int(spec.step.numpy())
    if restored:
        print(f"Resuming from {restored} at step {start}.", flush=True)
    if start >= spec.num_steps:
        print(f"Already at step {start} >= num_steps {spec.num_steps}; nothing to train.", flush=True)

    events = spec.workdir / layout.EVENTS
    writer = tf.summary.create_file_writer(str(events / "train")) if chief else None
    eval_writer = tf.summary.create_file_writer(str(events / "valid")) if chief else None

    def step_fn(batch):
        per_replica = strategy.run(spec.replica_step, args=(batch,))
        out = {}
        for k, v in per_replica.items():
            if k == "finite":
                out[k] = tf.reduce_all(strategy.experimental_local_results(v))
            else:
                out[k] = strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
        spec.step.assign_add(1)
        return out

    step_fn = tf.function(step_fn)

    dataset = spec.make_dataset(start)
    dist = strategy.experimental_distribute_dataset(dataset)
    iterator = iter(dist)
    progress = Progress(start, spec.num_steps, spec.items_per_step, spec.item_name)
    last = {}
    skipped = 0
    step = start

    def save(step):
        ckpts.save(step)
        if spec.export is not None and chief:
            try:
                with workdir_lib.atomic_directory(spec.workdir / layout.EXPORT) as tmp:
                    spec.export(tmp)
            except (OSError, tf.errors.OpError) as e:  # E.g. a full disk: name it, keep the old.
                raise WorkdirError(
                    f"could not write the export {spec.workdir / 'export'} at step {step}: {e}. "
                    "The previous export is kept; the checkpoint of this step is saved.") from e

    def evaluate(step):
        if spec.evaluate is None:
            return
        values = {k: float(v) for k, v in spec.evaluate(step).items()}
        _scalars(eval_writer, values, step)
        print("eval step {}: {}".format(step, " ".join(f"{k} {v:.4g}" for k, v in values.items())),
              flush=True)
        if spec.best_metric and spec.best_metric in values:
            if ckpts.maybe_save_best(step, values[spec.best_metric], spec.best_metric):
                print(f"New best {spec.best_metric} {values[spec.best_metric]:.4g} at step {step}.",
                      flush=True)
        if spec.images is not None and chief:
            with eval_writer.as_default(step=step):
                for name, img in spec.images(step).items():
                    tf.summary.image(name, img, max_outputs=4)

    def flush_events():
        if writer is not None:
            writer.flush()
            eval_writer.flush()

    compiled = set()  # What this process has run once (and so compiled).

    def first_time(name):
        """Trims the heap while `name` first runs: its compile's freed heap is returned."""
        if name in compiled:
            return contextlib.nullcontext()
        compiled.add(name)
        return memory.trimming()

    while step < spec.num_steps:
        batch = next(iterator)
        with first_time("step"):
            metrics = step_fn(batch)
        step += 1
        finite = bool(metrics.pop("finite"))
        if not finite:
            skipped += 1
            why = _skip_reason(metrics)
            logging.warning("Step %d: %s; update skipped.", step, why)
            print(f"WARNING: step {step}: {why}, update skipped ({skipped} so far).",
                  file=sys.stderr, flush=True)
        if step % spec.log_every == 0 or step == spec.num_steps or step == start + 1:
            last = {k: float(v) for k, v in metrics.items()}
            rate = progress.rate(step)
            scal = dict(last, skipped_steps=float(skipped))
            if step > start + 1:
                scal[f"{spec.item_name}_per_s"] = rate * spec.items_per_step
            _scalars(writer, scal, step)
            shown = spec.shown_metrics
            progress.line(step, {k: v for k, v in last.items() if shown is None or k in shown},
                          rate)
        if spec.on_step is not None:
            spec.on_step(step)
        if step % spec.eval_every == 0 or step == spec.num_steps:
            with first_time("evaluate"):
                evaluate(step)
        if step % spec.save_every == 0 or step == spec.num_steps:
            with first_time("save"):
                save(step)
        elif stop.signum is not None:
            ckpts.save(step)  # The checkpoint only: quick, within a scheduler's grace period.
        if stop.signum is not None and step < spec.num_steps:
            flush_events()
            name = signal.Signals(stop.signum).name
            raise Stopped(f"{name} at step {step}/{spec.num_steps}: its checkpoint is saved in "
                          f"{spec.workdir / layout.CHECKPOINTS}; rerun the same command to "
                          "resume", stop.signum)
    flush_events()
    if not chief:
        shutil.rmtree(spec.workdir / f".worker-{task_id}", ignore_errors=True)
    elif spec.export is not None and start >= spec.num_steps and not (spec.workdir / layout.EXPORT).exists():
        with workdir_lib.atomic_directory(spec.workdir / layout.EXPORT) as tmp:
            spec.export(tmp)
    return last


def _skip_reason(metrics):
    """Why a step's update was skipped, from its metrics."""
    loss = float(metrics.get("loss", np.nan))
    norm = float(metrics.get("grad_norm", np.nan))
    if np.isfinite(loss) and np.isfinite(norm):
        return f"gradient norm {norm:.3g} above max_grad_norm"
    return "non-finite loss or gradient"


def describe_outputs(workdir):
    """A short, printable list of where a run's outputs are."""
    workdir = pathlib.Path(workdir)
    lines = [f"workdir:      {workdir}"]
    for name, what in ((layout.CONFIG, "config"), (layout.CHECKPOINTS, "checkpoints"),
                       (layout.BEST, "best-on-validation checkpoint"), (layout.EXPORT, "SavedModel"),
                       (layout.EVENTS, "TensorBoard logs (tensorboard --logdir {})")):
        p = workdir / name
        if p.exists():
            lines.append(f"{what.format(p)}: {p}")
    return "\n".join(lines)
