"""Built-in procedural content and style images (no files needed), seeded by np.random.Generator."""

import numpy as np

from common.errors import DataError


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
