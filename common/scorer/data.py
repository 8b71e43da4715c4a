"""Scorer data: labelled stroke files or TFDS quickdraw_bitmap, augmentation, batches, rasters."""

import dataclasses

import numpy as np
import tensorflow as tf

from common.errors import DataError
from common.scorer import raster
from common.strokes import dataset as stroke_dataset
from common.training import layout


DATA_INFO = layout.DATA


BITMAP_SIZE = 28  # TFDS quickdraw_bitmap side.


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
        if name not in stroke_dataset.SPLITS:
            raise DataError(f"unknown split {name!r}; choose from {stroke_dataset.SPLITS}")
        return getattr(self, name), getattr(self, f"{name}_labels")


def load_quickdraw_bitmap(config):
    """Reads up to config.tfds_max_examples TFDS quickdraw_bitmap examples and splits them.

    Nothing is downloaded (download=False): the dataset must already be prepared in
    config.tfds_data_dir. Each class is split by stroke_dataset.split_indices (seeded, keyed by
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
    parts = {k: [] for k in stroke_dataset.SPLITS}
    for lab in np.unique(labels):
        idx = np.flatnonzero(labels == lab)
        for k, sub in zip(stroke_dataset.SPLITS, stroke_dataset.split_indices(
                len(idx), config.seed, names[lab], config.valid_fraction, config.test_fraction)):
            parts[k].append(idx[sub])
    out = {}
    for k in stroke_dataset.SPLITS:
        idx = np.sort(np.concatenate(parts[k])) if parts[k] else np.zeros(0, np.int64)
        out[k], out[f"{k}_labels"] = images[idx], labels[idx]
    return BitmapSplits(class_names=names, **out)


def load_data(config):
    """StrokeSplits of config.data (test split from config.test_data if set), or BitmapSplits."""
    if config.tfds:
        return load_quickdraw_bitmap(config)
    splits = stroke_dataset.load_strokes(list(config.data), max_seq_len=config.max_seq_len,
                                         seed=config.seed, valid_fraction=config.valid_fraction,
                                         test_fraction=config.test_fraction)
    if config.test_data:
        splits = with_test_data(splits, config)
    return splits


def matched_sketches(sources, splits, max_seq_len, seed, what):
    """Every drawing of `sources` whose class is one of `splits`' classes, on splits' scale.

    Classes are matched by name; drawings are rescaled to the training data's scale factor.

    Returns:
      (sketches, labels int32, loaded StrokeSplits of the sources, unknown class names).

    Raises:
      DataError: no drawing belongs to a training class (`what` names the field).
    """
    extra = stroke_dataset.load_every_sketch(list(sources), max_seq_len, seed)
    known = {name: i for i, name in enumerate(splits.class_names)}
    unknown = sorted(set(extra.class_names) - set(known))
    sketches, labels = [], []
    ratio = extra.scale_factor / splits.scale_factor
    for s, lab in zip(extra.train, extra.train_labels):
        name = extra.class_names[lab]
        if name in known:
            s = s.copy()
            s[:, :2] *= ratio
            sketches.append(s)
            labels.append(known[name])
    if not sketches:
        more = "..." if len(extra.class_names) > 5 else ""
        raise DataError(f"{what} {list(sources)}: none of its classes "
                        f"({', '.join(extra.class_names[:5])}{more}) is a training class")
    return sketches, np.asarray(labels, np.int32), extra, unknown


def with_test_data(splits, config):
    """`splits` with its test split replaced by every drawing of config.test_data.

    Test classes are matched to the training classes by name; the others are left out and
    named in `notes`. Test sketches are rescaled to the training data's scale factor.

    Raises:
      DataError: no test drawing belongs to a training class.
    """
    sketches, labels, extra, unknown = matched_sketches(
        config.test_data, splits, config.max_seq_len, config.seed, "test_data")
    counts = np.bincount(labels, minlength=len(splits.class_names))
    missing = [n for n, k in zip(splits.class_names, counts) if not k]
    notes = list(splits.notes) + [
        f"Test set: every drawing of test_data ({len(sketches)} in {int(np.sum(counts > 0))} "
        f"classes, {extra.n_dropped.get('train', 0)} longer than max_seq_len dropped)."]
    if unknown:
        notes.append(f"test_data classes left out (not trained on): {', '.join(unknown)}.")
    if missing:
        notes.append(f"Training classes without test drawings: {', '.join(missing)}.")
    return dataclasses.replace(
        splits, test=sketches, test_labels=labels,
        n_dropped=dict(splits.n_dropped, test=extra.n_dropped.get("train", 0)),
        n_duplicates=splits.n_duplicates + extra.n_duplicates,
        n_skipped=splits.n_skipped + extra.n_skipped, notes=notes)


@dataclasses.dataclass
class RealTrain:
    """Extra training drawings mixed into every batch (config.real_data).

    Attributes:
      sketches, labels: the drawings (on the training data's scale) and their class indices.
      notes: how they were matched, for data.json and the log.
    """

    sketches: list
    labels: np.ndarray
    notes: list


def load_real_train(splits, config):
    """RealTrain of config.real_data, or None when it is empty.

    Raises:
      DataError: a real drawing is also a test drawing (same class and drawing), or no real
        drawing belongs to a training class.
    """
    if not config.real_data:
        return None
    sketches, labels, extra, unknown = matched_sketches(
        config.real_data, splits, config.max_seq_len, config.seed, "real_data")
    f = splits.scale_factor
    test_keys = {(int(lab), _drawing_key(s, f)) for s, lab in zip(splits.test, splits.test_labels)}
    shared = sum((int(lab), _drawing_key(s, f)) in test_keys for s, lab in zip(sketches, labels))
    if shared:
        raise DataError(f"real_data {list(config.real_data)}: {shared} of its drawings are also "
                        "test drawings; hold them apart")
    per = int(round(config.real_fraction * config.batch_size))
    notes = [f"Real training drawings: {len(sketches)} from real_data in "
             f"{len(set(labels.tolist()))} classes, {per} of every batch of "
             f"{config.batch_size} (real_fraction {config.real_fraction:g})."]
    if unknown:
        notes.append(f"real_data classes left out (not trained on): {', '.join(unknown)}.")
    return RealTrain(sketches, labels, notes)


def _drawing_key(sketch, scale_factor):
    """Equal for the same drawing: its offsets in source units rounded to 0.1, and pen states."""
    s = np.asarray(sketch, np.float64)
    return np.concatenate([np.round(s[:, :2] * scale_factor, 1), s[:, 2:3]], axis=1).tobytes()


def data_info(splits):
    """Class names and split sizes (written to data.json and the export's metadata)."""
    info = {"class_names": list(splits.class_names), "num_classes": len(splits.class_names),
            "num_train": len(splits.train), "num_valid": len(splits.valid),
            "num_test": len(splits.test)}
    if isinstance(splits, BitmapSplits):
        info["source"] = "tfds:quickdraw_bitmap"
    else:
        info.update(source="strokes", scale_factor=float(splits.scale_factor),
                    n_duplicates=int(splits.n_duplicates), n_dropped=dict(splits.n_dropped),
                    notes=list(splits.notes))
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

    Order, random x/y scale and point merging come from stroke_dataset.StrokePipeline (batch k
    depends only on seed and k); rotation and the raster shift are drawn from
    np.random.default_rng([seed, k, 2]). Strokes are padded to max_seq_len rows. With `real`,
    the last round(real_fraction * batch_size) rows of every batch are real drawings from
    their own pipeline (seed + 1, rotation and shift from default_rng([seed, k, 3])).

    Args:
      sketches, labels: one split of a StrokeSplits.
      config: AlexNetConfig.
      augment: apply the augmentation (training batches).
      real: optional RealTrain mixed into every batch.
    """

    def __init__(self, sketches, labels, config, augment=True, real=None):
        self.config = config
        self.augment = augment
        n_real = int(round(config.real_fraction * config.batch_size)) if real else 0
        n_real = min(n_real, config.batch_size - 1)
        self.parts = [(stroke_dataset.StrokePipeline(
            sketches, labels, config.batch_size - n_real, config.max_seq_len, config.seed,
            augment=augment, random_scale_factor=config.random_scale_factor,
            augment_stroke_prob=config.augment_stroke_prob), 2)]
        if n_real:
            self.parts.append((stroke_dataset.StrokePipeline(
                real.sketches, real.labels, n_real, config.max_seq_len, config.seed + 1,
                augment=augment, random_scale_factor=config.random_scale_factor,
                augment_stroke_prob=config.augment_stroke_prob), 3))

    def batch(self, step):
        """dict: strokes (B, N, 3) float32, lengths (B,), labels (B,), shift (B, 2) pixels."""
        parts = [self._part(pipeline, stream, step) for pipeline, stream in self.parts]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def _part(self, pipeline, stream, step):
        b = pipeline.batch(step)
        s5 = b["strokes"][:, 1:]  # (B, N, 5) without S0
        s3 = np.concatenate([s5[..., :2], s5[..., 3:4]], axis=-1).astype(np.float32)  # (B, N, 3)
        n = len(s3)
        shift = np.zeros((n, 2), dtype=np.float32)
        if self.augment:
            c = self.config
            rng = np.random.default_rng([c.seed, int(step), stream])
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


def make_batches(splits, config, split="train", augment=True, real=None):
    """StrokeBatches (with `real` drawings mixed in, if given) or BitmapBatches over one split."""
    items, labels = splits.split(split)
    if isinstance(splits, BitmapSplits):
        return BitmapBatches(items, labels, config, augment)
    return StrokeBatches(items, labels, config, augment, real)


def resize_bitmaps(images, size):
    """(B, h, w, 1) uint8 bitmaps -> (B, size, size, 1) float32 in [0, 1] (bilinear)."""
    x = tf.cast(images, tf.float32) / 255.0
    return tf.clip_by_value(tf.image.resize(x, [size, size], method="bilinear"), 0.0, 1.0)


def to_images(batch, config):
    """The model input of a batch: strokes rasterised in-graph, or bitmaps resized."""
    if "strokes" in batch:
        return raster.rasterize_tf(batch["strokes"], batch["lengths"], config.image_size,
                                      config.line_width, config.padding,
                                      shift=batch.get("shift"))
    return resize_bitmaps(batch["images"], config.image_size)
