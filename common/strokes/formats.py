"""Pure numpy stroke-3 / stroke-5 conversion, preprocessing and augmentation (as magenta utils)."""

from collections.abc import Sequence

import numpy as np

from common import limits
from common.errors import DataError

# S0 in the Sketch RNN paper: pen down at (0, 0).
START_TOKEN = np.array([0.0, 0.0, 1.0, 0.0, 0.0], dtype=np.float32)
# Padding row after the end of a sketch.
END_TOKEN = np.array([0.0, 0.0, 0.0, 0.0, 1.0], dtype=np.float32)


def validate_stroke3(arr, name="sketch", allow_empty=False):
    """Checks that `arr` is a valid stroke-3 sketch.

    A valid sketch is a 2-D numeric (integer or float, not bool) array of shape (N, 3) with
    N >= 1, all values finite and the lift column in {0, 1}.

    Args:
        arr: array-like to check.
        name: what to call the value in error messages (e.g. "cat.npz train[12]").
        allow_empty: accept N = 0 (e.g. for drawing a model's empty output).

    Returns:
        `arr` as an np.ndarray with its dtype KEPT (int16 stays int16, float32 stays float32).

    Raises:
        DataError: naming `name` when any check fails.
    """
    try:
        a = np.asarray(arr)
    except (ValueError, TypeError) as e:
        raise DataError(f"{name}: not convertible to an array ({e})") from None
    if a.dtype.kind not in "iuf":
        raise DataError(f"{name}: dtype {a.dtype} is not an integer or float type")
    if a.ndim != 2 or a.shape[1] != 3:
        raise DataError(f"{name}: shape {a.shape} is not (N, 3)")
    if a.shape[0] < 1 and not allow_empty:
        raise DataError(f"{name}: empty sketch (0 points)")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise DataError(f"{name}: contains NaN or inf")
    lift = a[:, 2]
    if not np.all((lift == 0) | (lift == 1)):
        bad = np.unique(lift[(lift != 0) & (lift != 1)])[:5]
        raise DataError(f"{name}: lift column must be 0 or 1, found {bad.tolist()}")
    return a


def to_stroke5(s3, max_len):
    """Stroke-3 to stroke-5 padded to `max_len` rows, WITHOUT the start token.

    Same as magenta's `to_big_strokes`: rows (dx, dy, 1 - lift, lift, 0) for the real points,
    then (0, 0, 0, 0, 1) up to `max_len`.

    Args:
        s3: (N, 3) stroke-3 sketch, N <= max_len.
        max_len: number of output rows.

    Returns:
        (max_len, 5) float32.

    Raises:
        DataError: if N > max_len.
    """
    s3 = np.asarray(s3)
    n = len(s3)
    if n > max_len:
        raise DataError(f"sketch of {n} points is longer than max_len={max_len}")
    out = np.zeros((max_len, 5), dtype=np.float32)
    out[:n, 0:2] = s3[:, 0:2]
    out[:n, 3] = s3[:, 2]
    out[:n, 2] = 1 - out[:n, 3]
    out[n:, 4] = 1
    return out


def pad_stroke5(s3, max_len):
    """Stroke-3 to the model's stroke-5 input: S0 then the sketch, padded to max_len + 1 rows.

    The model reads x[:-1] and predicts x[1:].

    Args:
        s3: (N, 3) stroke-3 sketch, N <= max_len.
        max_len: maximum sketch length N_max.

    Returns:
        (max_len + 1, 5) float32 with row 0 = S0 = (0, 0, 1, 0, 0).

    Raises:
        DataError: if N > max_len.
    """
    out = np.empty((max_len + 1, 5), dtype=np.float32)
    out[0] = START_TOKEN
    out[1:] = to_stroke5(s3, max_len)
    return out


def pad_batch(sketches, max_len):
    """Pads a list of stroke-3 sketches to a stroke-5 batch with S0 (magenta DataLoader.pad_batch).

    Args:
        sketches: sequence of B (N_i, 3) arrays, each N_i <= max_len.
        max_len: maximum sketch length N_max.

    Returns:
        (strokes, lengths): (B, max_len + 1, 5) float32 and (B,) int32 (N_i, S0 not counted).

    Raises:
        DataError: if a sketch is longer than max_len.
    """
    b = len(sketches)
    lengths = np.fromiter((len(s) for s in sketches), dtype=np.int32, count=b)
    if b and lengths.max() > max_len:
        i = int(np.argmax(lengths))
        raise DataError(f"sketch {i} of the batch has {lengths[i]} points > max_len={max_len}")
    out = np.zeros((b, max_len + 1, 5), dtype=np.float32)
    out[:, 0] = START_TOKEN
    if b == 0:
        return out, lengths
    flat = np.concatenate([np.asarray(s, dtype=np.float32) for s in sketches])  # (sum N, 3)
    rows = np.repeat(np.arange(b), lengths)
    cols = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths) + 1
    out[rows, cols, 0:2] = flat[:, 0:2]
    out[rows, cols, 3] = flat[:, 2]
    out[rows, cols, 2] = 1 - flat[:, 2]
    pad = np.arange(max_len + 1)[None, :] > lengths[:, None]  # (B, max_len + 1)
    out[pad, 4] = 1
    return out, lengths


def pad_stroke3(sketches):
    """List of (P_i, 3) stroke-3 -> zero-padded (B, max P_i, 3) float32 and (B,) int32 lengths.

    Empty sketches are allowed (length 0); the padded width is at least 1.

    Raises:
        DataError: for an empty list, or more than limits.MAX_CALL_POINTS padded points.
    """
    if len(sketches) == 0:
        raise DataError("no sketches given")
    lengths = np.array([len(s) for s in sketches], np.int64)
    width = max(int(lengths.max()), 1)
    limits.check(len(sketches) * width, limits.MAX_CALL_POINTS,
                 f"{len(sketches)} sketches padded to {width} points =")
    lengths = lengths.astype(np.int32)
    x = np.zeros((len(sketches), width, 3), np.float32)  # (B, N, 3)
    for i, s in enumerate(sketches):
        x[i, :len(s)] = np.asarray(s, np.float32).reshape(-1, 3)
    return x, lengths


def stroke5_to_stroke3(s5, strip_start_token=False):
    """Stroke-5 back to stroke-3 (magenta `to_normal_strokes`), stopping at the first p3 row.

    The start token is NOT removed unless `strip_start_token=True`, in which case row 0 is
    dropped if it is S0-like (dx = dy = 0 and p1 = 1).

    Args:
        s5: (T, 5) array; rows after the first one with p3 > 0.5 are ignored. If no row has
            p3, all rows are used.
        strip_start_token: drop a leading S0 row.

    Returns:
        (N, 3) float32 with lift = (p2 > 0.5). N can be 0 (the sequence ends at once).
    """
    s5 = np.asarray(s5, dtype=np.float32)
    if s5.ndim != 2 or s5.shape[1] != 5:
        raise DataError(f"stroke-5 array has shape {s5.shape}, expected (T, 5)")
    if (strip_start_token and len(s5) and s5[0, 0] == 0 and s5[0, 1] == 0
            and s5[0, 2] == 1):
        s5 = s5[1:]
    ends = np.nonzero(s5[:, 4] > 0.5)[0]
    n = int(ends[0]) if len(ends) else len(s5)
    out = np.zeros((n, 3), dtype=np.float32)
    out[:, 0:2] = s5[:n, 0:2]
    out[:, 2] = s5[:n, 3] > 0.5
    return out


def rdp(points, epsilon, distance="line"):
    """Ramer-Douglas-Peucker simplification of one polyline (iterative, no recursion).

    Args:
        points: (N, 2) polyline.
        epsilon: keep a point if it is farther than this from the current simplified piece.
        distance: "line" (classic RDP, distance to the infinite line through the two kept end
            points; this reproduces Google's QuickDraw simplification) or "segment" (distance
            to the segment, so a stroke that doubles back keeps its turning point). Either way
            coinciding end points use the distance to that point.

    Returns:
        (M, 2) subset of `points` (same dtype, order kept), M <= N; both end points are kept.
    """
    if distance not in ("line", "segment"):
        raise ValueError(f"rdp: distance must be 'line' or 'segment', got {distance!r}")
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise DataError(f"rdp: points have shape {pts.shape}, expected (N, 2)")
    n = len(pts)
    if n < 3:
        return pts.copy()
    p = pts.astype(np.float64)
    keep = np.zeros(n, dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        d = _distances(p[i + 1:j], p[i], p[j], distance == "segment")
        k = int(np.argmax(d))
        if d[k] > epsilon:
            k += i + 1
            keep[k] = True
            stack.append((i, k))
            stack.append((k, j))
    return pts[keep]


def _distances(q, a, b, segment):
    """Distances from points q (K, 2) to the line (or segment) through a and b."""
    ab = b - a
    denom = float(ab @ ab)
    if denom == 0.0:
        return np.hypot(q[:, 0] - a[0], q[:, 1] - a[1])
    if not segment:
        cross = ab[0] * (q[:, 1] - a[1]) - ab[1] * (q[:, 0] - a[0])
        return np.abs(cross) / np.sqrt(denom)
    t = np.clip((q - a) @ ab / denom, 0.0, 1.0)
    proj = a + t[:, None] * ab  # (K, 2)
    return np.hypot(q[:, 0] - proj[:, 0], q[:, 1] - proj[:, 1])


def lines_to_stroke3(lines):
    """Absolute polylines to stroke-3 (magenta `lines_to_strokes`).

    Args:
        lines: sequence of (k_i, 2) absolute point arrays; empty ones are skipped.

    Returns:
        (N, 3) array (dtype from numpy promotion of the inputs: ints stay integer). The first
        row's offset is from (0, 0); lift = 1 on the last point of every line.

    Raises:
        DataError: if there are no points at all or a line is not (k, 2).
    """
    parts, lifts = [], []
    for i, line in enumerate(lines):
        a = np.asarray(line)
        if a.size == 0:
            continue
        if a.ndim != 2 or a.shape[1] != 2 or a.dtype.kind not in "iuf":
            raise DataError(
                f"line {i} has shape {a.shape} and dtype {a.dtype}, expected numeric (k, 2)")
        parts.append(a)
        lift = np.zeros(len(a), dtype=np.int8)
        lift[-1] = 1
        lifts.append(lift)
    if not parts:
        raise DataError("lines_to_stroke3: no points")
    pts = np.concatenate(parts)  # (N, 2)
    out = np.empty((len(pts), 3), dtype=np.result_type(pts.dtype, np.int8))
    out[:, 0:2] = np.diff(pts, axis=0, prepend=np.zeros((1, 2), dtype=pts.dtype))
    out[:, 2] = np.concatenate(lifts)
    return out


def stroke3_to_lines(s3):
    """Stroke-3 to absolute polylines (magenta `strokes_to_lines`).

    The first row's offset is from (0, 0). Points after the last lift form a final line.

    Args:
        s3: (N, 3) stroke-3 sketch.

    Returns:
        list of (k_i, 2) absolute point arrays (integer input gives int64, float gives float64).
    """
    s3 = np.asarray(s3)
    if len(s3) == 0:
        return []
    acc = np.int64 if s3.dtype.kind in "iu" else np.float64
    pts = np.cumsum(s3[:, 0:2], axis=0, dtype=acc)  # (N, 2)
    ends = np.nonzero(s3[:, 2] == 1)[0] + 1
    lines = np.split(pts, ends)
    return [line for line in lines if len(line)]


def bounds(s3):
    """(min_x, max_x, min_y, max_y) of the absolute pen positions, including the origin (0, 0).

    Same convention as magenta `get_bounds` with factor 1.
    """
    s3 = np.asarray(s3, dtype=np.float64)
    pts = np.cumsum(s3[:, 0:2], axis=0)  # (N, 2)
    pts = np.concatenate([np.zeros((1, 2)), pts])
    return (float(pts[:, 0].min()), float(pts[:, 0].max()),
            float(pts[:, 1].min()), float(pts[:, 1].max()))


def get_max_len(sketches):
    """Length of the longest sketch (0 for an empty list)."""
    return max((len(s) for s in sketches), default=0)


def scale_factor(sketches: Sequence[np.ndarray]) -> float:
    """Normalising scale factor: std of all dx and dy values (magenta's
    `calculate_normalizing_scale_factor`). Compute it on the training split only.

    Raises:
        DataError: for an empty list or a zero std.
    """
    if len(sketches) == 0:
        raise DataError("scale_factor: no sketches")
    d = np.concatenate([np.asarray(s, dtype=np.float64)[:, 0:2].ravel() for s in sketches])
    std = float(np.std(d))
    if not np.isfinite(std) or std == 0.0:
        raise DataError(f"scale_factor: std of the offsets is {std}, cannot normalise")
    return std


def normalize(sketches, factor):
    """Divides dx, dy of every sketch by `factor`. Returns new float32 arrays."""
    if not factor or not np.isfinite(factor):
        raise DataError(f"normalize: bad scale factor {factor!r}")
    out = []
    for s in sketches:
        a = np.array(s, dtype=np.float32)
        a[:, 0:2] /= np.float32(factor)
        out.append(a)
    return out


def denormalize(sketches, factor):
    """Inverse of `normalize`: multiplies dx, dy by `factor`. Returns new float32 arrays."""
    out = []
    for s in sketches:
        a = np.array(s, dtype=np.float32)
        a[:, 0:2] *= np.float32(factor)
        out.append(a)
    return out


def clamp(sketches, limit=1000):
    """Clamps dx, dy of every sketch to [-limit, limit] (magenta DataLoader.preprocess).

    Returns new float32 arrays; the lift column is untouched.
    """
    out = []
    for s in sketches:
        a = np.array(s, dtype=np.float32)
        np.clip(a[:, 0:2], -limit, limit, out=a[:, 0:2])
        out.append(a)
    return out


def filter_by_length(sketches, max_len):
    """Keeps sketches with at most `max_len` points.

    Returns:
        (kept list, kept_indices int64 array into `sketches`, n_dropped).
    """
    idx = np.array([i for i, s in enumerate(sketches) if len(s) <= max_len], dtype=np.int64)
    kept = [sketches[i] for i in idx]
    return kept, idx, len(sketches) - len(kept)


def random_scale(s3, rng, factor=0.15):
    """Stretches x and y by independent factors from U[1 - factor, 1 + factor].

    Same draws as magenta `random_scale` (x first, then y). Returns a new float32 array.
    """
    sx = (rng.random() - 0.5) * 2 * factor + 1.0
    sy = (rng.random() - 0.5) * 2 * factor + 1.0
    out = np.array(s3, dtype=np.float32)
    out[:, 0] *= np.float32(sx)
    out[:, 1] *= np.float32(sy)
    return out


def augment_drop_points(s3, rng, prob=0.10):
    """Randomly merges interior pen-down points (magenta `augment_strokes`, vectorised).

    One uniform number is drawn per point. A point can be merged only if it and the previous
    point are pen-down (lift 0) and it is at least the 4th point of its stroke, so the first
    three points and the last point of every stroke are always kept. As in magenta, a merged
    point's offset is added to the last kept point, so the total displacement is unchanged and
    the output is a valid stroke-3 sketch that is never longer than the input.

    Args:
        s3: (N, 3) stroke-3 sketch.
        rng: np.random.Generator.
        prob: merge probability per eligible point.

    Returns:
        (M, 3) float32, M <= N.
    """
    s = np.asarray(s3, dtype=np.float32)
    n = len(s)
    u = rng.random(n)
    if n == 0 or prob <= 0:
        return s.copy()
    lift = s[:, 2] == 1
    prev_lift = np.concatenate([[True], lift[:-1]])
    # Position within the current stroke, counted like magenta's `count`.
    reset = lift | prev_lift
    idx = np.arange(n)
    last_reset = np.maximum.accumulate(np.where(reset, idx, 0))
    count = idx - last_reset
    drop = (~lift) & (~prev_lift) & (count > 2) & (u < prob)
    if not drop.any():
        return s.copy()
    keep = ~drop
    heads = np.nonzero(keep)[0]
    out = np.empty((len(heads), 3), dtype=np.float32)
    # Each kept point absorbs the offsets of the merged points that follow it.
    out[:, 0:2] = np.add.reduceat(s[:, 0:2], heads, axis=0)  # (M, 2)
    out[:, 2] = s[keep, 2]
    return out


def on_integer_grid(sketches):
    """True when every offset of every stroke-3 sketch is a whole number (pixel data)."""
    return bool(sketches) and all(
        np.array_equal(s[:, 0:2], np.round(s[:, 0:2])) for s in map(np.asarray, sketches))


def dequantise(sketches, rng):
    """Adds uniform noise in [-0.5, 0.5) to every x and y offset; the pen column is kept.

    A density scored on integer offsets can keep improving by putting sharp peaks on the
    integer lattice. On dequantised offsets it cannot: the expected NLL of x + u bounds the
    NLL of the discrete data from above (Theis, van den Oord and Bethge, "A note on the
    evaluation of generative models", 2016).

    Args:
        sketches: stroke-3 sketches, usually with integer offsets (see on_integer_grid).
        rng: np.random.Generator; one (P_i, 2) draw per sketch, in order.

    Returns:
        New float32 stroke-3 arrays.
    """
    out = []
    for s in sketches:
        s = np.array(s, dtype=np.float32)
        s[:, 0:2] += rng.uniform(-0.5, 0.5, size=(len(s), 2)).astype(np.float32)  # (P, 2)
        out.append(s)
    return out
