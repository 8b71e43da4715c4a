"""Image grids, PNG files and TensorBoard image arrays."""

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

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


def _font(px):
    try:
        return ImageFont.load_default(size=px)
    except (ImportError, OSError, TypeError):  # No FreeType: the fixed bitmap font.
        return ImageFont.load_default()


def labelled_grid(images, ncols, row_labels=None, col_labels=None, scale=2, pad=2,
                  font_px=12):
    """image_grid with row labels drawn to the left and column labels above.

    Args:
        images: as image_grid; each is enlarged `scale` times (nearest neighbour).
        ncols: number of columns.
        row_labels: one string per grid row, or None.
        col_labels: one string per column (may hold newlines), or None.
        scale: integer enlargement of every image.
        pad: border width in pixels.
        font_px: label text height.

    Returns:
        uint8 (H, W, 3) image.
    """
    arr = _to_uint8_rgb(images)
    n, h, w, _ = arr.shape
    ncols, nrows = grid_shape(n, ncols)
    scale = int(scale)
    if not 1 <= scale <= 16:
        raise DataError(f"labelled_grid: scale={scale} must be 1..16")
    for what, labels, count in (("row", row_labels, nrows), ("column", col_labels, ncols)):
        if labels is not None and len(labels) != count:
            raise DataError(f"labelled_grid: got {len(labels)} {what} labels for {count} {what}s")
    check_canvas(nrows * h * scale, ncols * w * scale, "labelled_grid")
    big = np.repeat(np.repeat(arr, scale, axis=1), scale, axis=2)  # (N, h*s, w*s, 3)
    body = Image.fromarray(image_grid(big, ncols, pad=pad))
    font = _font(font_px)
    probe = ImageDraw.Draw(body)

    def size(text):
        box = probe.multiline_textbbox((0, 0), str(text), font=font)
        return box[2] - box[0], box[3] - box[1]

    left = (max(size(t)[0] for t in row_labels) + 2 * pad + 4) if row_labels else 0
    top = (max(size(t)[1] for t in col_labels) + 2 * pad + 4) if col_labels else 0
    check_canvas(body.height + top, body.width + left, "labelled_grid")
    canvas = Image.new("RGB", (body.width + left, body.height + top), (255, 255, 255))
    canvas.paste(body, (left, top))
    draw = ImageDraw.Draw(canvas)
    ch, cw = h * scale + pad, w * scale + pad
    for r, text in enumerate(row_labels or ()):
        th = size(text)[1]
        draw.multiline_text((pad, top + pad + r * ch + (ch - th) // 2), str(text),
                            fill=(0, 0, 0), font=font)
    for c, text in enumerate(col_labels or ()):
        tw = size(text)[0]
        draw.multiline_text((left + pad + c * cw + max((cw - tw) // 2, 0), pad), str(text),
                            fill=(0, 0, 0), font=font, align="center")
    return np.asarray(canvas)
