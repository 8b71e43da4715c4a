"""Stroke datasets: load npz, ndjson and built-in sketches into splits; a deterministic batcher."""

from collections.abc import Sequence
import dataclasses
import os
import zlib

import numpy as np

from common.errors import DataError
from common.strokes import formats as S
from common.strokes.doodles import builtin_sketches
from common.strokes.quickdraw import load_ndjson
from common.strokes.safe_npz import load_npz

SPLITS = ("train", "valid", "test")
BUILTIN = "builtin"


@dataclasses.dataclass
class StrokeSplits:
    """Preprocessed train/valid/test sketches.

    Sketches are float32 stroke-3, clamped to +-limit, at most `max_seq_len` points, and with
    dx, dy divided by `scale_factor` (the std of the clamped TRAIN offsets).

    Attributes:
        train, valid, test: lists of (N, 3) float32 arrays.
        train_labels, valid_labels, test_labels: int32 arrays indexing `class_names`.
        class_names: one per class (file stem, or built-in class name).
        scale_factor: normalising factor used for all splits.
        max_seq_len: length limit used for filtering.
        n_dropped: split -> number of sketches dropped for being longer than max_seq_len.
        n_skipped: bad ndjson lines skipped while loading.
        n_duplicates: ndjson sketches dropped because their key_id was already seen in the class.
        n_clamped: split -> number of kept sketches that had an offset beyond +-limit (clamped).
        notes: human-readable remarks on how the splits were made (printed by trainers).
        integer_offsets: every offset of every split was a whole number before normalising
            (pixel data such as aaron_sheep or QuickDraw), so a trainer can score them as whole
            pixels.

    Reference: magenta sketch_rnn/sketch_rnn_train.py load_dataset (same preprocessing).
    """

    train: list
    valid: list
    test: list
    train_labels: np.ndarray
    valid_labels: np.ndarray
    test_labels: np.ndarray
    class_names: list
    scale_factor: float
    max_seq_len: int
    n_dropped: dict
    n_skipped: int = 0
    n_duplicates: int = 0
    n_clamped: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)
    integer_offsets: bool = False

    def split(self, name):
        """(sketches, labels) of split `name` ("train", "valid" or "test")."""
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; choose from {SPLITS}")
        return getattr(self, name), getattr(self, f"{name}_labels")


def _resolve(sources):
    """Expands sources into [(kind, path_or_None)], kind in npz / ndjson / builtin."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    entries, bad = [], []
    for src in sources:
        if isinstance(src, str) and src == BUILTIN:
            entries.append((BUILTIN, None))
            continue
        path = os.fspath(src)
        if os.path.isdir(path):
            found = [os.path.join(path, f) for f in sorted(os.listdir(path))
                     if f.endswith((".npz", ".ndjson"))]
            if not found:
                bad.append(f"{path} (folder without .npz or .ndjson files)")
            entries += [("npz" if f.endswith(".npz") else "ndjson", f) for f in found]
        elif os.path.isfile(path) and path.endswith((".npz", ".ndjson")):
            entries.append(("npz" if path.endswith(".npz") else "ndjson", path))
        elif os.path.exists(path):
            bad.append(f"{path} (not .npz or .ndjson)")
        else:
            bad.append(f"{path} (not found)")
    if bad:
        raise DataError("bad stroke sources: " + "; ".join(bad))
    if not entries:
        raise DataError("no stroke sources given")
    return entries


def split_indices(n, seed, key, valid_fraction, test_fraction):
    """Deterministic (train, valid, test) index arrays for `n` items of one class.

    The permutation comes from np.random.default_rng([seed, crc32(key)]) so it does not depend on
    the order of the sources. Counts are rounded; train always keeps at least one item.
    """
    rng = np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])
    perm = rng.permutation(n)
    n_test = min(int(round(n * test_fraction)), max(n - 1, 0))
    n_valid = min(int(round(n * valid_fraction)), max(n - 1 - n_test, 0))
    valid = np.sort(perm[:n_valid])
    test = np.sort(perm[n_valid:n_valid + n_test])
    train = np.sort(perm[n_valid + n_test:])
    return train, valid, test


def load_strokes(sources: Sequence[str], max_seq_len=250, seed=0, valid_fraction=0.1,
                 test_fraction=0.1, builtin_per_class=100, limit=1000, simplify=True,
                 on_error="skip") -> StrokeSplits:
    """Loads, splits and preprocesses stroke data from several sources.

    A source is a .npz path, an .ndjson path, a folder (all .npz / .ndjson files inside, sorted
    by name) or the string "builtin" (procedural doodles from common.strokes.doodles). Each file is
    one class named by its file stem; files with the same stem share a class. Classes are
    numbered in order of first appearance. npz files keep their own train/valid/test splits;
    ndjson and built-in sketches are split per class by `split_indices` (seeded). ndjson
    sketches with a key_id already seen in the class are dropped (the QuickDraw raw and
    simplified folders hold the same drawings).

    Preprocessing (magenta): drop sketches longer than max_seq_len, clamp offsets to +-limit,
    divide dx, dy by the std of the clamped train offsets (same factor for every split).

    Args:
        sources: sequence of sources (a single str or path is accepted too).
        max_seq_len: N_max.
        seed: seed for ndjson / built-in splits and for drawing the built-in sketches.
        valid_fraction, test_fraction: split fractions for ndjson / built-in classes.
        builtin_per_class: number of built-in doodles per class.
        limit: clamp value for offsets.
        simplify: simplify raw QuickDraw drawings (see common.strokes.quickdraw.drawing_to_stroke3).
        on_error: "skip" or "raise" for bad ndjson lines.

    Returns:
        StrokeSplits.

    Raises:
        DataError: unknown or missing sources (all named), bad files, an empty train split.
    """
    if not (0 <= valid_fraction and 0 <= test_fraction and valid_fraction + test_fraction < 1):
        raise DataError(f"bad split fractions valid={valid_fraction}, test={test_fraction}")
    entries = _resolve(sources)
    class_names = []

    def label_of(name):
        if name not in class_names:
            class_names.append(name)
        return class_names.index(name)

    raw = {k: ([], []) for k in SPLITS}  # split -> (sketches, labels)
    pools = {}  # label -> list of sketches still to split
    seen_keys = {}  # label -> set of ndjson key_ids
    n_skipped = n_duplicates = 0
    for kind, path in entries:
        if kind == "npz":
            data = load_npz(path)
            lab = label_of(os.path.splitext(os.path.basename(path))[0])
            for k in SPLITS:
                raw[k][0].extend(data[k])
                raw[k][1].extend([lab] * len(data[k]))
        elif kind == "ndjson":
            qd = load_ndjson(path, on_error=on_error, simplify=simplify)
            n_skipped += qd.n_skipped
            lab = label_of(os.path.splitext(os.path.basename(path))[0])
            keys = seen_keys.setdefault(lab, set())
            pool = pools.setdefault(lab, [])
            for sk, key in zip(qd.sketches, qd.key_ids):
                if key and key in keys:
                    n_duplicates += 1
                    continue
                keys.add(key)
                pool.append(sk)
        else:
            sks, labs, names = builtin_sketches(builtin_per_class,
                                                np.random.default_rng([seed, 7]))
            for sk, lab in zip(sks, labs):
                pools.setdefault(label_of(names[int(lab)]), []).append(sk)
    for lab, pool in pools.items():
        parts = split_indices(len(pool), seed, class_names[lab], valid_fraction, test_fraction)
        for k, idx in zip(SPLITS, parts):
            raw[k][0].extend(pool[i] for i in idx)
            raw[k][1].extend([lab] * len(idx))

    out, n_dropped, n_clamped = {}, {}, {}
    for k in SPLITS:
        sks, labs = raw[k]
        kept, idx, n_dropped[k] = S.filter_by_length(sks, max_seq_len)
        n_clamped[k] = sum(int(np.abs(np.asarray(s, np.float64)[:, 0:2]).max() > limit)
                           for s in kept)
        out[k] = (S.clamp(kept, limit), np.asarray(labs, dtype=np.int32)[idx])
    if not out["train"][0]:
        raise DataError(f"no train sketches of at most {max_seq_len} points in {list(sources)}")
    factor = S.scale_factor(out["train"][0])
    integer = S.on_integer_grid([s for k in SPLITS for s in out[k][0]])
    return StrokeSplits(
        train=S.normalize(out["train"][0], factor), train_labels=out["train"][1],
        valid=S.normalize(out["valid"][0], factor), valid_labels=out["valid"][1],
        test=S.normalize(out["test"][0], factor), test_labels=out["test"][1],
        class_names=class_names, scale_factor=factor, max_seq_len=max_seq_len,
        n_dropped=n_dropped, n_skipped=n_skipped, n_duplicates=n_duplicates, n_clamped=n_clamped,
        integer_offsets=integer)


class StrokePipeline:
    """Deterministic, resumable batches of stroke-5 sketches.

    Batch k is a pure function of (seed, k): epoch, i = divmod(k, batches_per_epoch); the epoch's
    order is np.random.default_rng([seed, epoch]).permutation(n) and batch i takes its i-th
    slice; augmentation draws from np.random.default_rng([seed, epoch, i, 1]). The last
    partial batch of an epoch is dropped (as magenta); with fewer sketches than batch_size,
    extra permutations from the same generator fill the single batch.

    Args:
        sketches: list of (N, 3) stroke-3 arrays (already normalised), each N <= max_seq_len.
        labels: (n,) int labels.
        batch_size: B.
        max_seq_len: N_max; strokes have N_max + 1 rows (S0 first).
        seed: non-negative int.
        augment: apply random_scale and augment_drop_points to training batches.
        random_scale_factor: see strokes.random_scale.
        augment_stroke_prob: see strokes.augment_drop_points.

    Reference: magenta sketch_rnn/utils.py DataLoader (random_batch, pad_batch).
    """

    def __init__(self, sketches, labels, batch_size, max_seq_len, seed, augment=True,
                 random_scale_factor=0.15, augment_stroke_prob=0.10):
        if len(sketches) == 0:
            raise DataError("StrokePipeline: no sketches")
        if len(labels) != len(sketches):
            raise DataError(f"StrokePipeline: {len(sketches)} sketches but {len(labels)} labels")
        if batch_size < 1 or seed < 0:
            raise DataError(f"StrokePipeline: bad batch_size={batch_size} or seed={seed}")
        self.sketches = [np.asarray(s, dtype=np.float32) for s in sketches]
        for i, s in enumerate(self.sketches):
            S.validate_stroke3(s, name=f"sketch {i}")
            if len(s) > max_seq_len:
                raise DataError(f"sketch {i} has {len(s)} points > max_seq_len={max_seq_len}")
        self.labels = np.asarray(labels, dtype=np.int32)
        self.batch_size = int(batch_size)
        self.max_seq_len = int(max_seq_len)
        self.seed = int(seed)
        self.augment = augment
        self.random_scale_factor = random_scale_factor
        self.augment_stroke_prob = augment_stroke_prob
        self.batches_per_epoch = max(1, len(self.sketches) // self.batch_size)
        self._order_cache = (None, None)

    @classmethod
    def from_splits(cls, splits, split="train", batch_size=100, seed=0, **kwargs):
        """Pipeline over one split of a StrokeSplits (augment defaults to split == "train")."""
        sketches, labels = splits.split(split)
        kwargs.setdefault("augment", split == "train")
        return cls(sketches, labels, batch_size, splits.max_seq_len, seed, **kwargs)

    def _order(self, epoch):
        """Sketch order for one epoch (cached for the latest epoch)."""
        if self._order_cache[0] == epoch:
            return self._order_cache[1]
        rng = np.random.default_rng([self.seed, epoch])
        n = len(self.sketches)
        parts = [rng.permutation(n)]
        while len(parts) * n < self.batch_size:
            parts.append(rng.permutation(n))
        order = np.concatenate(parts)
        self._order_cache = (epoch, order)
        return order

    def _augment(self, s, rng):
        out = S.random_scale(s, rng, self.random_scale_factor)
        if self.augment_stroke_prob > 0:
            out = S.augment_drop_points(out, rng, self.augment_stroke_prob)
        return out if len(out) <= self.max_seq_len else s  # Cannot grow; guard anyway.

    def _pack(self, idx, sketches):
        strokes, lengths = S.pad_batch(sketches, self.max_seq_len)
        return {"strokes": strokes, "lengths": lengths, "labels": self.labels[idx]}

    def batch(self, step):
        """Training batch number `step`.

        Returns:
            dict: strokes (B, max_seq_len + 1, 5) float32 with S0 in row 0, lengths (B,) int32
            (real points, S0 not counted), labels (B,) int32.
        """
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        epoch, i = divmod(int(step), self.batches_per_epoch)
        idx = self._order(epoch)[i * self.batch_size:(i + 1) * self.batch_size]
        sks = [self.sketches[j] for j in idx]
        if self.augment:
            rng = np.random.default_rng([self.seed, epoch, i, 1])
            sks = [self._augment(s, rng) for s in sks]
        return self._pack(idx, sks)

    def iterate(self, start_step=0):
        """Infinite generator of batch(start_step), batch(start_step + 1), ..."""
        step = int(start_step)
        while True:
            yield self.batch(step)
            step += 1

    def element_spec(self):
        """tf.TensorSpec dict matching the batch dicts."""
        import tensorflow as tf  # noqa: PLC0415
        b, t = self.batch_size, self.max_seq_len + 1
        return {"strokes": tf.TensorSpec((b, t, 5), tf.float32),
                "lengths": tf.TensorSpec((b,), tf.int32),
                "labels": tf.TensorSpec((b,), tf.int32)}

    def dataset(self, start_step=0):
        """Infinite, prefetched tf.data.Dataset of the batches from `start_step` on.

        Resuming at start_step = k gives exactly the batches k, k + 1, ... of a fresh run.

        The step numbers come from `Dataset.counter` and each batch from `self.batch` in a
        `tf.numpy_function`, not from `Dataset.from_generator`: under Python 3.11, building
        a generator dataset makes TF call mallopt(M_MMAP_THRESHOLD, 128 KiB) for the whole
        process (TF's `ApplyPython311MemoryPatch`). That pins glibc's mmap threshold, so
        the training step's ~2,000 buffers of 128 KiB and more per step could each be a
        fresh mmap, page faults and a munmap: up to 1.7 s of kernel time per `default()`
        step on the 2-core VM (docs/benchmarks.md, "The trainer against the isolated step").
        """
        import tensorflow as tf  # noqa: PLC0415
        spec = self.element_spec()
        keys = tuple(spec)

        def make(step):
            batch = self.batch(int(step))
            return tuple(batch[k] for k in keys)

        def load(step):
            values = tf.numpy_function(make, [step], [spec[k].dtype for k in keys])
            return {k: tf.ensure_shape(v, spec[k].shape) for k, v in zip(keys, values)}

        ds = tf.data.Dataset.counter(start=int(start_step), dtype=tf.int64).map(load)
        return ds.prefetch(tf.data.AUTOTUNE)

    def num_eval_batches(self, batch_size=None):
        """Number of batches eval_batches yields."""
        b = batch_size or self.batch_size
        return -(-len(self.sketches) // b)

    def eval_batches(self, batch_size=None):
        """Every sketch once, in order, without augmentation (for valid / test).

        The last partial batch is PADDED to full size with copies of sketch 0, so all batches
        have the same shapes; each dict has an extra "weights" (B,) float32 key, 1 for real
        sketches and 0 for padding (weight per-sketch losses with it).

        Yields:
            dict: strokes, lengths, labels (as `batch`) and weights.
        """
        b = batch_size or self.batch_size
        n = len(self.sketches)
        for start in range(0, n, b):
            idx = np.arange(start, min(start + b, n))
            weights = np.ones(b, dtype=np.float32)
            if len(idx) < b:
                weights[len(idx):] = 0
                idx = np.concatenate([idx, np.zeros(b - len(idx), dtype=idx.dtype)])
            out = self._pack(idx, [self.sketches[j] for j in idx])
            out["weights"] = weights
            yield out


def load_every_sketch(sources: Sequence[str], max_seq_len=250, seed=0) -> StrokeSplits:
    """load_strokes with no valid or test split: every ndjson / built-in sketch is in `train`.

    For drawings no model trained on, e.g. real test drawings for models trained on a
    generated corpus. npz files keep their own splits.
    """
    return load_strokes(sources, max_seq_len=max_seq_len, seed=seed, valid_fraction=0.0,
                        test_fraction=0.0)
