"""Stroke rendering: stroke-3 sketches to SVG and anti-aliased rasters, and sketch grids."""


import numpy as np
import svgwrite
from PIL import Image, ImageDraw, ImageFont

from common import limits
from common.errors import DataError
from common.images.grid import check_canvas, grid_shape
from common.strokes.formats import validate_stroke3

# Raster sketches are drawn this many times larger, then box-filtered down (anti-aliasing).
SUPERSAMPLE = 4


def strokes_to_polylines(s3):
    """Splits a stroke-3 array into absolute pen-down runs.

    Args:
        s3: (N, 3) array of (dx, dy, lift); lift = 1 lifts the pen after that point.

    Returns:
        List of float64 (k, 2) arrays of absolute (x, y) points, one per pen-down run.
    """
    arr = validate_stroke3(s3, allow_empty=True).astype(np.float64)
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
    limits.check(size, limits.MAX_IMAGE_SIDE, "rasterize: size")
    # Supersampling is capped so that the big canvas stays within MAX_IMAGE_SIDE (the full
    # SUPERSAMPLE up to size 2048).
    factor = max(1, min(SUPERSAMPLE, limits.MAX_IMAGE_SIDE // size))
    lw = _default_line_width(size) if line_width is None else float(line_width)
    pad = _default_padding(size, lw) if padding is None else float(padding)
    polylines = strokes_to_polylines(s3)
    big = size * factor
    canvas = Image.new("L", (big, big), 0)
    if polylines:
        scale, offset = _fit_transform(polylines, size, pad)
        draw = ImageDraw.Draw(canvas)
        width = max(1, int(round(lw * factor)))
        radius = width / 2.0
        for run in polylines:
            pts = (run * scale + offset) * factor  # (k, 2) in big-canvas pixels
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
    size = limits.check(size, limits.MAX_IMAGE_SIDE, "rasterize_batch: size")
    limits.check(len(sketches) * size * size, limits.MAX_IMAGE_PIXELS,
                 f"rasterize_batch: {len(sketches)} images of {size} x {size} pixels =")
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
    ncols, nrows = grid_shape(n, ncols)
    labels = _check_labels(labels, n)
    check_canvas(nrows * cell, ncols * cell, "sketch_grid")
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
    ncols, nrows = grid_shape(n, ncols)
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
