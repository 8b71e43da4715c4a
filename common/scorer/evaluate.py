"""Scorer evaluation: accuracy, per-class accuracy and confusion of a split, markdown reports."""

import math
import pathlib

import keras
import numpy as np
import tensorflow as tf

from common.errors import DataError
from common.files import atomic_write_text
from common.scorer import export as export_lib
from common.scorer import raster
from common.scorer.data import BitmapSplits, resize_bitmaps
from common.strokes.formats import pad_stroke3


TEST_REPORT = "test_report.md"
TEST_METRICS = "test_metrics.json"


class Predictor:
    """Class probabilities from an in-process AlexNet or an exported SavedModel."""

    def __init__(self, model_or_export, config=None):
        if isinstance(model_or_export, (str, pathlib.Path)):
            model_or_export = export_lib.load(model_or_export)
        self.target = model_or_export
        if isinstance(model_or_export, keras.Model):
            size = model_or_export.image_size
            lw, pad = (config.line_width, config.padding) if config is not None else (0, 0)
            model = model_or_export
            self.size = size
            self._strokes = tf.function(
                lambda s, n: tf.nn.softmax(model(raster.rasterize_tf(s, n, size, lw, pad))),
                input_signature=[tf.TensorSpec([None, None, 3], tf.float32),
                                 tf.TensorSpec([None], tf.int32)])
            self._images = tf.function(lambda x: tf.nn.softmax(model(x)), input_signature=[
                tf.TensorSpec([None, size, size, 1], tf.float32)])
        elif hasattr(model_or_export, "score"):
            self.size = int(export_lib.metadata(model_or_export)["image_size"])
            self._strokes = lambda s, n: model_or_export.score(strokes=s, lengths=n)["probs"]
            self._images = lambda x: model_or_export.score_images(images=x)["probs"]
        else:
            raise TypeError(f"evaluate_split: expected an AlexNet, a loaded export or a path, "
                            f"got {type(model_or_export).__name__}")

    def strokes(self, sketches):
        s, n = pad_stroke3(sketches)
        return np.asarray(self._strokes(tf.constant(s), tf.constant(n)))

    def bitmaps(self, images):
        return np.asarray(self._images(resize_bitmaps(images, self.size)))


def evaluate_split(model_or_export, splits, split="test", config=None, batch_size=128):
    """Accuracy, per-class accuracy and the confusion matrix of one split.

    Args:
      model_or_export: an in-process AlexNet, a loaded export (tf.saved_model.load), or the
        path of a workdir / export folder.
      splits: StrokeSplits or BitmapSplits.
      split: "train", "valid" or "test".
      config: the AlexNetConfig (raster line width / padding for an in-process model;
        None uses render's defaults). Exports carry their own settings.
      batch_size: examples per forward pass.

    Returns:
      dict: accuracy, loss (mean -log p(true class)), mean_true_prob, num_examples,
      per_class {class name: accuracy, or None without examples}, per_class_count
      {class name: n}, confusion (C, C) int64 (rows = true class, columns = predicted),
      class_names, split.

    Raises:
      DataError: the split is empty or a label is out of range.
    """
    items, labels = splits.split(split)
    labels = np.asarray(labels, dtype=np.int64)
    names = list(splits.class_names)
    c = len(names)
    if len(items) == 0:
        raise DataError(f"evaluate_split: split {split!r} is empty")
    if labels.min() < 0 or labels.max() >= c:
        raise DataError(f"evaluate_split: labels outside [0, {c}) in split {split!r}")
    predictor = (model_or_export if isinstance(model_or_export, Predictor)
                 else Predictor(model_or_export, config))
    bitmaps = isinstance(splits, BitmapSplits)
    probs = []
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        probs.append(predictor.bitmaps(chunk) if bitmaps else predictor.strokes(list(chunk)))
    probs = np.concatenate(probs)  # (n, C)
    if probs.shape[1] != c:
        raise DataError(f"evaluate_split: the model has {probs.shape[1]} classes, the data {c}")
    pred = probs.argmax(axis=1)
    confusion = np.zeros((c, c), dtype=np.int64)
    np.add.at(confusion, (labels, pred), 1)
    true_p = probs[np.arange(len(labels)), labels]
    counts = confusion.sum(axis=1)
    per_class = {n: (float(confusion[i, i] / counts[i]) if counts[i] else None)
                 for i, n in enumerate(names)}
    return {"split": split, "accuracy": float(np.mean(pred == labels)),
            "loss": float(np.mean(-np.log(np.maximum(true_p, 1e-12)))),
            "mean_true_prob": float(true_p.mean()), "num_examples": int(len(labels)),
            "per_class": per_class, "per_class_count": {n: int(k) for n, k in zip(names, counts)},
            "confusion": confusion, "class_names": names}


def report(results, path=None, title="AlexNet scorer"):
    """Per-class accuracy as markdown (best classes first); writes it to `path` if given.

    Args:
      results: a dict from evaluate_split (or a list of (label, dict) to put columns side by
        side, e.g. [("final", r1), ("best", r2)]; they must share class names).
      path: optional output file.
      title: the heading.

    Returns:
      The markdown text.
    """
    runs = results if isinstance(results, list) else [("accuracy", results)]
    first = runs[0][1]
    names, c = first["class_names"], len(first["class_names"])
    lines = [f"# {title}", "",
             f"Split `{first['split']}`: {first['num_examples']} examples, {c} classes, "
             f"chance {1.0 / c:.4f}.", ""]
    for label, r in runs:
        lines.append(f"- {label}: accuracy **{r['accuracy']:.4f}**, mean true-class "
                     f"softmax {r['mean_true_prob']:.4f}, loss {r['loss']:.4f}")
    lines += ["", "| class | n | " + " | ".join(label for label, _ in runs) + " |",
              "|---|---:|" + "---:|" * len(runs)]

    def key(name):
        acc = first["per_class"][name]
        return (-(acc if acc is not None else -1.0), name)

    for name in sorted(names, key=key):
        cells = []
        for _, r in runs:
            acc = r["per_class"][name]
            cells.append("-" if acc is None else f"{acc:.3f}")
        lines.append(f"| {name} | {first['per_class_count'][name]} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    if path is not None:
        atomic_write_text(path, text)
    return text


def confusion_image(confusion, min_side=256):
    """Row-normalised confusion matrix as a uint8 RGB image (white 0 -> black 1).

    Rows are true classes, columns predictions; rows without examples stay white. Small
    matrices are enlarged by an integer factor to at least `min_side` pixels.
    """
    conf = np.asarray(confusion, dtype=np.float64)
    rows = conf.sum(axis=1, keepdims=True)
    norm = np.divide(conf, rows, out=np.zeros_like(conf), where=rows > 0)  # (C, C)
    grey = np.round(255.0 * (1.0 - norm)).astype(np.uint8)
    k = max(1, math.ceil(min_side / max(len(conf), 1)))
    big = np.repeat(np.repeat(grey, k, axis=0), k, axis=1)  # (C k, C k)
    return np.repeat(big[..., None], 3, axis=-1)


def ink_to_picture(images):
    """(B, S, S, 1) ink in [0, 1] -> black-on-white float images for TensorBoard."""
    return 1.0 - np.clip(np.asarray(images), 0.0, 1.0)
