"""Procedural demo data: hand-like stroke-3 doodles and synthetic content/style images (numpy)."""

import numpy as np

from common.errors import DataError

BUILTIN_CLASSES = ("circle", "square", "triangle", "star", "spiral", "zigzag", "house")

# Doodles span roughly this many units, like QuickDraw sketches scaled to 255.
_CANVAS = 255.0


def _edges(vertices, per_edge):
    """Points along a polyline through `vertices`, `per_edge` steps per edge, ends included."""
    v = np.asarray(vertices, dtype=np.float64)
    t = np.arange(per_edge, dtype=np.float64)[:, None] / per_edge  # (per_edge, 1)
    seg = v[:-1, None, :] + t[None] * (v[1:] - v[:-1])[:, None, :]  # (E, per_edge, 2)
    return np.concatenate([seg.reshape(-1, 2), v[-1:]], axis=0)


def _arc(rng, n, start, sweep, rx=1.0, ry=1.0):
    theta = start + sweep * np.linspace(0.0, 1.0, n)
    return np.stack([rx * np.cos(theta), ry * np.sin(theta)], axis=1)


def _circle(rng):
    start = rng.uniform(0, 2 * np.pi)
    sweep = (2 * np.pi + rng.uniform(0.0, 0.5)) * rng.choice([-1.0, 1.0])
    if rng.random() < 0.2:  # Two half arcs.
        return [_arc(rng, 14, start, sweep / 2), _arc(rng, 14, start + sweep / 2, sweep / 2)]
    return [_arc(rng, int(rng.integers(22, 33)), start, sweep)]


def _square(rng):
    c = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=np.float64)
    c = np.roll(c[:-1], int(rng.integers(4)), axis=0)
    c = np.concatenate([c, c[:1]])
    per = int(rng.integers(3, 7))
    if rng.random() < 0.25:  # Two L-shaped strokes.
        return [_edges(c[:3], per), _edges(c[2:], per)]
    return [_edges(c, per)]


def _triangle(rng):
    base = -np.pi / 2 + rng.normal(0, 0.1)
    ang = base + np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3, 2 * np.pi])
    v = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    return [_edges(v, int(rng.integers(3, 8)))]


def _star(rng):
    ang = -np.pi / 2 + np.arange(6) * 4 * np.pi / 5 + rng.normal(0, 0.05)  # Pentagram.
    v = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    return [_edges(v, int(rng.integers(2, 5)))]


def _spiral(rng):
    turns = rng.uniform(1.8, 3.2)
    n = int(rng.integers(35, 56))
    t = np.linspace(0.05, 1.0, n)
    theta = t * turns * 2 * np.pi * rng.choice([-1.0, 1.0]) + rng.uniform(0, 2 * np.pi)
    return [np.stack([t * np.cos(theta), t * np.sin(theta)], axis=1)]


def _zigzag(rng):
    teeth = int(rng.integers(3, 8))
    x = np.linspace(-1.0, 1.0, 2 * teeth + 1)
    y = 0.4 * np.where(np.arange(len(x)) % 2 == 0, -1.0, 1.0)
    return [_edges(np.stack([x, y], axis=1), 2)]


def _house(rng):
    body = np.array([[-0.8, -0.1], [-0.8, 1.0], [0.8, 1.0], [0.8, -0.1], [-0.8, -0.1]])
    roof = np.array([[-0.95, -0.05], [0.0, -1.0], [0.95, -0.05]])
    strokes = [_edges(body, 3), _edges(roof, 4)]
    if rng.random() < 0.5:  # A door.
        dx = rng.uniform(-0.4, 0.2)
        door = np.array([[dx, 1.0], [dx, 0.45], [dx + 0.3, 0.45], [dx + 0.3, 1.0]])
        strokes.append(_edges(door, 2))
    return strokes


_MAKERS = {
    "circle": _circle, "square": _square, "triangle": _triangle, "star": _star,
    "spiral": _spiral, "zigzag": _zigzag, "house": _house,
}


def _wobble(rng, pts, amount):
    """Adds a smooth, low-frequency sideways wobble and a little point noise."""
    s = np.linspace(0.0, 1.0, len(pts))[:, None]  # (k, 1)
    freq = rng.uniform(0.5, 2.5, size=(1, 2))
    phase = rng.uniform(0, 2 * np.pi, size=(1, 2))
    smooth = amount * np.sin(2 * np.pi * freq * s + phase)  # (k, 2)
    return pts + smooth + rng.normal(0.0, amount / 3.0, size=pts.shape)


def builtin_sketch(class_name, rng):
    """Draws one hand-like doodle of a built-in class as stroke-3.

    Random size, aspect, rotation, a smooth wobble and point noise make each one differ;
    some classes are sometimes (house: always) drawn in several strokes. Coordinates are
    aligned to a 0..~255 box like QuickDraw, y pointing down, at most ~60 points.

    Args:
        class_name: one of BUILTIN_CLASSES.
        rng: np.random.Generator.

    Returns:
        int16 (N, 3) stroke-3 array (dx, dy, lift); the first row is the offset from (0, 0)
        and the last row has lift = 1.
    """
    if class_name not in _MAKERS:
        raise DataError(f"unknown built-in sketch class {class_name!r}; "
                        f"choose from {BUILTIN_CLASSES}")
    strokes = [_wobble(rng, s, 0.04) for s in _MAKERS[class_name](rng)]
    rot = rng.normal(0.0, 0.15)
    c, s = np.cos(rot), np.sin(rot)
    mat = np.array([[c, -s], [s, c]])
    aspect = np.exp(rng.normal(0.0, 0.1))
    strokes = [(st @ mat.T) * np.array([aspect, 1.0 / aspect]) for st in strokes]
    pts = np.concatenate(strokes)
    lo = np.min(pts, axis=0)
    extent = max(float(np.max(np.max(pts, axis=0) - lo)), 1e-6)
    scale = rng.uniform(0.6, 1.0) * _CANVAS / extent  # Longer side 150..255 units.
    strokes = [st * scale for st in strokes]
    lo = lo * scale
    rows = []
    for st in strokes:
        pts = np.round(st - lo).astype(np.int64)  # Aligned to the origin.
        keep = np.ones(len(pts), dtype=bool)
        keep[1:] = np.any(pts[1:] != pts[:-1], axis=1)  # Drop repeated points.
        pts = pts[keep]
        lift = np.zeros((len(pts), 1), dtype=np.int64)
        lift[-1] = 1
        rows.append(np.concatenate([pts, lift], axis=1))
    absolute = np.concatenate(rows)  # (N, 3) absolute x, y and lift.
    out = absolute.copy()
    out[1:, :2] = absolute[1:, :2] - absolute[:-1, :2]
    return out.astype(np.int16)


def builtin_sketches(n_per_class, rng, classes=BUILTIN_CLASSES):
    """Draws `n_per_class` doodles of each class, class by class.

    Args:
        n_per_class: number of sketches per class.
        rng: np.random.Generator.
        classes: class names to draw (default all of BUILTIN_CLASSES).

    Returns:
        (sketches, labels, class_names): list of int16 stroke-3 arrays, int32 (N,) labels
        indexing class_names, and the list of class names.
    """
    if int(n_per_class) < 0:
        raise DataError(f"n_per_class must be >= 0, got {n_per_class}")
    classes = list(classes)
    sketches, labels = [], []
    for k, name in enumerate(classes):
        for _ in range(int(n_per_class)):
            sketches.append(builtin_sketch(name, rng))
            labels.append(k)
    return sketches, np.asarray(labels, dtype=np.int32), classes


# ----------------------------------------------------------------------------- images


def _grid(size):
    """Pixel-centre coordinates in [0, 1], each (1, size, size)."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    y, x = np.meshgrid(c, c, indexing="ij")
    return x[None], y[None]


def _col(v):
    """(n, ...) per-image values -> (n, 1, 1[, ...]) for broadcasting over pixels."""
    v = np.asarray(v, dtype=np.float32)
    return v.reshape(v.shape[:1] + (1, 1) + v.shape[1:])


def _blend(img, alpha, colour):
    """img (n, S, S, 3), alpha (n, S, S) in [0, 1], colour (n, 3)."""
    a = alpha[..., None]
    return img * (1.0 - a) + a * _col(colour)


def _ellipse_alpha(x, y, cx, cy, rx, ry, size):
    """Anti-aliased ellipse coverage; all params (n,) in [0, 1] units."""
    q = ((x - _col(cx)) / _col(rx)) ** 2 + ((y - _col(cy)) / _col(ry)) ** 2
    dist = (np.sqrt(q) - 1.0) * _col(np.minimum(rx, ry)) * size  # ~ signed distance (px)
    return np.clip(0.5 - dist, 0.0, 1.0)


def _rect_alpha(x, y, cx, cy, rx, ry, size):
    dist = np.maximum(np.abs(x - _col(cx)) - _col(rx), np.abs(y - _col(cy)) - _col(ry))
    return np.clip(0.5 - dist * size, 0.0, 1.0)


def _content_images(n, size, rng):
    x, y = _grid(size)
    # Background: a linear gradient between two colours along a random direction.
    ang = rng.uniform(0, 2 * np.pi, n)
    t = np.clip(0.5 + (x - 0.5) * _col(np.cos(ang)) + (y - 0.5) * _col(np.sin(ang)), 0, 1)
    c0, c1 = rng.uniform(0, 1, (n, 3)), rng.uniform(0, 1, (n, 3))
    img = _col(c0) * (1 - t[..., None]) + _col(c1) * t[..., None]  # (n, S, S, 3)
    for _ in range(3):  # Up to three random shapes each.
        cx, cy = rng.uniform(0.1, 0.9, n), rng.uniform(0.1, 0.9, n)
        rx, ry = rng.uniform(0.06, 0.3, n), rng.uniform(0.06, 0.3, n)
        is_rect = _col(rng.random(n) < 0.5)
        alpha = np.where(is_rect, _rect_alpha(x, y, cx, cy, rx, ry, size),
                         _ellipse_alpha(x, y, cx, cy, rx, ry, size))
        alpha = alpha * _col(rng.random(n) < 0.8)
        img = _blend(img, alpha, rng.uniform(0, 1, (n, 3)))
    # A face-like blob on some: skin ellipse, two eyes, a mouth.
    face = rng.random(n) < 0.4
    fx, fy = rng.uniform(0.35, 0.65, n), rng.uniform(0.4, 0.6, n)
    fr = rng.uniform(0.2, 0.32, n)
    skin = np.stack([rng.uniform(0.6, 1.0, n), rng.uniform(0.4, 0.8, n),
                     rng.uniform(0.3, 0.65, n)], axis=1)
    on = _col(face)
    img = _blend(img, on * _ellipse_alpha(x, y, fx, fy, fr * 0.8, fr, size), skin)
    dark = np.full((n, 3), 0.08)
    for side in (-1.0, 1.0):
        eye = _ellipse_alpha(x, y, fx + side * 0.35 * fr, fy - 0.25 * fr,
                             0.12 * fr, 0.12 * fr, size)
        img = _blend(img, on * eye, dark)
    mouth = (_ellipse_alpha(x, y, fx, fy + 0.35 * fr, 0.4 * fr, 0.2 * fr, size)
             * (1.0 - _ellipse_alpha(x, y, fx, fy + 0.27 * fr, 0.4 * fr, 0.2 * fr, size)))
    img = _blend(img, on * mouth, np.tile([[0.6, 0.1, 0.1]], (n, 1)))
    return img


def _upsample(grid, size):
    """Bilinear upsampling of (n, g, g) grids to (n, size, size)."""
    g = grid.shape[1]
    pos = (np.arange(size, dtype=np.float32) + 0.5) / size * (g - 1)
    i0 = np.clip(np.floor(pos).astype(np.int64), 0, g - 2)
    w = (pos - i0)[None]
    rows = grid[:, i0] * (1 - w[..., None]) + grid[:, i0 + 1] * w[..., None]  # (n, S, g)
    return rows[:, :, i0] * (1 - w[:, None]) + rows[:, :, i0 + 1] * w[:, None]  # (n, S, S)


def _value_noise(n, size, rng):
    """Fractal value noise in [0, 1], random persistence per image."""
    persistence = _col(rng.uniform(0.35, 0.75, n))
    total = np.zeros((n, size, size), dtype=np.float32)
    norm = np.zeros((n, 1, 1), dtype=np.float32)
    amp = np.ones((n, 1, 1), dtype=np.float32)
    for g in (3, 5, 9, 17, 33):
        total += amp * _upsample(rng.random((n, g, g)).astype(np.float32), size)
        norm += amp
        amp = amp * persistence
    t = total / norm
    lo, hi = t.min(axis=(1, 2), keepdims=True), t.max(axis=(1, 2), keepdims=True)
    return (t - lo) / np.maximum(hi - lo, 1e-6)


def _style_images(n, size, rng):
    x, y = _grid(size)
    ang = rng.uniform(0, np.pi, n)
    u = x * _col(np.cos(ang)) + y * _col(np.sin(ang))  # Rotated coordinates.
    v = -x * _col(np.sin(ang)) + y * _col(np.cos(ang))
    freq = _col(rng.uniform(3, 12, n))
    sharp = _col(rng.uniform(1, 8, n))
    stripes = 0.5 + 0.5 * np.tanh(sharp * np.sin(2 * np.pi * freq * u))
    checker = 0.5 + 0.5 * np.tanh(sharp * np.sin(2 * np.pi * freq * u)
                                  * np.sin(2 * np.pi * freq * v))
    fu, fv = (freq * u) % 1.0 - 0.5, (freq * v) % 1.0 - 0.5
    radius = _col(rng.uniform(0.15, 0.4, n))
    dots = np.clip(0.5 - (np.sqrt(fu ** 2 + fv ** 2) - radius) * size / freq, 0, 1)
    noise = _value_noise(n, size, rng)
    warped = 0.5 + 0.5 * np.sin(2 * np.pi * (freq * u + 2.0 * noise))  # Marble-like.
    kinds = np.stack([stripes, checker, dots, noise, warped], axis=0)  # (K, n, S, S)
    pick = rng.integers(0, len(kinds), n)
    t = kinds[pick, np.arange(n)]  # (n, S, S)
    # Palette: three colours per image, t mapped piecewise-linearly through them.
    pal = rng.uniform(0, 1, (n, 3, 3))
    t2 = t[..., None] * 2.0
    lo_part = _col(pal[:, 0]) * (1 - np.clip(t2, 0, 1)) + _col(pal[:, 1]) * np.clip(t2, 0, 1)
    hi_w = np.clip(t2 - 1.0, 0, 1)
    img = lo_part * (1 - hi_w) + _col(pal[:, 2]) * hi_w
    grain = rng.normal(0, 0.02, (n, size, size, 1)).astype(np.float32)
    return img + grain


def builtin_images(n, size=64, rng=None, kind="content"):
    """Synthetic RGB images for demos and tests (vectorised numpy).

    "content": a two-colour gradient background, up to three anti-aliased ellipses or
    rectangles, and on about 40% a face-like blob (skin ellipse, eyes, mouth).
    "style": one procedural texture per image (stripes or checkers at a random angle,
    a dot lattice, fractal value noise, or noise-warped marble) mapped through a random
    three-colour palette, plus light grain.

    Args:
        n: number of images.
        size: side in pixels.
        rng: np.random.Generator (default np.random.default_rng(0), deterministic).
        kind: "content" or "style".

    Returns:
        float32 (n, size, size, 3) array in [0, 1].
    """
    if rng is None:
        rng = np.random.default_rng(0)
    n, size = int(n), int(size)
    if n < 0 or size < 2:
        raise DataError(f"builtin_images: need n >= 0 and size >= 2, got n={n}, size={size}")
    if kind == "content":
        img = _content_images(n, size, rng)
    elif kind == "style":
        img = _style_images(n, size, rng)
    else:
        raise DataError(f"builtin_images: kind must be 'content' or 'style', got {kind!r}")
    return np.clip(img, 0.0, 1.0).astype(np.float32)
