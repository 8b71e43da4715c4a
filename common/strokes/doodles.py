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
