"""In-graph sketch rasteriser: padded stroke-3 batches to anti-aliased images with pure TF ops."""

import tensorflow as tf

# Segments handled per loop iteration (bounds the (B, size * size, chunk) temporaries).
CHUNK = 32


def default_line_width(size):
    """Pen width in pixels that common.strokes.render.rasterize uses by default."""
    return max(1.0, float(size) / 32.0)


def default_padding(size, line_width):
    """Margin in pixels that common.strokes.render.rasterize uses by default."""
    return max(float(line_width), float(size) / 16.0)


def resolve(size, line_width=None, padding=None):
    """(line_width, padding) with None or values <= 0 replaced by the render defaults."""
    lw = default_line_width(size) if line_width is None or line_width <= 0 else float(line_width)
    pad = default_padding(size, lw) if padding is None or padding <= 0 else float(padding)
    return lw, pad


def fit_points(strokes, lengths, size, padding, shift=None):
    """Absolute points of padded stroke-3 sketches, fitted into the canvas.

    Same transform as common.strokes.render: the bounding box of the real points is centred and its
    longer side fills size - 2 * padding; a sketch whose points coincide keeps scale 1.

    Args:
        strokes: (B, N, 3) float stroke-3 (dx, dy, lift); rows at or after `lengths` ignored.
        lengths: (B,) int number of real rows.
        size: canvas side in pixels.
        padding: margin in pixels.
        shift: optional (B, 2) offset in pixels added after fitting (augmentation).

    Returns:
        (points (B, N, 2) float32 in pixel units, mask (B, N) bool of real rows).
    """
    strokes = tf.convert_to_tensor(strokes, tf.float32)
    lengths = tf.cast(lengths, tf.int32)
    n = tf.shape(strokes)[1]
    mask = tf.sequence_mask(lengths, n)  # (B, N)
    maskf = tf.cast(mask, tf.float32)[..., None]  # (B, N, 1)
    xy = tf.cumsum(strokes[..., :2] * maskf, axis=1)  # (B, N, 2) absolute
    big = tf.constant(3e38, tf.float32)
    lo = tf.reduce_min(tf.where(mask[..., None], xy, big), axis=1)  # (B, 2)
    hi = tf.reduce_max(tf.where(mask[..., None], xy, -big), axis=1)  # (B, 2)
    has_pts = (lengths > 0)[:, None]  # (B, 1)
    lo = tf.where(has_pts, lo, 0.0)
    hi = tf.where(has_pts, hi, 0.0)
    extent = tf.reduce_max(hi - lo, axis=1)  # (B,)
    avail = max(float(size) - 2.0 * float(padding), 1e-6)
    scale = tf.where(extent > 0, avail / tf.maximum(extent, 1e-30), 1.0)  # (B,)
    offset = float(size) / 2.0 - (lo + hi) / 2.0 * scale[:, None]  # (B, 2)
    if shift is not None:
        offset = offset + tf.cast(shift, tf.float32)
    return xy * scale[:, None, None] + offset[:, None, :], mask


def rasterize_tf(strokes, lengths, size=64, line_width=None, padding=None, shift=None,
                 chunk=CHUNK):
    """Draws a batch of stroke-3 sketches as anti-aliased grey images, in TF ops only.

    The sketch is placed exactly as common.strokes.render.rasterize places it (aspect ratio kept,
    centred, longer side = size - 2 * padding). Every pen-down segment from point i to point
    i + 1 (lift_i = 0) is drawn with round caps; the last point of each stroke adds a dot, so
    a one-point stroke is visible. A pixel's ink is max over segments of
    clip(line_width / 2 + 0.5 - d, 0, 1), d the distance from the pixel centre to the segment:
    a one-pixel linear ramp approximating render.rasterize's 4x supersampled box filter.
    Works in a SavedModel signature (dynamic batch and length). Cost is
    O(B * size^2 * max(lengths)); only ceil(max(lengths) / chunk) chunks are computed.

    Args:
        strokes: (B, N, 3) stroke-3 float (raw or normalised units: the fit removes scale).
        lengths: (B,) int real rows per sketch; a length of 0 gives a blank image.
        size: output side in pixels (Python int).
        line_width: pen width in pixels (None or <= 0: max(1, size / 32), as render).
        padding: margin in pixels (None or <= 0: max(line_width, size / 16), as render).
        shift: optional (B, 2) pixel offset (x, y) applied after fitting.
        chunk: segments per loop iteration.

    Returns:
        float32 (B, size, size, 1) in [0, 1], 1 = ink; y grows downwards (row index).
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"rasterize_tf: size must be >= 1, got {size}")
    lw, pad = resolve(size, line_width, padding)
    strokes = tf.convert_to_tensor(strokes, tf.float32)
    lengths = tf.cast(lengths, tf.int32)
    b, n = tf.shape(strokes)[0], tf.shape(strokes)[1]
    lengths = tf.clip_by_value(lengths, 0, n)
    pts, mask = fit_points(strokes, lengths, size, pad, shift)  # (B, N, 2), (B, N)
    lift = strokes[..., 2]  # (B, N)
    idx = tf.range(n)[None, :]  # (1, N)
    down = tf.logical_and(lift < 0.5, idx + 1 < lengths[:, None])  # (B, N)
    nxt = tf.concat([pts[:, 1:], pts[:, -1:]], axis=1)  # (B, N, 2)
    # Segment i: p_i -> p_{i+1} when the pen stays down, else the dot p_i -> p_i.
    seg_a, seg_b = pts, tf.where(down[..., None], nxt, pts)

    c = tf.range(size, dtype=tf.float32) + 0.5
    gy, gx = tf.meshgrid(c, c, indexing="ij")  # (S, S) each
    px = tf.reshape(gx, [1, -1, 1])  # (1, P, 1)
    py = tf.reshape(gy, [1, -1, 1])  # (1, P, 1)
    radius = lw / 2.0 + 0.5

    n_used = tf.reduce_max(tf.concat([lengths, [0]], axis=0))
    n_chunks = (n_used + chunk - 1) // chunk
    total = n_chunks * chunk
    extra = tf.maximum(total - n, 0)

    def pad_rows(t):
        return tf.pad(t, [[0, 0], [0, extra], [0, 0]])

    seg_a, seg_b = pad_rows(seg_a), pad_rows(seg_b)
    far = tf.pad(1e12 * (1.0 - tf.cast(mask, tf.float32)), [[0, 0], [0, extra]],
                 constant_values=1e12)  # (B, total)

    def body(i, nearest):
        s = i * chunk
        a = seg_a[:, s:s + chunk]  # (B, K, 2)
        ab = seg_b[:, s:s + chunk] - a  # (B, K, 2)
        ax, ay = a[:, None, :, 0], a[:, None, :, 1]  # (B, 1, K)
        ux, uy = ab[:, None, :, 0], ab[:, None, :, 1]  # (B, 1, K)
        len2 = ux * ux + uy * uy  # (B, 1, K)
        dx, dy = px - ax, py - ay  # (B, P, K)
        t = tf.clip_by_value(tf.math.divide_no_nan(dx * ux + dy * uy, len2), 0.0, 1.0)
        ex, ey = dx - t * ux, dy - t * uy  # (B, P, K)
        d2 = ex * ex + ey * ey + far[:, None, s:s + chunk]  # Padding rows are far away.
        return i + 1, tf.minimum(nearest, tf.reduce_min(d2, axis=2))

    nearest0 = tf.fill(tf.stack([b, size * size]), 1e12)  # (B, P) squared distances
    _, nearest = tf.while_loop(lambda i, _: i < n_chunks, body, [tf.constant(0), nearest0])
    ink = tf.clip_by_value(radius - tf.sqrt(nearest), 0.0, 1.0)  # max ink = nearest segment
    return tf.reshape(ink, [-1, size, size, 1])  # (B, S, S, 1)
