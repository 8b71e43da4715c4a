"""AlexNet scorer training: labelled strokes or TFDS bitmaps, augmentation, eval, reports, export."""

import dataclasses
import json
import math
import pathlib

import keras
import numpy as np
import tensorflow as tf

from common import alexnet_export
from common import raster_tf
from common import render
from common import stroke_data
from common import training
from common import workdir as workdir_lib
from common.alexnet import AlexNet
from common.errors import DataError

# Fields that may change when a run is resumed; any other change needs --overwrite.
RESUMABLE_FIELDS = ("num_steps", "save_every", "eval_every", "log_every", "strategy",
                    "max_grad_norm")
DATA_INFO = "data.json"
TEST_REPORT = "test_report.md"
TEST_METRICS = "test_metrics.json"
BITMAP_SIZE = 28  # TFDS quickdraw_bitmap side.


# ----------------------------------------------------------------------------- schedules, loss

def learning_rate(step, lr0, decay_rate, min_lr):
    """lr(step) = (lr0 - min_lr) * decay_rate^step + min_lr."""
    step = tf.cast(step, tf.float32)
    return (lr0 - min_lr) * tf.pow(tf.constant(decay_rate, tf.float32), step) + min_lr


def classification_loss(logits, labels, label_smoothing=0.0):
    """Mean softmax cross-entropy of integer labels, with optional label smoothing.

    Targets are (1 - eps) * one_hot + eps / C.

    Args:
      logits: (B, C) float.
      labels: (B,) int.
      label_smoothing: eps in [0, 1).

    Returns:
      scalar float32.
    """
    logits = tf.cast(logits, tf.float32)
    c = tf.shape(logits)[-1]
    target = tf.one_hot(tf.cast(labels, tf.int32), c)  # (B, C)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / tf.cast(c, tf.float32)
    return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(target, logits))


# ----------------------------------------------------------------------------- data


@dataclasses.dataclass
class BitmapSplits:
    """TFDS quickdraw_bitmap examples held in memory, split like StrokeSplits.

    Attributes:
      train, valid, test: uint8 (n, 28, 28, 1) arrays (1 = ink is 255).
      train_labels, valid_labels, test_labels: int32 arrays indexing class_names.
      class_names: the TFDS label names.
    """

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    train_labels: np.ndarray
    valid_labels: np.ndarray
    test_labels: np.ndarray
    class_names: list

    def split(self, name):
        """(images, labels) of split `name` ("train", "valid" or "test")."""
        if name not in stroke_data.SPLITS:
            raise DataError(f"unknown split {name!r}; choose from {stroke_data.SPLITS}")
        return getattr(self, name), getattr(self, f"{name}_labels")


def load_quickdraw_bitmap(config):
    """Reads up to config.tfds_max_examples TFDS quickdraw_bitmap examples and splits them.

    Nothing is downloaded (download=False): the dataset must already be prepared in
    config.tfds_data_dir. Each class is split by stroke_data.split_indices (seeded, keyed by
    the class name) with config.valid_fraction / test_fraction.

    Raises:
      DataError: the dataset is missing or empty.
    """
    import tensorflow_datasets as tfds  # noqa: PLC0415  (slow import, only needed here)
    try:
        ds, info = tfds.load(config.tfds, split=f"train[:{config.tfds_max_examples}]",
                             data_dir=config.tfds_data_dir or None, download=False,
                             with_info=True)
    except (AssertionError, OSError, ValueError, tf.errors.OpError) as e:
        raise DataError(f"TFDS {config.tfds!r} is not prepared in data_dir "
                        f"{config.tfds_data_dir or '(default)'}: {e}") from None
    images, labels = [], []
    for ex in tfds.as_numpy(ds.take(config.tfds_max_examples)):
        images.append(ex["image"])
        labels.append(ex["label"])
    if not images:
        raise DataError(f"TFDS {config.tfds!r} in {config.tfds_data_dir} has no examples")
    images = np.stack(images).astype(np.uint8).reshape(-1, BITMAP_SIZE, BITMAP_SIZE, 1)
    labels = np.asarray(labels, dtype=np.int32)
    names = list(info.features["label"].names)
    parts = {k: [] for k in stroke_data.SPLITS}
    for lab in np.unique(labels):
        idx = np.flatnonzero(labels == lab)
        for k, sub in zip(stroke_data.SPLITS, stroke_data.split_indices(
                len(idx), config.seed, names[lab], config.valid_fraction, config.test_fraction)):
            parts[k].append(idx[sub])
    out = {}
    for k in stroke_data.SPLITS:
        idx = np.sort(np.concatenate(parts[k])) if parts[k] else np.zeros(0, np.int64)
        out[k], out[f"{k}_labels"] = images[idx], labels[idx]
    return BitmapSplits(class_names=names, **out)


def load_data(config):
    """StrokeSplits of config.data, or BitmapSplits when config.tfds is set."""
    if config.tfds:
        return load_quickdraw_bitmap(config)
    return stroke_data.load_strokes(list(config.data), max_seq_len=config.max_seq_len,
                                    seed=config.seed, valid_fraction=config.valid_fraction,
                                    test_fraction=config.test_fraction)


def data_info(splits):
    """Class names and split sizes (written to data.json and the export's metadata)."""
    info = {"class_names": list(splits.class_names), "num_classes": len(splits.class_names),
            "num_train": len(splits.train), "num_valid": len(splits.valid),
            "num_test": len(splits.test)}
    if isinstance(splits, BitmapSplits):
        info["source"] = "tfds:quickdraw_bitmap"
    else:
        info.update(source="strokes", scale_factor=float(splits.scale_factor),
                    n_duplicates=int(splits.n_duplicates), n_dropped=dict(splits.n_dropped))
    return info


def rotate(strokes, angles):
    """Rotates padded stroke-3 offsets (B, N, 3) by per-sketch angles (B,) in radians."""
    c, s = np.cos(angles)[:, None], np.sin(angles)[:, None]  # (B, 1)
    out = strokes.copy()
    out[..., 0] = c * strokes[..., 0] - s * strokes[..., 1]
    out[..., 1] = s * strokes[..., 0] + c * strokes[..., 1]
    return out


def shift_bitmaps(images, shifts):
    """Translates (B, H, W, 1) images by integer (dx, dy) pixel shifts (B, 2), filling with 0."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    for i, (dx, dy) in enumerate(np.asarray(shifts, dtype=np.int64)):
        ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
        xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
        out[i, yd, xd] = images[i, ys, xs]
    return out


class StrokeBatches:
    """Deterministic, resumable stroke-3 batches with the scorer's augmentation.

    Order, random x/y scale and point merging come from stroke_data.StrokePipeline (batch k
    depends only on seed and k); rotation and the raster shift are drawn from
    np.random.default_rng([seed, k, 2]). Strokes are padded to max_seq_len rows.

    Args:
      sketches, labels: one split of a StrokeSplits.
      config: AlexNetConfig.
      augment: apply the augmentation (training batches).
    """

    def __init__(self, sketches, labels, config, augment=True):
        self.config = config
        self.augment = augment
        self.pipeline = stroke_data.StrokePipeline(
            sketches, labels, config.batch_size, config.max_seq_len, config.seed,
            augment=augment, random_scale_factor=config.random_scale_factor,
            augment_stroke_prob=config.augment_stroke_prob)

    def batch(self, step):
        """dict: strokes (B, N, 3) float32, lengths (B,), labels (B,), shift (B, 2) pixels."""
        b = self.pipeline.batch(step)
        s5 = b["strokes"][:, 1:]  # (B, N, 5) without S0
        s3 = np.concatenate([s5[..., :2], s5[..., 3:4]], axis=-1).astype(np.float32)  # (B, N, 3)
        n = len(s3)
        shift = np.zeros((n, 2), dtype=np.float32)
        if self.augment:
            c = self.config
            rng = np.random.default_rng([c.seed, int(step), 2])
            angles = np.deg2rad(rng.uniform(-c.rotate_degrees, c.rotate_degrees, n))
            s3 = rotate(s3, angles).astype(np.float32)
            shift = rng.uniform(-c.max_shift, c.max_shift, (n, 2)) * c.image_size
            shift = shift.astype(np.float32)
        return {"strokes": s3, "lengths": b["lengths"], "labels": b["labels"], "shift": shift}

    def element_spec(self):
        b, n = self.config.batch_size, self.config.max_seq_len
        return {"strokes": tf.TensorSpec((b, n, 3), tf.float32),
                "lengths": tf.TensorSpec((b,), tf.int32),
                "labels": tf.TensorSpec((b,), tf.int32),
                "shift": tf.TensorSpec((b, 2), tf.float32)}

    def dataset(self, start_step=0):
        """Infinite dataset of batch(start_step), batch(start_step + 1), ..."""
        def gen():
            step = int(start_step)
            while True:
                yield self.batch(step)
                step += 1
        return tf.data.Dataset.from_generator(
            gen, output_signature=self.element_spec()).prefetch(tf.data.AUTOTUNE)


class BitmapBatches:
    """Deterministic, resumable batches of 28x28 bitmaps with random integer shifts.

    Batch k: epoch, i = divmod(k, batches_per_epoch); order default_rng([seed, epoch])
    permutations (repeated to fill one batch when there are fewer images); shifts from
    default_rng([seed, k, 2]) of up to round(max_shift * 28) pixels.
    """

    def __init__(self, images, labels, config, augment=True):
        if len(images) == 0:
            raise DataError("BitmapBatches: no images")
        self.images, self.labels = images, np.asarray(labels, dtype=np.int32)
        self.config, self.augment = config, augment
        self.batches_per_epoch = max(1, len(images) // config.batch_size)

    def batch(self, step):
        """dict: images (B, 28, 28, 1) uint8, labels (B,) int32."""
        c = self.config
        epoch, i = divmod(int(step), self.batches_per_epoch)
        rng = np.random.default_rng([c.seed, epoch])
        order = rng.permutation(len(self.images))
        while len(order) < c.batch_size:
            order = np.concatenate([order, rng.permutation(len(self.images))])
        idx = order[i * c.batch_size:(i + 1) * c.batch_size]
        images = self.images[idx]
        if self.augment:
            m = int(round(c.max_shift * BITMAP_SIZE))
            rng = np.random.default_rng([c.seed, int(step), 2])
            shifts = rng.integers(-m, m + 1, (len(idx), 2))
            images = shift_bitmaps(images, shifts)
        return {"images": images, "labels": self.labels[idx]}

    def dataset(self, start_step=0):
        """Infinite dataset of batch(start_step), batch(start_step + 1), ..."""
        b = self.config.batch_size
        spec = {"images": tf.TensorSpec((b, BITMAP_SIZE, BITMAP_SIZE, 1), tf.uint8),
                "labels": tf.TensorSpec((b,), tf.int32)}

        def gen():
            step = int(start_step)
            while True:
                yield self.batch(step)
                step += 1
        return tf.data.Dataset.from_generator(gen, output_signature=spec).prefetch(
            tf.data.AUTOTUNE)


def make_batches(splits, config, split="train", augment=True):
    """StrokeBatches or BitmapBatches over one split."""
    items, labels = splits.split(split)
    if isinstance(splits, BitmapSplits):
        return BitmapBatches(items, labels, config, augment)
    return StrokeBatches(items, labels, config, augment)


def resize_bitmaps(images, size):
    """(B, h, w, 1) uint8 bitmaps -> (B, size, size, 1) float32 in [0, 1] (bilinear)."""
    x = tf.cast(images, tf.float32) / 255.0
    return tf.clip_by_value(tf.image.resize(x, [size, size], method="bilinear"), 0.0, 1.0)


def to_images(batch, config):
    """The model input of a batch: strokes rasterised in-graph, or bitmaps resized."""
    if "strokes" in batch:
        return raster_tf.rasterize_tf(batch["strokes"], batch["lengths"], config.image_size,
                                      config.line_width, config.padding,
                                      shift=batch.get("shift"))
    return resize_bitmaps(batch["images"], config.image_size)


# ----------------------------------------------------------------------------- evaluation


def pad_stroke3(sketches):
    """List of (N_i, 3) stroke-3 -> zero-padded (B, max N_i, 3) float32 and lengths (B,)."""
    lengths = np.array([len(s) for s in sketches], dtype=np.int32)
    out = np.zeros((len(sketches), max(int(lengths.max(initial=0)), 1), 3), np.float32)
    for i, s in enumerate(sketches):
        out[i, :len(s)] = s
    return out, lengths


class _Predictor:
    """Class probabilities from an in-process AlexNet or an exported SavedModel."""

    def __init__(self, model_or_export, config=None):
        if isinstance(model_or_export, (str, pathlib.Path)):
            model_or_export = alexnet_export.load(model_or_export)
        self.target = model_or_export
        if isinstance(model_or_export, keras.Model):
            size = model_or_export.image_size
            lw, pad = (config.line_width, config.padding) if config is not None else (0, 0)
            model = model_or_export
            self.size = size
            self._strokes = tf.function(
                lambda s, n: tf.nn.softmax(model(raster_tf.rasterize_tf(s, n, size, lw, pad))),
                input_signature=[tf.TensorSpec([None, None, 3], tf.float32),
                                 tf.TensorSpec([None], tf.int32)])
            self._images = tf.function(lambda x: tf.nn.softmax(model(x)), input_signature=[
                tf.TensorSpec([None, size, size, 1], tf.float32)])
        elif hasattr(model_or_export, "score"):
            self.size = int(alexnet_export.metadata(model_or_export)["image_size"])
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
    predictor = (model_or_export if isinstance(model_or_export, _Predictor)
                 else _Predictor(model_or_export, config))
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
        workdir_lib.atomic_write_text(path, text)
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


# ----------------------------------------------------------------------------- training


def build(config, num_classes, strategy):
    """Creates the model, the step counter and the optimiser under `strategy`."""
    with strategy.scope():
        model = AlexNet(**config.model_kwargs(num_classes))
        model.build((None, config.image_size, config.image_size, 1))
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")

        def lr():
            return learning_rate(step, config.learning_rate, config.decay_rate,
                                 config.min_learning_rate)

        if config.weight_decay > 0:
            optimizer = keras.optimizers.AdamW(learning_rate=lr, weight_decay=config.weight_decay)
        else:
            optimizer = keras.optimizers.Adam(learning_rate=lr)
        optimizer.build(model.trainable_variables)
    return model, step, optimizer


def make_replica_step(model, optimizer, step, config):
    """The per-replica step: rasterise, forward, all-reduced gradients, a guarded update."""

    def replica_step(batch):
        images = to_images(batch, config)
        labels = batch["labels"]

        def loss_fn():
            logits = model(images, training=True)
            loss = classification_loss(logits, labels, config.label_smoothing)
            acc = tf.reduce_mean(tf.cast(
                tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels), tf.float32))
            return loss, {"accuracy": acc}

        grads, loss, aux, grad_norm, finite = training.global_gradients(
            loss_fn, model.trainable_variables, config.grad_clip,
            max_grad_norm=config.max_grad_norm)
        training.apply_if_finite(optimizer, grads, model.trainable_variables, finite)
        lr = learning_rate(step, config.learning_rate, config.decay_rate, config.min_learning_rate)
        return {"loss": loss, "accuracy": aux["accuracy"], "lr": lr, "grad_norm": grad_norm,
                "finite": finite}

    return replica_step


def _eval_split_name(splits):
    return "valid" if len(splits.valid) else "train"  # Tiny data may have no valid split.


def make_evaluate(model, splits, config, state):
    """Validation accuracy / loss / error_rate; keeps the confusion matrix in `state`."""
    split = _eval_split_name(splits)
    predictor = _Predictor(model, config)  # Traced once, reused at every evaluation.

    def evaluate(_):
        r = evaluate_split(predictor, splits, split, config, batch_size=max(config.batch_size, 64))
        state["confusion"] = r["confusion"]
        return {"accuracy": r["accuracy"], "error_rate": 1.0 - r["accuracy"], "loss": r["loss"],
                "mean_true_prob": r["mean_true_prob"]}

    return evaluate


def make_images(batches, config, state):
    """A rasterised, augmented training batch and the latest confusion matrix."""

    def images(step):
        batch = batches.batch(step)
        x = to_images({k: tf.constant(v) for k, v in batch.items()}, config).numpy()[:16]
        out = {"train_batch": render.to_summary_image(
            render.image_grid(ink_to_picture(x), ncols=min(8, len(x))))}
        if state.get("confusion") is not None:
            out["confusion"] = render.to_summary_image(confusion_image(state["confusion"]))
        return out

    return images


def train_and_evaluate(config, workdir, overwrite=False):
    """Trains (or resumes) the scorer in `workdir`, then reports test accuracy.

    Writes config.json, data.json, checkpoints/, best/ (best valid error_rate), events/,
    export/ (SavedModel, at every save), and test_report.md / test_metrics.json (final
    weights, and the best-on-valid checkpoint when there is one).

    Returns:
      dict: the last training metrics plus test_accuracy (final weights).
    """
    workdir = pathlib.Path(workdir)
    strategy = training.make_strategy(config.strategy)
    return training.run_in_workdir(
        workdir, config.to_dict(), RESUMABLE_FIELDS, overwrite, strategy,
        lambda: _prepare(config, strategy), lambda prepared: _train(config, workdir, *prepared))


def _prepare(config, strategy):
    """Loads the data and builds the model (all that can fail on bad input)."""
    splits = load_data(config)
    info = data_info(splits)
    print(f"Data: {info['num_train']} train / {info['num_valid']} valid / {info['num_test']} "
          f"test examples in {info['num_classes']} classes.", flush=True)
    return splits, info, strategy, build(config, info["num_classes"], strategy)


def _train(config, workdir, splits, info, strategy, built):
    chief, _ = training.worker_info(strategy)
    if chief:
        workdir_lib.atomic_write_text(workdir / DATA_INFO, json.dumps(info, indent=2) + "\n")
    batches = make_batches(splits, config, "train", augment=True)
    model, step, optimizer = built
    state = {}

    def export(path):
        alexnet_export.export(model, config, info, path)

    spec = training.LoopSpec(
        workdir=workdir, strategy=strategy, num_steps=config.num_steps,
        log_every=config.log_every, eval_every=config.eval_every, save_every=config.save_every,
        step=step, trackables={"model": model, "optimizer": optimizer, "step": step,
                               "rng": training.seed_generator_states(model)},
        make_dataset=batches.dataset,
        replica_step=make_replica_step(model, optimizer, step, config),
        items_per_step=config.batch_size, item_name="examples",
        evaluate=make_evaluate(model, splits, config, state),
        images=make_images(batches, config, state), export=export, best_metric="error_rate")
    last = training.run(spec)
    if chief and len(splits.test):
        last["test_accuracy"] = _test_report(model, step.numpy(), splits, config, workdir, info)
    print(training.describe_outputs(workdir), flush=True)
    return last


def _test_report(model, step, splits, config, workdir, info):
    """Evaluates the final and the best-on-valid weights on test; writes the report.

    test_metrics.json has the keys "final" and (with a best checkpoint) "best", each with
    step, accuracy, loss, mean_true_prob, num_examples and per_class.
    """
    step = int(step)
    results = {"final": (step, evaluate_split(model, splits, "test", config))}
    best = tf.train.latest_checkpoint(str(workdir / "best"))
    if best:
        best_step = tf.Variable(0, dtype=tf.int64)
        best_model = AlexNet(**config.model_kwargs(info["num_classes"]))
        best_model.build((None, config.image_size, config.image_size, 1))
        tf.train.Checkpoint(model=best_model, step=best_step).restore(best).expect_partial()
        k = int(best_step.numpy())
        results["best"] = (k, results["final"][1] if k == step
                           else evaluate_split(best_model, splits, "test", config))
    if "best" in results and results["best"][0] == step:
        runs = [(f"final = best on valid (step {step})", results["final"][1])]
    else:
        runs = [(f"final (step {step})", results["final"][1])]
        if "best" in results:
            runs.append((f"best on valid (step {results['best'][0]})", results["best"][1]))
    report(runs, workdir / TEST_REPORT, title="AlexNet scorer: test accuracy")
    summary = {key: {"step": k, "accuracy": r["accuracy"], "loss": r["loss"],
                     "mean_true_prob": r["mean_true_prob"], "num_examples": r["num_examples"],
                     "per_class": r["per_class"]} for key, (k, r) in results.items()}
    workdir_lib.atomic_write_text(workdir / TEST_METRICS, json.dumps(summary, indent=2) + "\n")
    print("Test accuracy " + ", ".join(f"{r['accuracy']:.4f} ({label})" for label, r in runs)
          + f"; chance {1.0 / info['num_classes']:.4f}.", flush=True)
    return results["final"][1]["accuracy"]
