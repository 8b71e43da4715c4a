"""The WAE SavedModel client: load with the kind check, call the signatures, batch and pair images."""

import threading

import numpy as np

from common import exports
from wae_style import batches


class StyleModel:
    """An exported WAE style-transfer model; calls are serialised by a lock (thread-safe).

    Images in and out are float32 (S, S, 3) or (N, S, S, 3) in [0, 1] (uint8 is divided by
    255), S = image_size; a batch of one content or style image pairs with N of the other.

    Args:
        path: export folder or workdir (a SavedModel is code: load only what you trust).
        batch_size: images per call of the SavedModel.

    Raises:
        DataError: not an export, or an export of another kind ("a 'sketch_rnn' export,
            expected 'wae_style'").

    Reference: wae_style/export.py for the signatures.
    """

    def __init__(self, path, batch_size=64):
        import tensorflow as tf

        self._tf = tf
        self.path, self._m, self.meta = exports.load_export(path, "wae_style")
        self.image_size = int(self.meta["image_size"])
        self.batch_size = int(batch_size)
        self.lock = threading.Lock()

    @property
    def content_dim(self):
        return self.meta.get("config", {}).get("content_dim")

    def info(self):
        return {"path": str(self.path), "image_size": self.image_size,
                "content_dim": self.content_dim, "vgg_weights": self.meta.get("vgg_weights")}

    def _images(self, images, name):
        return batches.as_image_batch(images, self.image_size, name)

    def _call(self, fn, *arrays):
        n = len(arrays[0])
        with self.lock:
            out = batches.batched(lambda *a: fn(*a)["images"].numpy(), n, self.batch_size, *arrays)
        return np.clip(out, 0.0, 1.0)

    def transfer(self, content, style, strength=1.0):
        """Stylised images; single images in give a single image out.

        Args:
            content, style: images (see the class docstring).
            strength: 1 uses the style image's latent, 0 the content's own; between blends.
        """
        single = np.ndim(content) == 3 and np.ndim(style) == 3
        c, s = self._images(content, "content"), self._images(style, "style")
        n, ic, js = batches.pair_indices(len(c), len(s), "transfer")
        t = self._tf.constant(float(strength), self._tf.float32)
        out = self._call(lambda a, b: self._m.transfer(content=a, style=b, strength=t),
                         c[ic], s[js])
        return out[0] if single else out

    def reconstruct(self, images):
        """Reconstructions from the images' own content and style latents (means)."""
        x = self._images(images, "images")
        out = self._call(lambda a: self._m.reconstruct(images=a), x)
        return out[0] if np.ndim(images) == 3 else out

    def transfer_grid(self, contents, styles, strength=1.0, pad=2):
        """A uint8 content x style grid (see wae_style.batches.transfer_grid)."""
        return batches.transfer_grid(lambda c, s: self.transfer(c, s, strength),
                                     self._images(contents, "contents"),
                                     self._images(styles, "styles"), pad)
