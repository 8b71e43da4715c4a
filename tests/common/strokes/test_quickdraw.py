"""Tests for common.strokes.quickdraw: drawing conversion, ndjson loading and Google's simplification."""

import io
import json

import numpy as np
import pytest

from common.strokes import quickdraw as Q
from common.errors import DataError
from common.strokes.formats import stroke3_to_lines, validate_stroke3

RAW = "quickdraw_exupery_raw"
SIMPLIFIED = "quickdraw_lamnguyen_simplified"


def raw_stroke(points):
    """[xs, ys, ts] from a list of (x, y)."""
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return [xs, ys, list(range(len(points)))]


def dense(a, b, n=50):
    """n points on the segment a-b (a raw stroke has many points)."""
    t = np.linspace(0, 1, n)[:, None]
    return list(np.asarray(a) + t * (np.asarray(b) - np.asarray(a)))


def test_raw_drawing_recipe():
    # An L shape at canvas offset (10, 10), 100 wide and 60 high, drawn with many points.
    stroke = dense((10, 10), (110, 10)) + dense((110, 10), (110, 70))[1:]
    s3 = Q.drawing_to_stroke3([raw_stroke(stroke)])
    assert s3.dtype == np.int16
    # Aligned to 0, scaled by 255 / 100, corners kept, the rest removed by RDP.
    np.testing.assert_array_equal(s3, [[0, 0, 0], [255, 0, 0], [0, 153, 1]])
    assert Q.simplify_drawing([raw_stroke(stroke)]) == [[[0, 255, 255], [0, 0, 153]]]


def test_several_strokes_lifts_and_dots():
    d = [raw_stroke(dense((0, 0), (0, 100))), raw_stroke([(40, 60)]),
         raw_stroke([(20, 20), (20, 20)]), [[], [], []]]
    s3 = Q.drawing_to_stroke3(d)
    # A zero-length stroke keeps two points, like Google's data; empty strokes are dropped.
    np.testing.assert_array_equal(s3, [[0, 0, 0], [0, 255, 1], [102, -102, 1],
                                       [-51, -102, 0], [0, 0, 1]])
    lines = stroke3_to_lines(s3)
    assert len(lines) == 3 and lines[0][0].tolist() == [0, 0]


def test_simplified_drawing_used_as_is():
    d = [[[130, 113, 99], [72, 40, 27]], [[76, 28], [136, 128]]]
    s3 = Q.drawing_to_stroke3(d)
    np.testing.assert_array_equal(s3, [[130, 72, 0], [-17, -32, 0], [-14, -13, 1],
                                       [-23, 109, 0], [-48, -8, 1]])
    np.testing.assert_array_equal(Q.drawing_to_stroke3(d, simplify=False), s3)


def test_raw_without_simplification():
    d = [raw_stroke([(300.4, 10.6), (301.2, 11.1), (400.0, 12.0)])]
    s3 = Q.drawing_to_stroke3(d, simplify=False)
    np.testing.assert_array_equal(s3, [[300, 11, 0], [1, 0, 0], [99, 1, 1]])
    # Two-row strokes outside 0..255 are raw too.
    assert Q.drawing_to_stroke3([[[0, 1000], [0, 0]]]).tolist() == [[0, 0, 0], [255, 0, 1]]


@pytest.mark.parametrize("drawing,match", [
    ([], "non-empty"), ("abc", "non-empty"), ([[[1, 2]]], r"stroke 0 is not"),
    ([[[1, 2], [1]]], "same length"), ([[[1, "a"], [1, 2]]], "numbers"),
    ([[[1, True], [1, 2]]], "numbers"), ([[[1, float("nan")], [1, 2]]], "NaN"),
    ([[[1, float("inf")], [1, 2], [0, 1]]], "NaN"), ([[[], []]], "no points"),
    ([[[1, 2], [3, 4]], 5], "stroke 1"),
])
def test_bad_drawings(drawing, match):
    with pytest.raises(DataError, match=match):
        Q.drawing_to_stroke3(drawing)


def test_real_raw_file(sketches_dir):
    qd = Q.load_ndjson(sketches_dir / RAW / "cat.ndjson")
    assert len(qd.sketches) == 25 and qd.n_skipped == 0 and qd.skipped_lines == []
    assert set(qd.words) == {"cat"} and sum(qd.recognized) == 23
    assert len(set(qd.key_ids)) == 25
    for s in qd.sketches:
        validate_stroke3(s)
        assert s.dtype == np.int16 and s[-1, 2] == 1
        pts = np.concatenate(stroke3_to_lines(s))
        # Aligned and scaled like Google's data (RDP may drop the extreme point).
        assert pts.min() >= 0 and 245 <= pts.max() <= 255


def test_real_simplified_file(sketches_dir):
    qd = Q.load_ndjson(sketches_dir / SIMPLIFIED / "cat.ndjson")
    rec = json.loads((sketches_dir / SIMPLIFIED / "cat.ndjson").read_text().splitlines()[0])
    lines = stroke3_to_lines(qd.sketches[0])
    assert [ln[:, 0].tolist() for ln in lines] == [s[0] for s in rec["drawing"]]
    assert [ln[:, 1].tolist() for ln in lines] == [s[1] for s in rec["drawing"]]


def test_garbage_lines_skipped_or_raised(tmp_path):
    good = json.dumps({"word": "x", "key_id": "1", "recognized": True,
                       "drawing": [[[0, 10, 20], [0, 5, 0]]]})
    lines = [
        good,
        "{not json",
        json.dumps({"word": "x"}),                      # No drawing.
        json.dumps([1, 2, 3]),                          # Not an object.
        json.dumps({"drawing": []}),                    # Empty drawing.
        '{"drawing": [[[0, NaN], [0, 1]]]}',            # Non-finite.
        "",                                             # Blank: ignored, not counted.
        json.dumps({"drawing": [[[0, 1], [0]]]}),       # Ragged stroke.
        good.replace('"1"', '"2"'),
    ]
    path = tmp_path / "mixed.ndjson"
    path.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe bad utf8\n")
    qd = Q.load_ndjson(path)
    assert len(qd.sketches) == 2 and qd.key_ids == ["1", "2"]
    assert qd.n_skipped == 7 and qd.skipped_lines == [2, 3, 4, 5, 6, 8, 10]
    assert all("mixed.ndjson:" in e for e in qd.errors)
    assert qd.lines == []  # Kept only on request: then each good sketch's line, as read.
    kept = Q.load_ndjson(path, keep_lines=True)
    assert kept.lines == [good.encode(), good.replace('"1"', '"2"').encode()]
    first = Q.load_ndjson(path, max_sketches=1)  # Stops at the first readable sketch.
    assert first.key_ids == ["1"] and first.n_skipped == 0
    assert Q.load_ndjson(path, max_sketches=5).key_ids == ["1", "2"]
    with pytest.raises(DataError, match=r"mixed.ndjson:2:"):
        Q.load_ndjson(path, on_error="raise")
    with pytest.raises(DataError, match="nothere.ndjson"):
        Q.load_ndjson(tmp_path / "nothere.ndjson")
    with pytest.raises(ValueError):
        Q.load_ndjson(path, on_error="ignore")


def test_absurd_drawings_are_refused_before_conversion(tmp_path, monkeypatch):
    many = [0] * 1_000_001  # A million and one points in one stroke (6 MB of JSON).
    lines = [json.dumps({"key_id": "1", "drawing": [[[0, 9], [0, 9]]]}),
             json.dumps({"key_id": "2", "drawing": [[many, many]]}),
             json.dumps({"key_id": "3", "drawing": [[many[:500_001]] * 2] * 2})]
    path = tmp_path / "big.ndjson"
    path.write_text("\n".join(lines) + "\n")
    qd = Q.load_ndjson(path)
    assert qd.key_ids == ["1"] and qd.skipped_lines == [2, 3]
    assert qd.errors == [f"{path}:{n}: drawing has more than 1,000,000 points" for n in (2, 3)]
    with pytest.raises(DataError, match=r"big.ndjson:2: drawing has more than 1,000,000 points$"):
        Q.load_ndjson(path, on_error="raise")
    # A line too long to be one drawing is refused before json.loads (e.g. 1e8 points).
    monkeypatch.setattr(Q, "MAX_LINE_BYTES", 1000)
    qd = Q.load_ndjson(path)
    assert qd.key_ids == ["1"]
    assert qd.errors[0].startswith(f"{path}:2: line of 6,000,040")
    assert qd.errors[0].endswith("bytes is longer than the 1,000 bytes read as one drawing")


def test_matches_googles_simplification(sketches_dir):
    """Our raw -> simplified conversion against Google's own simplified drawings (by key_id).

    Measured on these 7 classes (167 drawings): 89% identical, mean nearest-point distance
    0.025 px, median 0, point-count ratio 0.998. Bounds leave a margin.
    """
    classes = ["cat", "cloud", "donut", "fork", "moon", "pig", "sheep"]
    stats = Q.compare_directories([sketches_dir / RAW], sketches_dir / SIMPLIFIED, classes)
    assert stats["n_classes"] == 7 and stats["n_compared"] >= 160
    assert stats["n_same_strokes"] == stats["n_compared"]
    assert stats["exact_fraction"] > 0.8
    assert stats["distance_mean"] < 0.1 and stats["distance_median"] == 0.0
    assert stats["distance_p99"] < 1.5
    assert 0.98 < stats["count_ratio_mean"] < 1.02 and stats["count_ratio_median"] == 1.0


def test_compare_directories_without_overlap(tmp_path, sketches_dir):
    (tmp_path / "cat.ndjson").write_text("")
    with pytest.raises(DataError, match="no key_id"):
        Q.compare_directories([sketches_dir / RAW], tmp_path)


def test_lines_are_read_one_at_a_time_and_long_ones_only_counted():
    data = b"ab\n\n" + b"x" * 25 + b"\r\nlast" + b"\n" + b"y" * 11
    got = list(Q._lines(io.BytesIO(data), max_bytes=10))
    assert got == [(1, b"ab"), (2, b""), (3, 26), (4, b"last"), (5, 11)]
    assert list(Q._lines(io.BytesIO(b"z" * 10), max_bytes=10)) == [(1, b"z" * 10)]
    assert list(Q._lines(io.BytesIO(b""), max_bytes=10)) == []


def test_max_sketches_stops_reading_the_file(tmp_path, monkeypatch):
    line = json.dumps({"key_id": "1", "drawing": [[[0, 9], [0, 9]]]}).encode() + b"\n"
    path = tmp_path / "big.ndjson"
    path.write_bytes(line * 20_000)  # About 1 MB.
    read = []

    class Counting(io.FileIO):
        def readline(self, size=-1):
            out = super().readline(size)
            read.append(len(out))
            return out

    monkeypatch.setattr(Q, "open", lambda p, mode: Counting(p, mode), raising=False)
    assert len(Q.load_ndjson(path, max_sketches=3).sketches) == 3
    assert sum(read) <= 4 * len(line)
    assert len(Q.load_ndjson(path).sketches) == 20_000


def test_a_device_or_folder_is_refused_in_one_line(tmp_path):
    with pytest.raises(DataError, match=r"^/dev/zero: not a regular file$"):
        Q.load_ndjson("/dev/zero")  # Endless: never read.
    with pytest.raises(DataError, match=r": cannot read \("):
        Q.load_ndjson(tmp_path)
