"""QuickDraw ndjson (raw or simplified) to stroke-3, with Google's simplification recipe."""

import argparse
import dataclasses
import json
import math
import os
import stat

import numpy as np

from common import limits
from common.errors import DataError
from common.strokes.formats import lines_to_stroke3
from common.strokes.formats import rdp

CANVAS = 255  # Google's simplified drawings span 0..255.
# Resampling at 1 px makes one point per pixel of scaled path; longer drawings are refused.
MAX_PATH_PIXELS = 1_000_000
# Longer lines are refused unparsed: room for limits.MAX_POINTS raw points with timestamps.
MAX_LINE_BYTES = 64 * limits.MAX_POINTS


@dataclasses.dataclass
class QuickDrawFile:
    """Sketches read from one ndjson file.

    Attributes:
        path: the file.
        sketches: int16 (N, 3) stroke-3 arrays, one per good line.
        words: the "word" field of each sketch ("" if missing).
        key_ids: the "key_id" field as a string ("" if missing).
        recognized: the "recognized" field (None if missing).
        n_skipped: number of bad lines skipped (blank lines are ignored, not counted).
        skipped_lines: 1-based line numbers of the skipped lines.
        errors: one message per skipped line, same order.
        lines: with load_ndjson(keep_lines=True), each sketch's line as read (bytes, stripped);
            else empty.

    Reference: github.com/googlecreativelab/quickdraw-dataset (ndjson formats).
    """

    path: str
    sketches: list = dataclasses.field(default_factory=list)
    words: list = dataclasses.field(default_factory=list)
    key_ids: list = dataclasses.field(default_factory=list)
    recognized: list = dataclasses.field(default_factory=list)
    n_skipped: int = 0
    skipped_lines: list = dataclasses.field(default_factory=list)
    errors: list = dataclasses.field(default_factory=list)
    lines: list = dataclasses.field(default_factory=list)


def _parse_drawing(drawing):
    """Checks a drawing; returns (strokes as list of (k, 2) float64, is_simplified)."""
    if not isinstance(drawing, (list, tuple)) or len(drawing) == 0:
        raise DataError("drawing is not a non-empty list of strokes")
    strokes, simplified, total = [], True, 0
    for i, stroke in enumerate(drawing):
        if not isinstance(stroke, (list, tuple)) or len(stroke) not in (2, 3):
            raise DataError(f"stroke {i} is not [xs, ys] or [xs, ys, ts]")
        xs, ys = stroke[0], stroke[1]
        if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
            raise DataError(f"stroke {i}: xs and ys are not lists of the same length")
        total += len(xs)
        if total > limits.MAX_POINTS:  # Before any point is checked or converted.
            raise DataError(f"drawing has more than {limits.MAX_POINTS:,} points")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs + ys):
            raise DataError(f"stroke {i}: coordinates are not all numbers")
        try:
            pts = np.array([xs, ys], dtype=np.float64).T.reshape(-1, 2)  # (k, 2)
        except OverflowError:  # JSON integers beyond float range.
            raise DataError(f"stroke {i}: coordinates out of range") from None
        if not np.all(np.isfinite(pts)):
            raise DataError(f"stroke {i}: coordinates contain NaN or inf")
        if len(stroke) == 3 or not np.all((pts == np.round(pts)) & (pts >= 0) & (pts <= CANVAS)):
            simplified = False
        if len(pts):
            strokes.append(pts)
    if not strokes:
        raise DataError("drawing has no points")
    return strokes, simplified


def resample(points, spacing=1.0):
    """Resamples a polyline at a fixed arc-length spacing, keeping both end points.

    A stroke of zero length keeps its first and last point.

    Args:
        points: (k, 2) polyline.
        spacing: distance between consecutive output points.

    Returns:
        (m, 2) float64.
    """
    p = np.asarray(points, dtype=np.float64)
    if len(p) < 2:
        return p.copy()
    seg = np.hypot(*np.diff(p, axis=0).T)  # (k - 1,)
    s = np.concatenate([[0.0], np.cumsum(seg)])  # (k,)
    if s[-1] == 0:
        return p[[0, -1]]
    t = np.arange(0.0, s[-1], spacing)
    if t[-1] < s[-1]:
        t = np.append(t, s[-1])
    return np.stack([np.interp(t, s, p[:, 0]), np.interp(t, s, p[:, 1])], axis=1)  # (m, 2)


def _simplify_strokes(strokes, epsilon):
    """Google's recipe on parsed strokes: align, scale to 255, resample at 1 px, RDP, round."""
    allp = np.concatenate(strokes)  # (P, 2)
    lo = allp.min(axis=0)
    with np.errstate(over="ignore", invalid="ignore"):
        extent = float((allp.max(axis=0) - lo).max())
    if not np.isfinite(extent):
        raise DataError("drawing coordinates span more than float64 can hold")
    scale = CANVAS / extent if extent > 0 else 1.0
    length = sum(float(np.hypot(*np.diff(p, axis=0).T).sum()) for p in strokes) * scale
    if length > MAX_PATH_PIXELS:
        raise DataError(f"drawing path is {length:.0f} px long after scaling to {CANVAS} px; "
                        f"at most {MAX_PATH_PIXELS} are simplified")
    out = []
    for pts in strokes:
        q = resample((pts - lo) * scale)
        q = rdp(q, epsilon, distance="line")
        out.append(np.round(q).astype(np.int64))
    return out


def simplify_drawing(drawing, epsilon=2.0):
    """Simplifies a raw QuickDraw drawing the way Google made its "simplified" dataset.

    Align to the origin (subtract min x and y), scale uniformly so the larger extent is 255,
    resample every stroke at 1 px arc-length spacing, Ramer-Douglas-Peucker (distance to the
    line) with `epsilon`, round to integers.

    Args:
        drawing: [[xs, ys(, ts)], ...] in canvas coordinates.
        epsilon: RDP tolerance in output pixels.

    Returns:
        list of [xs, ys] lists of Python ints (Google's simplified format).

    Raises:
        DataError: for a malformed, empty or non-finite drawing.
    """
    strokes, _ = _parse_drawing(drawing)
    return [[q[:, 0].tolist(), q[:, 1].tolist()] for q in _simplify_strokes(strokes, epsilon)]


def drawing_to_stroke3(drawing, simplify=True, epsilon=2.0):
    """Converts a QuickDraw drawing to stroke-3.

    A drawing whose strokes are all [xs, ys] with integer coordinates in 0..255 is taken as
    Google's simplified format and used as is. Anything else ([xs, ys, ts] strokes, or values
    outside 0..255) is raw: with `simplify=True` it goes through `simplify_drawing`; with
    `simplify=False` the raw canvas coordinates are only rounded (no alignment or scaling).
    Deltas are taken with the first row's offset from (0, 0), and lift = 1 on the last point of
    each stroke. Empty strokes are dropped.

    Returns:
        (N, 3) int16 stroke-3.

    Raises:
        DataError: malformed, empty or non-finite drawing, or offsets that do not fit int16.
    """
    strokes, simplified = _parse_drawing(drawing)
    if simplified:
        lines = [p.astype(np.int64) for p in strokes]
    elif simplify:
        lines = _simplify_strokes(strokes, epsilon)
    else:
        if max(float(np.abs(p).max()) for p in strokes) >= 2.0**62:  # Would wrap in int64.
            raise DataError("drawing coordinates do not fit in int64")
        lines = [np.round(p).astype(np.int64) for p in strokes]
    s3 = lines_to_stroke3(lines)
    if np.abs(s3[:, 0:2]).max() > np.iinfo(np.int16).max:
        raise DataError("drawing offsets do not fit in int16")
    return s3.astype(np.int16)


def _lines(f, max_bytes):
    """(line number, bytes without the newline) for each line of binary file `f`, read one
    at a time; a line over `max_bytes` comes as its length (an int) and is never held whole."""
    lineno = 0
    while True:
        raw = f.readline(max_bytes + 1)
        if not raw:
            return
        lineno += 1
        if raw.endswith(b"\n"):
            yield lineno, raw[:-1]
            continue
        if len(raw) <= max_bytes:  # The last line, without a newline.
            yield lineno, raw
            continue
        n = len(raw)
        while True:  # Count the rest of the long line in 1 MiB pieces.
            chunk = f.readline(1 << 20)
            if chunk.endswith(b"\n"):
                n += len(chunk) - 1
                break
            n += len(chunk)
            if not chunk:
                break
        yield lineno, n


def _read_line(result, path, lineno, raw, on_error, simplify, epsilon, keep_lines):
    """Appends line `lineno` of `path` to `result`, or counts it as skipped (see load_ndjson)."""
    if isinstance(raw, bytes) and not raw.strip():
        return
    try:
        if isinstance(raw, int):  # Too long: only its length was read.
            raise DataError(f"line of {raw:,} bytes is longer than the "
                            f"{MAX_LINE_BYTES:,} bytes read as one drawing")
        rec = json.loads(raw.decode("utf-8"))
        if not isinstance(rec, dict) or "drawing" not in rec:
            raise DataError("line is not a JSON object with a 'drawing' key")
        s3 = drawing_to_stroke3(rec["drawing"], simplify=simplify, epsilon=epsilon)
    except (DataError, ValueError, UnicodeDecodeError, RecursionError) as e:
        msg = f"{path}:{lineno}: {e}"
        if on_error == "raise":
            raise DataError(msg) from None
        result.n_skipped += 1
        result.skipped_lines.append(lineno)
        result.errors.append(msg)
        return
    result.sketches.append(s3)
    if keep_lines:
        result.lines.append(raw.strip())
    result.words.append(str(rec.get("word", "")))
    result.key_ids.append(str(rec.get("key_id", "")))
    recog = rec.get("recognized")
    result.recognized.append(bool(recog) if recog is not None else None)


def load_ndjson(path, on_error="skip", simplify=True, epsilon=2.0, keep_lines=False,
                max_sketches=None):
    """Reads a QuickDraw ndjson file (raw or simplified) into stroke-3 sketches.

    Args:
        path: .ndjson file, one JSON object per line with at least "drawing".
        on_error: "skip" counts and skips bad lines (bad JSON or UTF-8, wrong structure,
            empty drawing, non-finite values); "raise" raises DataError naming the file and line.
        simplify: passed to `drawing_to_stroke3` for raw drawings.
        epsilon: RDP tolerance.
        keep_lines: also keep each sketch's line (QuickDrawFile.lines), e.g. to copy drawings
            unchanged.
        max_sketches: stop after this many readable sketches (None: the whole file), so one
            drawing of a large class file is read in a moment.

    Returns:
        QuickDrawFile.

    Raises:
        DataError: missing file, or a bad line with on_error="raise".
    """
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
    path = os.fspath(path)
    result = QuickDrawFile(path=path)
    try:
        with open(path, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # e.g. /dev/zero: endless.
                raise DataError(f"{path}: not a regular file")
            for lineno, raw in _lines(f, MAX_LINE_BYTES):
                if max_sketches is not None and len(result.sketches) >= max_sketches:
                    break
                _read_line(result, path, lineno, raw, on_error, simplify, epsilon, keep_lines)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    return result


def compare_simplification(raw_drawing, reference):
    """Compares `simplify_drawing(raw_drawing)` with Google's simplified `reference`.

    Returns:
        dict with n_ours, n_ref (point counts), same_strokes (bool), exact (bool), and
        distance: the mean symmetric nearest-point distance in pixels, averaged over strokes
        (NaN when the stroke counts differ).
    """
    ours = [np.array(s, dtype=np.float64).T for s in simplify_drawing(raw_drawing)]  # (k, 2)
    ref = [np.array(s[:2], dtype=np.float64).T for s in reference if len(s[0])]  # (k, 2)
    n_ours = sum(len(a) for a in ours)
    n_ref = sum(len(b) for b in ref)
    same = len(ours) == len(ref)
    dist = math.nan
    exact = False
    if same:
        per = []
        for a, b in zip(ours, ref):
            d = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])  # (ka, kb)
            per.append(0.5 * (d.min(axis=1).mean() + d.min(axis=0).mean()))
        dist = float(np.mean(per))
        exact = all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(ours, ref))
    return {"n_ours": n_ours, "n_ref": n_ref, "same_strokes": same, "exact": exact,
            "distance": dist}


def _read_drawings(path):
    """key_id -> drawing for every parseable line of an ndjson file."""
    out = {}
    with open(path, "rb") as f:
        for raw in f:
            try:
                rec = json.loads(raw)
                out[str(rec["key_id"])] = rec["drawing"]
            except (ValueError, KeyError, TypeError):
                continue
    return out


def compare_directories(raw_dirs, simplified_dir, classes=None):
    """Matches raw drawings to Google's simplified ones by key_id and summarises the differences.

    Args:
        raw_dirs: folders of raw <class>.ndjson files.
        simplified_dir: folder of Google-simplified <class>.ndjson files.
        classes: class file stems to use (default: every stem found in both).

    Returns:
        dict: n_compared, n_same_strokes, exact_fraction, distance_mean, distance_median,
        distance_p99, count_ratio_mean, count_ratio_median (ours / Google's point counts).
    """
    raw_files = {}
    for d in raw_dirs:
        for name in sorted(os.listdir(d)):
            if name.endswith(".ndjson"):
                raw_files.setdefault(name[:-len(".ndjson")], []).append(os.path.join(d, name))
    stems = sorted(s for s in raw_files
                   if os.path.isfile(os.path.join(simplified_dir, s + ".ndjson")))
    if classes is not None:
        stems = [s for s in stems if s in set(classes)]
    rows = []
    for stem in stems:
        ref = _read_drawings(os.path.join(simplified_dir, stem + ".ndjson"))
        seen = set()
        for path in raw_files[stem]:
            for key, drawing in _read_drawings(path).items():
                if key in ref and key not in seen:
                    seen.add(key)
                    try:
                        rows.append(compare_simplification(drawing, ref[key]))
                    except DataError:
                        continue
    if not rows:
        raise DataError(f"no key_id of {raw_dirs} found in {simplified_dir}")
    dist = np.array([r["distance"] for r in rows if r["same_strokes"]])
    ratio = np.array([r["n_ours"] / r["n_ref"] for r in rows])
    return {"n_classes": len(stems), "n_compared": len(rows),
            "n_same_strokes": int(len(dist)),
            "exact_fraction": float(np.mean([r["exact"] for r in rows])),
            "distance_mean": float(dist.mean()), "distance_median": float(np.median(dist)),
            "distance_p99": float(np.percentile(dist, 99)),
            "count_ratio_mean": float(ratio.mean()), "count_ratio_median": float(np.median(ratio))}


if __name__ == "__main__":

    parser = argparse.ArgumentParser(
        description="Compare our raw->simplified conversion with Google's simplified drawings.")
    parser.add_argument("--raw", nargs="+", required=True, help="folders of raw ndjson files")
    parser.add_argument("--simplified", required=True, help="folder of simplified ndjson files")
    parser.add_argument("--classes", nargs="*", default=None, help="class stems (default all)")
    args = parser.parse_args()
    print(json.dumps(compare_directories(args.raw, args.simplified, args.classes)))
