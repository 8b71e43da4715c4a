"""WAE image data: built-in, folder and TFDS sources, mixed by weight, deterministic and resumable."""

import dataclasses
from typing import Optional

import numpy as np
import tensorflow as tf
from absl import logging

from common.images import io as images_io
from common.images import tfds as image_tfds
from common.images import procedural
from common.errors import DataError

BUILTIN_COUNT = 512  # Built-in images per kind (content and style).
EVAL_FRACTION = 0.1


@dataclasses.dataclass
class ImageSources:
    """In-memory sources (split into train / eval) plus TFDS streams.

    Attributes:
      names: one name per source, in config order (data, then tfds).
      train, eval: per in-memory source, float32 (N, S, S, 3) arrays (None for TFDS).
      tfds: per source, a tf.data.Dataset of single images (None for in-memory).
      weights: normalised mixing weights, one per source.
      skipped: (path, reason) of image files that failed to decode.
    """

    names: list
    train: list
    eval: list
    tfds: list
    weights: np.ndarray
    skipped: list

    def eval_images(self, n=None):
        arrays = [a for a in self.eval if a is not None and len(a)]
        if not arrays:
            return None
        out = np.concatenate(arrays)
        return out if n is None else out[:n]


def _split(images, rng):
    n = len(images)
    order = rng.permutation(n)
    n_eval = max(1, int(round(n * EVAL_FRACTION))) if n >= 10 else 0
    ev = images[order[:n_eval]] if n_eval else images  # Tiny folders: evaluate on all.
    return images[order[n_eval:]], ev


def load_sources(config):
    """Loads every configured source; folders are searched recursively."""
    size = config.image_size
    names, train, ev, streams, skipped = [], [], [], [], []
    rng = np.random.default_rng([config.seed, 11])
    for source in config.data:
        if source == "builtin":
            r = np.random.default_rng([config.seed, 12])
            arr = np.concatenate([
                procedural.builtin_images(BUILTIN_COUNT, size=size, rng=r, kind="content"),
                procedural.builtin_images(BUILTIN_COUNT, size=size, rng=r, kind="style")])
        else:
            folder = images_io.load_image_folder([source], size=size, recursive=True,
                                                 crop=config.image_crop)
            skipped.extend(folder.skipped)
            if folder.skipped:
                print(f"{source}: skipped {len(folder.skipped)} unreadable image file(s).", flush=True)
            if not len(folder.images):
                raise DataError(f"{source}: no readable images found")
            arr = folder.images
        tr, e = _split(arr, rng)
        names.append(source)
        train.append(tr)
        ev.append(e)
        streams.append(None)
    for name in config.tfds:
        ds = image_tfds.tfds_images(name, split="train", data_dir=config.tfds_data_dir or None,
                                    manual_dir=config.manual_dir or None, size=size)
        names.append(f"tfds:{name}")
        train.append(None)
        ev.append(None)
        streams.append(ds)
    weights = np.asarray(config.mix or [1.0] * len(names), np.float64)
    weights = weights / weights.sum()
    return ImageSources(names, train, ev, streams, weights, skipped)


class MixedPipeline:
    """Batches drawn from several sources by weight.

    In-memory sources: batch k is a pure function of (seed, k) (sources and images are
    drawn i.i.d. with numpy), so a resumed run sees exactly the batches an uninterrupted
    one would. TFDS streams are shuffled with a seed and skipped forward on resume.
    """

    def __init__(self, sources: ImageSources, batch_size: int, seed: int):
        self.sources, self.batch_size, self.seed = sources, batch_size, seed
        self.memory = [i for i, a in enumerate(sources.train) if a is not None]
        self.streams = [i for i, s in enumerate(sources.tfds) if s is not None]
        for i in self.memory:
            if not len(sources.train[i]):
                raise DataError(f"{sources.names[i]}: no training images after the eval split")

    def _memory_batch(self, step):
        rng = np.random.default_rng([self.seed, int(step), 3])
        w = self.sources.weights[self.memory]
        choice = rng.choice(len(self.memory), size=self.batch_size, p=w / w.sum())
        out = np.empty((self.batch_size,) + self.sources.train[self.memory[0]].shape[1:], np.float32)
        for j, src in enumerate(self.memory):
            idx = np.flatnonzero(choice == j)
            if len(idx):
                arr = self.sources.train[src]
                out[idx] = arr[rng.integers(0, len(arr), size=len(idx))]
        return out

    def batch(self, step):
        return self._memory_batch(step)

    def dataset(self, start_step=0):
        size = self.sources.train[self.memory[0]].shape[1:] if self.memory else None
        parts, weights = [], []
        if self.memory:
            def gen():
                k = start_step
                while True:
                    yield self._memory_batch(k)
                    k += 1
            mem = tf.data.Dataset.from_generator(
                gen, output_signature=tf.TensorSpec((self.batch_size,) + size, tf.float32))
            parts.append(mem.unbatch())
            weights.append(float(self.sources.weights[self.memory].sum()))
        for i in self.streams:
            ds = self.sources.tfds[i].repeat().shuffle(2048, seed=self.seed + start_step)
            parts.append(ds)
            weights.append(float(self.sources.weights[i]))
        if len(parts) == 1:
            ds = parts[0]
        else:
            ds = image_tfds.mix_datasets(parts, weights, seed=self.seed + start_step)
        return ds.batch(self.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def style_reference_images(config, n, seed: Optional[int] = None):
    """Built-in style textures, for transfer grids when no style images are given."""
    rng = np.random.default_rng([config.seed if seed is None else seed, 21])
    return procedural.builtin_images(n, size=config.image_size, rng=rng, kind="style")


def content_reference_images(config, n, seed: Optional[int] = None):
    """Built-in content scenes, for transfer grids when no content images are given."""
    rng = np.random.default_rng([config.seed if seed is None else seed, 22])
    return procedural.builtin_images(n, size=config.image_size, rng=rng, kind="content")


def log_sources(sources):
    for name, tr, ev, w in zip(sources.names, sources.train, sources.eval, sources.weights):
        n = "stream" if tr is None else f"{len(tr)} train / {len(ev)} eval"
        logging.info("Image source %s: %s, weight %.3f", name, n, w)
        print(f"Image source {name}: {n} images, weight {w:.3f}", flush=True)
