"""Image grids, PNG files and TensorBoard image arrays."""

import math

import numpy as np
from PIL import Image

from common import limits
from common.errors import DataError
from common.files import atomic_write


def grid_shape(n, ncols):
    """(columns, rows) of a grid of n items with at most `ncols` columns."""
    if n == 0:
        raise DataError("grid: need at least one item, got an empty list")
    ncols = max(1, min(int(ncols), n))
    return ncols, int(math.ceil(n / ncols))


def check_canvas(height, width, what):
    """Refuses an output image above limits.MAX_IMAGE_PIXELS before it is allocated."""
    limits.check(height * width, limits.MAX_IMAGE_PIXELS, f"{what}: {width} x {height} pixels =")


def _to_uint8_rgb(images):
    """(N, H, W[, C]) float in [0, 1] or uint8 -> uint8 (N, H, W, 3)."""
    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4):
        raise DataError(f"image_grid: expected (N, H, W, 3) images, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float32)
        if not np.all(np.isfinite(arr)):
            raise DataError("image_grid: images hold NaN or infinite values")
        arr = np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return arr[..., :3]


def image_grid(images, ncols, pad=2, pad_value=255):
    """Tiles images into one RGB grid with `pad` pixels of `pad_value` around each.

    Args:
        images: (N, H, W, 3) float in [0, 1] (clipped) or uint8; (N, H, W) or
            (N, H, W, 1) grey is repeated to RGB, RGBA drops alpha.
        ncols: number of columns (clipped to N).
        pad: border width in pixels.
        pad_value: border grey level 0..255.

    Returns:
        uint8 (rows * (H + pad) + pad, ncols * (W + pad) + pad, 3) image.
    """
    arr = _to_uint8_rgb(images)
    n, h, w, _ = arr.shape
    ncols, nrows = grid_shape(n, ncols)
    height, width = nrows * (h + pad) + pad, ncols * (w + pad) + pad
    check_canvas(height, width, "image_grid")
    out = np.full((height, width, 3), pad_value, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, ncols)
        y0, x0 = pad + r * (h + pad), pad + c * (w + pad)
        out[y0:y0 + h, x0:x0 + w] = arr[i]
    return out


def save_png(array, path):
    """Atomically writes an image array as PNG, creating parent directories.

    Args:
        array: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8, or float in [0, 1] (clipped).
        path: destination file.

    Returns:
        The path written.
    """
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise DataError(f"save_png: cannot save an array of shape {arr.shape} to {path}")
    if arr.dtype != np.uint8:
        arr = np.round(np.clip(np.nan_to_num(arr.astype(np.float32)), 0, 1) * 255)
        arr = arr.astype(np.uint8)
    img = Image.fromarray(arr)
    return atomic_write(path, lambda f: img.save(f, format="PNG"), "wb")


def to_summary_image(array):
    """Converts an image for tf.summary.image.

    Args:
        array: (H, W), (H, W, C) or (N, H, W, C); uint8 (scaled by 1/255) or float in
            [0, 1] (clipped).

    Returns:
        float32 (N, H, W, C) array in [0, 1]; N = 1 for a single image.
    """
    arr = np.asarray(array)
    scale = 1.0 / 255.0 if arr.dtype == np.uint8 else 1.0
    arr = arr.astype(np.float32) * scale
    if arr.ndim == 2:
        arr = arr[None, :, :, None]
    elif arr.ndim == 3:
        arr = arr[None]
    elif arr.ndim != 4:
        raise DataError(f"to_summary_image: expected 2 to 4 dimensions, got shape {arr.shape}")
    return np.clip(arr, 0.0, 1.0)
