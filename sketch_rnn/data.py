"""Sketch RNN data: load the configured stroke sources and build the training pipeline."""

import json
import pathlib

import numpy as np

from common.strokes import dataset as stroke_data
from common import files as workdir_lib
from common.training import layout

DATA_INFO = layout.DATA


def load(config):
    """Loads config.data into clamped, length-filtered, normalised splits."""
    return stroke_data.load_strokes(list(config.data), max_seq_len=config.max_seq_len,
                                    seed=config.seed)


def train_pipeline(splits, config):
    """The deterministic, resumable training pipeline (batch k depends only on seed and k)."""
    return stroke_data.StrokePipeline(
        splits.train, splits.train_labels, batch_size=config.batch_size,
        max_seq_len=config.max_seq_len, seed=config.seed, augment=True,
        random_scale_factor=config.random_scale_factor,
        augment_stroke_prob=config.augment_stroke_prob)


def eval_subset(n, limit, seed):
    """Indices of the examples a trainer evaluates: all `n`, or `limit` of them (limit > 0,
    fewer than n) drawn once with `seed`, in their order, so every evaluation sees the same
    ones and a split sorted by class keeps its mix of classes."""
    if not limit or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def eval_pipeline(splits, config, split="valid"):
    """Pipeline over the valid or test split (at most config.eval_max_sketches of it, the
    same ones each time), without augmentation."""
    sketches = getattr(splits, split)
    labels = getattr(splits, f"{split}_labels")
    if not sketches:  # Tiny datasets may have no validation split: evaluate on train.
        sketches, labels = splits.train, splits.train_labels
    keep = eval_subset(len(sketches), config.eval_max_sketches, config.seed)
    if len(keep) < len(sketches):
        sketches, labels = [sketches[i] for i in keep], np.asarray(labels)[keep]
    return stroke_data.StrokePipeline(
        sketches, labels, batch_size=config.batch_size, max_seq_len=config.max_seq_len,
        seed=config.seed, augment=False)


def info(splits):
    """What inference needs to know about the data (scale factor, classes, counts)."""
    return {
        "scale_factor": float(splits.scale_factor),
        "class_names": list(splits.class_names),
        "max_seq_len": int(splits.max_seq_len),
        "num_train": len(splits.train),
        "num_valid": len(splits.valid),
        "num_test": len(splits.test),
    }


def write_info(workdir, splits):
    workdir_lib.atomic_write_text(pathlib.Path(workdir) / DATA_INFO,
                                  json.dumps(info(splits), indent=2) + "\n")
