"""Shared training loop: strategies, guarded optimiser steps, checkpoints with resume, summaries, exports."""

import contextlib
import dataclasses
import json
import os
import pathlib
import shutil
import sys
import time
from typing import Callable, Mapping, Optional

import numpy as np
import tensorflow as tf
from absl import logging

from common import memory
from common import workdir as workdir_lib
from common.errors import WorkdirError

STRATEGIES = ("default", "mirrored", "multi_worker")


# ----------------------------------------------------------------------------- strategies

def make_strategy(name):
    """Returns the tf.distribute strategy for a --strategy flag value.

    "mirrored" uses every GPU, or every logical CPU when there is no GPU (so it can be
    tested with two logical CPU devices). "multi_worker" reads TF_CONFIG.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy(devices=[d.name for d in gpus])
        # On CPUs, reduce through one device: collective ops on logical CPUs can run in
        # different orders on the two replicas and abort.
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(
            devices=cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def worker_info(strategy):
    """(is_chief, task_id) for the current process under `strategy`."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, 0
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0
                                     and "chief" not in resolver.cluster_spec().as_dict())
    return chief, task_id


def seed_generator_states(model):
    """The state variables of every keras SeedGenerator in `model` (dropout, sampling).

    tf.train.Checkpoint does not track SeedGenerators, so trainers add these to their
    checkpoints; without them a resumed run would draw different random numbers.
    """
    states, seen = [], set()
    for layer in [model] + list(model._flatten_layers(include_self=False)):
        for gen in getattr(layer, "_seed_generators", []):
            if id(gen) not in seen:
                seen.add(id(gen))
                states.append(gen.state)
    return states


# ----------------------------------------------------------------------------- optimiser step

def global_gradients(loss_fn, variables, clip_value, jit_compile=False, max_grad_norm=0.0):
    """Gradients of the global-mean loss, all-reduced over replicas and clipped element-wise.

    Args:
      loss_fn: () -> (loss, aux) where loss is the mean over this replica's examples.
      variables: trainable variables.
      clip_value: element-wise clip bound (<= 0 turns clipping off).
      jit_compile: XLA-compile the forward and backward pass.
      max_grad_norm: a step whose global gradient norm (before clipping) is above this is
        marked bad, like a non-finite one, so that `apply_if_finite` skips it (<= 0: off).

    Returns:
      (grads, loss, aux, grad_norm, ok): the gradients are identical on every replica; `ok`
      is false when the loss or a gradient is non-finite or the norm is above max_grad_norm.
    """
    ctx = tf.distribute.get_replica_context()
    n = ctx.num_replicas_in_sync if ctx is not None else 1

    def local():
        with tf.GradientTape() as tape:
            loss, aux = loss_fn()
            scaled = loss / tf.cast(n, loss.dtype)
        grads = tape.gradient(scaled, variables)
        grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
                 for g, v in zip(grads, variables)]
        return loss, aux, grads

    if jit_compile:
        local = tf.function(local, jit_compile=True)
    loss, aux, grads = local()
    if ctx is not None and n > 1:
        grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
    finite = tf.logical_and(finite, tf.math.is_finite(loss))
    grad_norm = tf.linalg.global_norm(grads)
    if max_grad_norm and max_grad_norm > 0:
        finite = tf.logical_and(finite, grad_norm <= max_grad_norm)
    if clip_value and clip_value > 0:
        grads = [tf.clip_by_value(g, -clip_value, clip_value) for g in grads]
    return grads, loss, aux, grad_norm, finite


def apply_if_finite(optimizer, grads, variables, finite):
    """Applies `grads` (already all-reduced) only when `finite` is true on every replica.

    Keras' TF optimizer sums gradients over replicas again, so they are divided by the
    replica count first. Under a real distribution strategy the branch runs in
    cross-replica context, as Keras' LossScaleOptimizer does it.
    """
    ctx = tf.distribute.get_replica_context()
    n = ctx.num_replicas_in_sync if ctx is not None else 1
    grads = [g / tf.cast(n, g.dtype) for g in grads]

    def apply():
        optimizer.apply_gradients(zip(grads, variables))

    if not tf.distribute.has_strategy():  # Default strategy: a plain cond is fine.
        tf.cond(finite, lambda: (apply(), tf.constant(True))[1], lambda: tf.constant(False))
        return

    def cross_replica(distribution, grads, finite):
        finite0 = distribution.experimental_local_results(finite)[0]

        def do_apply():
            distribution.extended.call_for_each_replica(
                lambda g: optimizer.apply_gradients(zip(g, variables)), args=(grads,))
            return tf.constant(True)

        tf.cond(finite0, do_apply, lambda: tf.constant(False))

    ctx.merge_call(cross_replica, args=(grads, finite))


# ----------------------------------------------------------------------------- checkpoints

class Checkpoints:
    """Latest-N checkpoints plus a separate best-on-validation one.

    Restoring falls back to older checkpoints, with a warning, when the newest is
    unreadable (e.g. truncated by a crash).
    """

    def __init__(self, workdir, trackables, is_chief=True, task_id=0, max_to_keep=3):
        self.workdir = pathlib.Path(workdir)
        self.ckpt = tf.train.Checkpoint(**trackables)
        self.is_chief = is_chief
        if is_chief:
            ckpt_dir, best_dir = self.workdir / "checkpoints", self.workdir / "best"
        else:  # Non-chief workers must save too (collective ops), into a scratch dir.
            ckpt_dir = self.workdir / f".worker-{task_id}" / "checkpoints"
            best_dir = self.workdir / f".worker-{task_id}" / "best"
        self.manager = tf.train.CheckpointManager(self.ckpt, str(ckpt_dir), max_to_keep=max_to_keep)
        self.best_manager = tf.train.CheckpointManager(self.ckpt, str(best_dir), max_to_keep=1)
        self.best_file = self.workdir / "best" / "best.json"

    def restore_latest(self):
        """Restores the newest readable checkpoint; returns its path or None."""
        candidates = list(reversed(self.manager.checkpoints))
        for i, path in enumerate(candidates):
            try:
                self.ckpt.restore(path).assert_existing_objects_matched()
            except (tf.errors.OpError, AssertionError, ValueError, IndexError, KeyError, OSError) as e:
                logging.warning("Checkpoint %s is unreadable (%s); trying an older one.",
                                path, str(e).splitlines()[0][:200])
                print(f"WARNING: checkpoint {path} is unreadable; falling back to an older one.",
                      file=sys.stderr, flush=True)
                continue
            if i:
                print(f"Resumed from older checkpoint {path}.", flush=True)
            return path
        if candidates:
            raise WorkdirError(
                f"no readable checkpoint in {self.manager.directory}; move it away to start over")
        return None

    def save(self, step):
        try:
            return self.manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as e:
            last = self.manager.latest_checkpoint
            raise WorkdirError(
                f"could not write a checkpoint in {self.manager.directory} at step {step}: {e}. "
                f"The previous checkpoint ({last}) is kept.") from e

    def best_value(self):
        try:
            return json.loads(self.best_file.read_text())["value"]
        except (OSError, ValueError, KeyError):
            return None

    def maybe_save_best(self, step, value, metric):
        """Saves the best checkpoint when `value` (lower is better) improves."""
        if value is None or not np.isfinite(value):
            return False
        best = self.best_value()
        if best is not None and value >= best:
            return False
        try:
            self.best_manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as e:
            raise WorkdirError(
                f"could not write the best checkpoint in {self.best_manager.directory} at step "
                f"{step}: {e}. The previous best checkpoint is kept.") from e
        if self.is_chief:
            workdir_lib.atomic_write_text(
                self.best_file, json.dumps({"step": int(step), "metric": metric, "value": float(value)}))
        return True


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
    before_restore: Optional[Callable[[], None]] = None


def _scalars(writer, values, step):
    if writer is None:
        return
    with writer.as_default(step=step):
        for k, v in values.items():
            tf.summary.scalar(k, v)


def run(spec: LoopSpec):
    """Runs (or resumes) training to spec.num_steps; returns the last metrics as floats."""
    strategy = spec.strategy
    chief, task_id = worker_info(strategy)
    ckpts = Checkpoints(spec.workdir, spec.trackables, is_chief=chief, task_id=task_id)
    if spec.before_restore is not None:
        spec.before_restore()
    restored = ckpts.restore_latest()
    start = int(spec.step.numpy())
    if restored:
        print(f"Resuming from {restored} at step {start}.", flush=True)
    if start >= spec.num_steps:
        print(f"Already at step {start} >= num_steps {spec.num_steps}; nothing to train.", flush=True)

    events = spec.workdir / "events"
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
                with workdir_lib.atomic_directory(spec.workdir / "export") as tmp:
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
            progress.line(step, {k: v for k, v in last.items() if k in _SHOWN or k.startswith("L_")},
                          rate)
        if step % spec.eval_every == 0 or step == spec.num_steps:
            with first_time("evaluate"):
                evaluate(step)
        if step % spec.save_every == 0 or step == spec.num_steps:
            with first_time("save"):
                save(step)
    if writer is not None:
        writer.flush()
        eval_writer.flush()
    if not chief:
        shutil.rmtree(spec.workdir / f".worker-{task_id}", ignore_errors=True)
    elif spec.export is not None and start >= spec.num_steps and not (spec.workdir / "export").exists():
        with workdir_lib.atomic_directory(spec.workdir / "export") as tmp:
            spec.export(tmp)
    return last


_SHOWN = ("loss", "recon", "mmd")


def _skip_reason(metrics):
    """Why a step's update was skipped, from its metrics."""
    loss = float(metrics.get("loss", np.nan))
    norm = float(metrics.get("grad_norm", np.nan))
    if np.isfinite(loss) and np.isfinite(norm):
        return f"gradient norm {norm:.3g} above max_grad_norm"
    return "non-finite loss or gradient"


def run_in_workdir(workdir, config_dict, resumable_fields, overwrite, strategy, prepare, body):
    """prepare() first (data, model: whatever can fail on bad input), then the workdir lock
    (chief only) and the config.json check, then body(prepared).

    Nothing is written into the workdir until prepare() has succeeded.
    """
    workdir = pathlib.Path(workdir)
    prepared = prepare()
    chief, _ = worker_info(strategy)
    if not chief:
        return body(prepared)
    with workdir_lib.WorkdirLock(workdir):
        workdir_lib.check_or_write_config(workdir, config_dict, resumable_fields, overwrite)
        workdir_lib.recover_directory(workdir / "export")
        return body(prepared)


def describe_outputs(workdir):
    """A short, printable list of where a run's outputs are."""
    workdir = pathlib.Path(workdir)
    lines = [f"workdir:      {workdir}"]
    for name, what in (("config.json", "config"), ("checkpoints", "checkpoints"),
                       ("best", "best-on-validation checkpoint"), ("export", "SavedModel"),
                       ("events", "TensorBoard logs (tensorboard --logdir {})")):
        p = workdir / name
        if p.exists():
            lines.append(f"{what.format(p)}: {p}")
    return "\n".join(lines)


def env_flag(name, default=False):
    v = os.environ.get(name)
    return default if v is None else v.lower() in ("1", "true", "yes")
