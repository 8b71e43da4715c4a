"""Latest-N and best-on-validation checkpoints, with fallback to older ones on a bad file."""

import json
import logging
import pathlib
import sys

import numpy as np
import tensorflow as tf

from common.errors import DataError, WorkdirError
from common.files import atomic_write_text
from common.training.layout import BEST, CHECKPOINTS


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
            ckpt_dir, best_dir = self.workdir / CHECKPOINTS, self.workdir / BEST
        else:  # Non-chief workers must save too (collective ops), into a scratch dir.
            ckpt_dir = self.workdir / f".worker-{task_id}" / CHECKPOINTS
            best_dir = self.workdir / f".worker-{task_id}" / BEST
        self.manager = tf.train.CheckpointManager(self.ckpt, str(ckpt_dir), max_to_keep=max_to_keep)
        self.best_manager = tf.train.CheckpointManager(self.ckpt, str(best_dir), max_to_keep=1)
        self.best_file = self.workdir / BEST / "best.json"

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

    def best_value(self, metric=None):
        """The best value saved so far; None if none, or if it was chosen on another metric."""
        try:
            best = json.loads(self.best_file.read_text())
            if metric is not None and best.get("metric", metric) != metric:
                return None  # The run now picks on another metric: start its record afresh.
            return best["value"]
        except (OSError, ValueError, KeyError, AttributeError):
            return None

    def maybe_save_best(self, step, value, metric):
        """Saves the best checkpoint when `value` (lower is better) improves."""
        if value is None or not np.isfinite(value):
            return False
        best = self.best_value(metric)
        if best is not None and value >= best:
            return False
        try:
            self.best_manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as e:
            raise WorkdirError(
                f"could not write the best checkpoint in {self.best_manager.directory} at step "
                f"{step}: {e}. The previous best checkpoint is kept.") from e
        if self.is_chief:
            atomic_write_text(
                self.best_file, json.dumps({"step": int(step), "metric": metric, "value": float(value)}))
        return True


def kept_checkpoints(workdir):
    """{step: checkpoint path} of every checkpoint kept in checkpoints/ and best/."""
    kept = {}
    for folder in (CHECKPOINTS, BEST):
        state = tf.train.get_checkpoint_state(str(pathlib.Path(workdir) / folder))
        for path in (state.all_model_checkpoint_paths if state else []):
            kept[step_of(path)] = path
    return kept


def step_of(path):
    """The step a checkpoint path was saved at (CheckpointManager's ckpt-<step>)."""
    return int(str(path).rsplit("-", 1)[-1])


def latest_checkpoint(workdir, folder=CHECKPOINTS):
    """The newest checkpoint path in workdir/folder, or None."""
    return tf.train.latest_checkpoint(str(pathlib.Path(workdir) / folder))


def checkpoint_path(workdir, which="latest"):
    """The checkpoint `which` names: "latest", "best", or a kept step number.

    Raises:
        DataError: a bad name, or no such checkpoint (the kept steps are named).
    """
    if which == "best":
        path = latest_checkpoint(workdir, BEST)
    elif which == "latest":
        path = latest_checkpoint(workdir, CHECKPOINTS)
    elif str(which).isdigit():
        path = kept_checkpoints(workdir).get(int(which))
    else:
        raise DataError(f"--checkpoint={which!r}: give best, latest or a step number")
    if path is None:
        steps = ", ".join(str(s) for s in sorted(kept_checkpoints(workdir))) or "none"
        raise DataError(f"{workdir}: no {which} checkpoint (steps kept: {steps})")
    return path
