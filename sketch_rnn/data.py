"""Sketch RNN data: load the configured stroke sources and build the training pipeline."""

import json
import pathlib

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


def eval_pipeline(splits, config, split="valid"):
    """Pipeline over the valid or test split, without augmentation."""
    sketches = getattr(splits, split)
    labels = getattr(splits, f"{split}_labels")
    if not sketches:  # Tiny datasets may have no validation split: evaluate on train.
        sketches, labels = splits.train, splits.train_labels
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
