"""The WAE SavedModel client: load with the kind check, call the signatures, batch and pair images."""

import threading
import types

import numpy as np
import tensorflow as tf

from common import exports
from common.errors import DataError
from wae_style import batches
from wae_style import precision as precision_lib


class StyleModel:
    """An exported WAE style-transfer model; calls are serialised by a lock (thread-safe).

    Images in and out are float32 (S, S, 3) or (N, S, S, 3) in [0, 1] (uint8 is divided by
    255), S = image_size; a batch of one content or style image pairs with N of the other.

    Args:
        path: export folder or workdir (a SavedModel is code: load only what you trust).
        batch_size: images per call of the SavedModel.
        precision: transfer precision: "auto" (bf16 convolutions for calls of at least
            wae_style.precision.BF16_MIN_BATCH images where bf16 is measured faster, on
            the export's decoder at `batch_size`, once; else float32), "float32" or
            "bfloat16" (wae_style.precision.use_bf16).

    Raises:
        DataError: not an export, an export of another kind ("a 'sketch_rnn' export,
            expected 'wae_style'"), an unknown precision, or "bfloat16" asked of an export
            made before the bf16 signature.

    Reference: wae_style/export.py for the signatures.
    """

    def __init__(self, path, batch_size=64, precision="auto"):
        if precision not in precision_lib.PRECISIONS:
            raise DataError(f"precision={precision!r}: use one of {precision_lib.PRECISIONS}")
        self.path, self._m, self.meta = exports.load_export(path, "wae_style")
        self.image_size = int(self.meta["image_size"])
        self.batch_size = int(batch_size)
        self.precision = precision
        self.has_bf16 = "transfer_bf16" in self.meta.get("signatures", ())
        self._bf16_faster = self._measure_bf16() if precision == "auto" else None  # Once.
        if precision == "bfloat16" and not self.has_bf16:
            raise DataError(f"{self.path}: this export has no bf16 transfer (made before it); "
                            "re-export it or use precision float32")
        self.lock = threading.Lock()

    @property
    def content_dim(self):
        return self.meta.get("config", {}).get("content_dim")

    def info(self):
        return {"path": str(self.path), "image_size": self.image_size,
                "content_dim": self.content_dim, "vgg_weights": self.meta.get("vgg_weights"),
                "precision": self.precision, "bf16_transfer": self.has_bf16}

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
        t = tf.constant(float(strength), tf.float32)

        def run(a, b):
            fn = self._m.transfer_bf16 if self.uses_bf16(len(a)) else self._m.transfer
            return fn(content=a, style=b, strength=t)

        out = self._call(run, c[ic], s[js])
        return out[0] if single else out

    def uses_bf16(self, batch):
        """Whether a call of `batch` images runs the bf16 transfer (see wae_style.precision)."""
        return precision_lib.use_bf16(self.precision, batch, self.has_bf16, self._bf16_faster)

    def _measure_bf16(self):
        """Whether bf16 transfer is faster here (False where it would never run)."""
        if not self.has_bf16 or self.batch_size < precision_lib.BF16_MIN_BATCH:
            return False
        # The decoder's sizes from the export's config (no training code is imported here);
        # an export without them is not timed and runs float32.
        recorded = self.meta.get("config") or {}
        try:
            sizes = types.SimpleNamespace(**{k: recorded[k] for k in precision_lib.CONV_FIELDS})
            conv = precision_lib.decoder_conv(sizes, self.batch_size)
        except (KeyError, TypeError, ValueError, IndexError):
            return False
        # Exports are not XLA-compiled.
        return precision_lib.conv_decision(conv, jit_compile=False).dtype == "bfloat16"

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
