"""Deterministic, resumable batches from an in-memory image array."""

import math

import numpy as np
import tensorflow as tf

from common.errors import DataError


class ImagePipeline:
    """Deterministic batches from an in-memory image array.

    The images are read as an endless stream of epochs, each a permutation drawn from
    np.random.default_rng([seed, epoch]); batch `step` is stream items
    [step * batch_size, (step + 1) * batch_size). So a batch is a pure function of
    (seed, step), batches may span epochs, and batch_size may exceed N.

    Args:
        images: float32 (N, H, W, C), N >= 1.
        batch_size: images per batch.
        seed: non-negative int.
    """

    def __init__(self, images, batch_size, seed=0):
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4 or images.shape[0] == 0:
            raise DataError(f"ImagePipeline: need (N, H, W, C) images with N >= 1, "
                            f"got shape {images.shape}")
        if int(batch_size) < 1:
            raise DataError(f"ImagePipeline: batch_size must be >= 1, got {batch_size}")
        if int(seed) < 0:
            raise DataError(f"ImagePipeline: seed must be >= 0, got {seed}")
        self.images = images
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self._perm_cache = {}

    @property
    def num_images(self):
        return self.images.shape[0]

    @property
    def steps_per_epoch(self):
        return math.ceil(self.num_images / self.batch_size)

    def _permutation(self, epoch):
        perm = self._perm_cache.get(epoch)
        if perm is None:
            perm = np.random.default_rng([self.seed, epoch]).permutation(self.num_images)
            if len(self._perm_cache) > 8:
                self._perm_cache.clear()
            self._perm_cache[epoch] = perm
        return perm

    def indices(self, step):
        """int64 (batch_size,) image indices of batch `step`."""
        step = int(step)
        if step < 0:
            raise DataError(f"ImagePipeline: step must be >= 0, got {step}")
        n = self.num_images
        stream = np.arange(step * self.batch_size, (step + 1) * self.batch_size)
        epochs, pos = np.divmod(stream, n)
        out = np.empty(self.batch_size, dtype=np.int64)
        for e in np.unique(epochs):
            sel = epochs == e
            out[sel] = self._permutation(int(e))[pos[sel]]
        return out

    def batch(self, step):
        """float32 (batch_size, H, W, C) batch number `step`."""
        return self.images[self.indices(step)]

    def dataset(self, start_step=0):
        """Endless, prefetched tf.data.Dataset of batches start_step, start_step + 1, ..."""
        shape = (self.batch_size,) + self.images.shape[1:]

        def fetch(step):
            out = tf.numpy_function(lambda s: self.batch(int(s)), [step], tf.float32)
            out.set_shape(shape)
            return out

        ds = tf.data.Dataset.counter(start=int(start_step), dtype=tf.int64)
        ds = ds.map(fetch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.prefetch(tf.data.AUTOTUNE)
