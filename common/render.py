"""Rendering: stroke-3 sketches to SVG and anti-aliased rasters, image grids, atomic file writes."""

import math
import os
import tempfile

import numpy as np
import svgwrite
from PIL import Image, ImageDraw, ImageFont

from common.errors import DataError

# Raster sketches are drawn this many times larger, then box-filtered down (anti-aliasing).
SUPERSAMPLE = 4


def _check_stroke3(s3, name="sketch"):
    """Returns s3 as a float64 (N, 3) array, raising DataError on a bad shape or values."""
    try:
        arr = np.asarray(s3, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{name}: not a numeric stroke-3 array ({e})") from None
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise DataError(f"{name}: stroke-3 must have shape (N, 3), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name}: stroke-3 holds NaN or infinite values")
    return arr


def strokes_to_polylines(s3):
    """Splits a stroke-3 array into absolute pen-down runs.

    Args:
        s3: (N, 3) array of (dx, dy, lift); lift = 1 lifts the pen after that point.

    Returns:
        List of float64 (k, 2) arrays of absolute (x, y) points, one per pen-down run.
    """
    arr = _check_stroke3(s3)
    if len(arr) == 0:
        return []
    xy = np.cumsum(arr[:, :2], axis=0)  # (N, 2)
    ends = np.flatnonzero(arr[:, 2] > 0.5) + 1
    runs = np.split(xy, ends)
    return [r for r in runs if len(r)]


def _fit_transform(polylines, size, padding):
    """Scale and offset that fit the polylines' bounding box, centred, into size - 2 * padding."""
    pts = np.concatenate(polylines, axis=0)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    extent = float(np.max(hi - lo))
    avail = max(float(size) - 2.0 * float(padding), 1e-6)
    scale = avail / extent if extent > 0 else 1.0
    centre = (lo + hi) / 2.0
    offset = np.array([size / 2.0, size / 2.0]) - centre * scale
    return scale, offset


def _default_line_width(size):
    return max(1.0, size / 32.0)


def _default_padding(size, line_width):
    return max(float(line_width), size / 16.0)


def rasterize(s3, size=64, line_width=None, padding=None):
    """Draws a stroke-3 sketch as an anti-aliased grey image.

    The sketch keeps its aspect ratio and is centred; its longer side fills the canvas
    less `padding` on each side. It is drawn SUPERSAMPLE times larger with round joints
    and caps, then box-filtered down. A sketch whose points all coincide becomes a dot;
    an empty sketch gives a blank canvas.

    Args:
        s3: (N, 3) stroke-3 array (dx, dy, lift), y pointing down as in QuickDraw.
        size: output side in pixels.
        line_width: pen width in output pixels (default max(1, size / 32)).
        padding: margin in output pixels (default max(line_width, size / 16)).

    Returns:
        float32 (size, size) array in [0, 1], 1 = ink.
    """
    size = int(size)
    if size < 1:
        raise DataError(f"rasterize: size must be >= 1, got {size}")
    lw = _default_line_width(size) if line_width is None else float(line_width)
    pad = _default_padding(size, lw) if padding is None else float(padding)
    polylines = strokes_to_polylines(s3)
    big = size * SUPERSAMPLE
    canvas = Image.new("L", (big, big), 0)
    if polylines:
        scale, offset = _fit_transform(polylines, size, pad)
        draw = ImageDraw.Draw(canvas)
        width = max(1, int(round(lw * SUPERSAMPLE)))
        radius = width / 2.0
        for run in polylines:
            pts = (run * scale + offset) * SUPERSAMPLE  # (k, 2) in big-canvas pixels
            flat = [tuple(p) for p in pts.tolist()]
            if len(flat) > 1:
                draw.line(flat, fill=255, width=width, joint="curve")
            for x, y in (flat[0], flat[-1]):  # Round caps; a lone point is a dot.
                draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=255)
    small = canvas.resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def rasterize_batch(sketches, size=64, line_width=None, padding=None):
    """Rasterises a list of stroke-3 sketches.

    Args:
        sketches: sequence of (N_i, 3) stroke-3 arrays.
        size, line_width, padding: as in `rasterize`.

    Returns:
        float32 (N, size, size) array in [0, 1], 1 = ink.
    """
    out = np.zeros((len(sketches), size, size), dtype=np.float32)
    for i, s3 in enumerate(sketches):
        out[i] = rasterize(s3, size=size, line_width=line_width, padding=padding)
    return out


def _add_sketch_paths(dwg, container, s3, size, stroke_width, padding, color, origin=(0.0, 0.0)):
    """Adds one sketch's pen-down runs to an svgwrite container, fitted into a size-square."""
    polylines = strokes_to_polylines(s3)
    if not polylines:
        return
    scale, offset = _fit_transform(polylines, size, padding)
    offset = offset + np.asarray(origin, dtype=np.float64)
    for run in polylines:
        pts = run * scale + offset  # (k, 2)
        if len(pts) == 1:
            x, y = pts[0]
            container.add(dwg.circle(center=(round(x, 3), round(y, 3)),
                                     r=stroke_width / 2.0, fill=color))
            continue
        d = "M " + " L ".join(f"{x:.3f},{y:.3f}" for x, y in pts)
        container.add(dwg.path(d=d, fill="none", stroke=color, stroke_width=stroke_width,
                               stroke_linecap="round", stroke_linejoin="round"))


def stroke3_to_svg(s3, size=256, stroke_width=2.0, padding=None, color="black",
                   background="white"):
    """Renders a stroke-3 sketch as an SVG document.

    Each pen-down run becomes a `<path>` (a lone point becomes a small `<circle>`). The
    sketch keeps its aspect ratio and is centred in a size x size viewBox.

    Args:
        s3: (N, 3) stroke-3 array.
        size: side of the square viewBox (and the width/height attributes).
        stroke_width: pen width in viewBox units.
        padding: margin in viewBox units (default size / 16).
        color: stroke colour (any SVG colour).
        background: fill of a full-size background rect, or None for transparent.

    Returns:
        The SVG document as a string.
    """
    pad = size / 16.0 if padding is None else float(padding)
    dwg = svgwrite.Drawing(size=(size, size), viewBox=f"0 0 {size} {size}")
    if background is not None:
        dwg.add(dwg.rect(insert=(0, 0), size=(size, size), fill=background))
    _add_sketch_paths(dwg, dwg, s3, size, stroke_width, pad, color)
    return dwg.tostring()


def _grid_shape(n, ncols):
    if n == 0:
        raise DataError("grid: need at least one item, got an empty list")
    ncols = max(1, min(int(ncols), n))
    return ncols, int(math.ceil(n / ncols))


def _check_labels(labels, n):
    if labels is None:
        return None
    labels = [str(x) for x in labels]
    if len(labels) != n:
        raise DataError(f"grid: got {len(labels)} labels for {n} items")
    return labels


def _label_font(px):
    try:
        return ImageFont.load_default(size=px)
    except (ImportError, OSError, TypeError):  # No FreeType: fixed bitmap font.
        return ImageFont.load_default()


def sketch_grid(sketches, ncols, cell=128, labels=None, line_width=None):
    """Rasterises sketches into an RGB grid: black ink on white, grey cell borders.

    Args:
        sketches: sequence of stroke-3 arrays.
        ncols: number of columns (clipped to the number of sketches).
        cell: side of each square cell in pixels.
        labels: optional sequence of strings, one per sketch, written at the top left.
        line_width: pen width in pixels (default as in `rasterize`).

    Returns:
        uint8 (rows * cell, ncols * cell, 3) image.
    """
    n = len(sketches)
    ncols, nrows = _grid_shape(n, ncols)
    labels = _check_labels(labels, n)
    out = np.full((nrows * cell, ncols * cell, 3), 255, dtype=np.uint8)
    for i, s3 in enumerate(sketches):
        r, c = divmod(i, ncols)
        ink = rasterize(s3, size=cell, line_width=line_width)
        tile = np.round(255.0 * (1.0 - ink)).astype(np.uint8)
        out[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] = tile[..., None]
    img = Image.fromarray(out)
    draw = ImageDraw.Draw(img)
    font = _label_font(max(8, cell // 10)) if labels is not None else None
    for i in range(n):
        r, c = divmod(i, ncols)
        x0, y0 = c * cell, r * cell
        draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], outline=(200, 200, 200))
        if labels is not None:
            draw.text((x0 + 3, y0 + 2), labels[i], fill=(200, 0, 0), font=font)
    return np.asarray(img, dtype=np.uint8)


def sketch_grid_svg(sketches, ncols, cell=128, labels=None, stroke_width=1.5):
    """Lays sketches out in one SVG document, one cell x cell square each.

    Args:
        sketches: sequence of stroke-3 arrays.
        ncols: number of columns (clipped to the number of sketches).
        cell: side of each cell in SVG units.
        labels: optional sequence of strings, one per sketch.
        stroke_width: pen width in SVG units.

    Returns:
        The SVG document as a string.
    """
    n = len(sketches)
    ncols, nrows = _grid_shape(n, ncols)
    labels = _check_labels(labels, n)
    w, h = ncols * cell, nrows * cell
    dwg = svgwrite.Drawing(size=(w, h), viewBox=f"0 0 {w} {h}")
    dwg.add(dwg.rect(insert=(0, 0), size=(w, h), fill="white"))
    for i, s3 in enumerate(sketches):
        r, c = divmod(i, ncols)
        x0, y0 = c * cell, r * cell
        group = dwg.g()
        group.add(dwg.rect(insert=(x0, y0), size=(cell, cell), fill="none",
                           stroke="#c8c8c8", stroke_width=1))
        _add_sketch_paths(dwg, group, s3, cell, stroke_width, cell / 16.0, "black",
                          origin=(x0, y0))
        if labels is not None:
            group.add(dwg.text(labels[i], insert=(x0 + 3, y0 + 3 + cell / 10.0),
                               font_size=cell / 10.0, fill="#c80000",
                               font_family="sans-serif"))
        dwg.add(group)
    return dwg.tostring()


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
    ncols, nrows = _grid_shape(n, ncols)
    out = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, 3), pad_value,
                  dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, ncols)
        y0, x0 = pad + r * (h + pad), pad + c * (w + pad)
        out[y0:y0 + h, x0:x0 + w] = arr[i]
    return out


def _atomic_write(path, write_fn, mode):
    """Writes through a temp file in the target directory, then os.replace()s it into place."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


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
    return _atomic_write(path, lambda f: img.save(f, format="PNG"), "wb")


def save_text(text, path):
    """Atomically writes a UTF-8 text file (e.g. an SVG), creating parent directories.

    Returns:
        The path written.
    """
    return _atomic_write(path, lambda f: f.write(text), "w")


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
