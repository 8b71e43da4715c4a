"""Tests for common.strokes: conversions, preprocessing and augmentation against magenta's logic."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from common.strokes import formats as S
from common.errors import DataError

SETTINGS = settings(max_examples=50, deadline=None)


@st.composite
def stroke3(draw, max_len=40, float_offsets=False):
    """Random valid stroke-3 sketch (int16 or float32 offsets)."""
    n = draw(st.integers(1, max_len))
    if float_offsets:
        xy = draw(hnp.arrays(np.float32, (n, 2), elements=st.floats(-300, 300, width=32)))
    else:
        xy = draw(hnp.arrays(np.int16, (n, 2), elements=st.integers(-300, 300)))
    lift = draw(hnp.arrays(np.int16, (n, 1), elements=st.integers(0, 1)))
    return np.concatenate([xy, lift.astype(xy.dtype)], axis=1)


# Straight ports of magenta sketch_rnn/utils.py, used as references.

def magenta_to_big_strokes(stroke, max_len):
    result = np.zeros((max_len, 5), dtype=float)
    n = len(stroke)
    result[0:n, 0:2] = stroke[:, 0:2]
    result[0:n, 3] = stroke[:, 2]
    result[0:n, 2] = 1 - result[0:n, 3]
    result[n:, 4] = 1
    return result


def magenta_pad_batch(batch, max_len):
    result = np.zeros((len(batch), max_len + 1, 5), dtype=float)
    for i, s in enumerate(batch):
        n = len(s)
        result[i, 0:n, 0:2] = s[:, 0:2]
        result[i, 0:n, 3] = s[:, 2]
        result[i, 0:n, 2] = 1 - result[i, 0:n, 3]
        result[i, n:, 4] = 1
        result[i, 1:, :] = result[i, :-1, :]
        result[i, 0, :] = 0
        result[i, 0, 2] = 1
    return result


def magenta_augment_strokes(strokes, uniforms, prob):
    """magenta augment_strokes with np.random.rand() replaced by a given sequence."""
    result = []
    prev_stroke = [0, 0, 1]
    count = 0
    stroke = [0, 0, 1]
    for i in range(len(strokes)):
        candidate = [strokes[i][0], strokes[i][1], strokes[i][2]]
        if candidate[2] == 1 or prev_stroke[2] == 1:
            count = 0
        else:
            count += 1
        if candidate[2] == 0 and prev_stroke[2] == 0 and count > 2 and uniforms[i] < prob:
            stroke[0] += candidate[0]
            stroke[1] += candidate[1]
        else:
            stroke = candidate
            prev_stroke = stroke
            result.append(stroke)
    return np.array(result, dtype=np.float32)


def recursive_rdp(points, eps):
    """Textbook recursive RDP with distance to the infinite line."""
    if len(points) < 3:
        return points
    a, b = points[0], points[-1]
    ab = b - a
    norm = np.hypot(*ab)
    q = points[1:-1]
    if norm == 0:
        d = np.hypot(*(q - a).T)
    else:
        d = np.abs(ab[0] * (q[:, 1] - a[1]) - ab[1] * (q[:, 0] - a[0])) / norm
    k = int(np.argmax(d)) + 1
    if d[k - 1] > eps:
        left = recursive_rdp(points[:k + 1], eps)
        right = recursive_rdp(points[k:], eps)
        return np.concatenate([left[:-1], right])
    return points[[0, -1]]


def is_subsequence(sub, full):
    j = 0
    for row in sub:
        while j < len(full) and not np.array_equal(full[j], row):
            j += 1
        if j == len(full):
            return False
        j += 1
    return True


# validate_stroke3

def test_validate_keeps_dtype_and_returns_array():
    a = np.array([[1, 2, 0], [3, 4, 1]], dtype=np.int16)
    assert S.validate_stroke3(a).dtype == np.int16
    assert S.validate_stroke3(a.astype(np.float32)).dtype == np.float32
    assert isinstance(S.validate_stroke3([[1, 2, 1]]), np.ndarray)


@pytest.mark.parametrize("bad", [
    np.zeros((0, 3)), np.zeros(3), np.zeros((4, 2)), np.zeros((2, 3, 1)),
    np.array([[0, 0, 2]]), np.array([[np.nan, 0, 1]]), np.array([[np.inf, 0, 1]]),
    np.array([["a", "b", "c"]]), np.array([[True, False, True]]),
    np.array([[1 + 1j, 0, 1]]), np.array([[[1], 2, 3]], dtype=object),
])
def test_validate_rejects_and_names_value(bad):
    with pytest.raises(DataError, match="my_sketch"):
        S.validate_stroke3(bad, name="my_sketch")


# stroke-5

@SETTINGS
@given(stroke3(), st.integers(0, 5))
def test_to_stroke5_matches_magenta(s, extra):
    max_len = len(s) + extra
    out = S.to_stroke5(s, max_len)
    assert out.dtype == np.float32 and out.shape == (max_len, 5)
    np.testing.assert_array_equal(out, magenta_to_big_strokes(s, max_len))


@SETTINGS
@given(st.lists(stroke3(max_len=20), min_size=1, max_size=6), st.integers(0, 4))
def test_pad_batch_matches_magenta(batch, extra):
    max_len = max(len(s) for s in batch) + extra
    out, lengths = S.pad_batch(batch, max_len)
    np.testing.assert_array_equal(out, magenta_pad_batch(batch, max_len))
    np.testing.assert_array_equal(lengths, [len(s) for s in batch])
    assert lengths.dtype == np.int32
    for s, row in zip(batch, out):
        np.testing.assert_array_equal(row, S.pad_stroke5(s, max_len))


@SETTINGS
@given(stroke3(float_offsets=True), st.integers(0, 5))
def test_stroke3_stroke5_round_trip(s, extra):
    max_len = len(s) + extra
    padded = S.pad_stroke5(s, max_len)
    assert padded.shape == (max_len + 1, 5)
    np.testing.assert_array_equal(padded[0], [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(S.stroke5_to_stroke3(padded, strip_start_token=True), s)
    np.testing.assert_array_equal(S.stroke5_to_stroke3(S.to_stroke5(s, max_len)), s)
    # Without the flag the start token stays as a (0, 0, 0) row.
    kept = S.stroke5_to_stroke3(padded)
    np.testing.assert_array_equal(kept[0], [0, 0, 0])
    assert len(kept) == len(s) + 1


def test_stroke5_to_stroke3_stops_at_first_end_and_without_end():
    s5 = np.array([[1, 2, 1, 0, 0], [3, 4, 0, 1, 0], [0, 0, 0, 0, 1], [9, 9, 1, 0, 0]])
    np.testing.assert_array_equal(S.stroke5_to_stroke3(s5), [[1, 2, 0], [3, 4, 1]])
    np.testing.assert_array_equal(S.stroke5_to_stroke3(s5[:2]), [[1, 2, 0], [3, 4, 1]])
    assert S.stroke5_to_stroke3(s5[2:]).shape == (0, 3)
    with pytest.raises(DataError):
        S.stroke5_to_stroke3(np.zeros((3, 4)))


def test_too_long_sketch_raises():
    s = np.zeros((5, 3))
    with pytest.raises(DataError, match="max_len=4"):
        S.to_stroke5(s, 4)
    with pytest.raises(DataError, match="max_len=4"):
        S.pad_stroke5(s, 4)
    with pytest.raises(DataError, match="max_len=4"):
        S.pad_batch([s], 4)


# RDP

@SETTINGS
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 60), st.just(2)),
                  elements=st.floats(-100, 100)),
       st.floats(0.0, 20.0), st.sampled_from(["line", "segment"]))
def test_rdp_properties(points, eps, distance):
    out = S.rdp(points, eps, distance=distance)
    assert len(out) <= len(points)
    np.testing.assert_array_equal(out[0], points[0])
    np.testing.assert_array_equal(out[-1], points[-1])
    assert is_subsequence(out, points)  # Kept points are never moved.
    if len(points) >= 2:
        assert len(out) >= 2


@SETTINGS
@given(hnp.arrays(np.float64, st.tuples(st.integers(3, 60), st.just(2)),
                  elements=st.integers(-50, 50).map(float)),
       st.floats(0.5, 10.0))
def test_rdp_matches_recursive_reference(points, eps):
    np.testing.assert_array_equal(S.rdp(points, eps), recursive_rdp(points, eps))


def test_rdp_removed_points_within_epsilon_of_segments():
    rng = np.random.default_rng(0)
    pts = np.cumsum(rng.normal(size=(300, 2)), axis=0)
    out = S.rdp(pts, 1.5, distance="segment")
    idx = [int(np.nonzero((pts == p).all(axis=1))[0][0]) for p in out]
    for i, j in zip(idx[:-1], idx[1:]):
        d = S._distances(pts[i + 1:j], pts[i], pts[j], True)
        assert np.all(d <= 1.5)


def test_rdp_long_stroke_and_doubling_back():
    t = np.linspace(0, 200 * np.pi, 200_000)
    spiral = np.stack([t * np.cos(t), t * np.sin(t)], axis=1)
    out = S.rdp(spiral, 0.5)  # Iterative: no recursion limit.
    assert 2 < len(out) < len(spiral)
    back = np.array([[0.0, 0.0], [100.0, 0.0], [50.0, 0.0]])
    assert len(S.rdp(back, 1.0, distance="line")) == 2
    np.testing.assert_array_equal(S.rdp(back, 1.0, distance="segment"), back)
    with pytest.raises(DataError):
        S.rdp(np.zeros((3, 3)), 1.0)
    with pytest.raises(ValueError):
        S.rdp(back, 1.0, distance="chord")


# lines

@st.composite
def int_lines(draw):
    n = draw(st.integers(1, 5))
    return [draw(hnp.arrays(np.int64, st.tuples(st.integers(1, 10), st.just(2)),
                            elements=st.integers(-500, 500))) for _ in range(n)]


@SETTINGS
@given(int_lines())
def test_lines_round_trip(lines):
    s3 = S.lines_to_stroke3(lines)
    assert s3.shape == (sum(len(x) for x in lines), 3)
    assert s3[-1, 2] == 1 and s3[:, 2].sum() == len(lines)
    back = S.stroke3_to_lines(s3)
    assert len(back) == len(lines)
    for a, b in zip(back, lines):
        np.testing.assert_array_equal(a, b)


@SETTINGS
@given(stroke3())
def test_stroke3_lines_round_trip(s):
    s = s.copy()
    s[-1, 2] = 1  # A trailing open line is closed by lines_to_stroke3.
    np.testing.assert_array_equal(S.lines_to_stroke3(S.stroke3_to_lines(s)), s)


def test_lines_details():
    s3 = S.lines_to_stroke3([[[10, 20], [11, 22]], [], [[0, 0]]])
    np.testing.assert_array_equal(s3, [[10, 20, 0], [1, 2, 1], [-11, -22, 1]])
    lines = S.stroke3_to_lines(np.array([[1, 1, 0], [1, 1, 1], [2, 0, 0]]))
    np.testing.assert_array_equal(lines[1], [[4, 2]])  # Open last line kept.
    assert S.stroke3_to_lines(np.zeros((0, 3))) == []
    with pytest.raises(DataError):
        S.lines_to_stroke3([[], []])
    with pytest.raises(DataError):
        S.lines_to_stroke3([np.zeros((3, 3))])


def test_bounds_and_max_len():
    s = np.array([[5, -2, 0], [-10, 4, 1]])
    assert S.bounds(s) == (-5.0, 5.0, -2.0, 2.0)
    assert S.get_max_len([s, s[:1]]) == 2 and S.get_max_len([]) == 0


# Preprocessing

@SETTINGS
@given(st.lists(stroke3(float_offsets=True), min_size=1, max_size=5), st.floats(0.1, 50.0))
def test_normalize_invertible(sketches, factor):
    normed = S.normalize(sketches, factor)
    assert all(n.dtype == np.float32 for n in normed)
    for a, b in zip(S.denormalize(normed, factor), sketches):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(a[:, 2], b[:, 2])


def test_scale_factor_matches_magenta():
    rng = np.random.default_rng(1)
    sketches = [np.concatenate([rng.integers(-50, 50, (n, 2)), rng.integers(0, 2, (n, 1))],
                               axis=1) for n in (3, 10, 7)]
    flat = [v for s in sketches for row in s for v in (row[0], row[1])]
    assert S.scale_factor(sketches) == pytest.approx(np.std(flat))
    normed = S.normalize(sketches, S.scale_factor(sketches))
    assert S.scale_factor(normed) == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(DataError):
        S.scale_factor([])
    with pytest.raises(DataError):
        S.scale_factor([np.array([[0, 0, 1]])])
    with pytest.raises(DataError):
        S.normalize(sketches, 0.0)


def test_clamp_and_filter():
    s = np.array([[2000, -5000, 1], [3, -4, 0]], dtype=np.int16)
    out = S.clamp([s], limit=1000)[0]
    np.testing.assert_array_equal(out, [[1000, -1000, 1], [3, -4, 0]])
    assert out.dtype == np.float32 and s[0, 0] == 2000  # Input untouched.
    sketches = [np.zeros((n, 3)) for n in (3, 6, 2, 5)]
    kept, idx, dropped = S.filter_by_length(sketches, 4)
    assert [len(k) for k in kept] == [3, 2] and idx.tolist() == [0, 2] and dropped == 2


# Augmentation

@SETTINGS
@given(stroke3(max_len=60), st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.1, 0.5, 1.0]))
def test_augment_drop_points_matches_magenta(s, seed, prob):
    u = np.random.default_rng(seed).random(len(s))
    out = S.augment_drop_points(s, np.random.default_rng(seed), prob)
    np.testing.assert_allclose(out, magenta_augment_strokes(s, u, prob), atol=1e-3)
    S.validate_stroke3(out)
    assert len(out) <= len(s)
    assert out[:, 2].sum() == s[:, 2].sum()  # Stroke ends are never dropped.
    np.testing.assert_allclose(out[:, 0:2].sum(axis=0), s[:, 0:2].sum(axis=0), atol=1e-2)


def test_augment_drop_points_keeps_stroke_heads():
    s = np.array([[1, 0, 0]] * 10 + [[1, 0, 1]], dtype=np.float32)
    out = S.augment_drop_points(s, np.random.default_rng(0), prob=1.0)
    # The first three points and the last one stay; the others merge into the third.
    np.testing.assert_array_equal(out, [[1, 0, 0], [1, 0, 0], [8, 0, 0], [1, 0, 1]])


def test_random_scale():
    s = np.array([[10, 20, 0], [-4, 8, 1]], dtype=np.int16)
    u = np.random.default_rng(3).random(2)
    out = S.random_scale(s, np.random.default_rng(3), factor=0.15)
    sx, sy = (u - 0.5) * 2 * 0.15 + 1.0
    np.testing.assert_allclose(out[:, 0], s[:, 0] * sx, rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], s[:, 1] * sy, rtol=1e-6)
    np.testing.assert_array_equal(out[:, 2], s[:, 2])
    assert 0.85 <= sx <= 1.15 and 0.85 <= sy <= 1.15
    np.testing.assert_array_equal(S.random_scale(s, np.random.default_rng(0), factor=0.0), s)


def test_dequantise_moves_offsets_within_their_pixel_and_keeps_the_pen():
    s = [np.array([[3, -2, 0], [0, 5, 1]], np.int16), np.array([[1, 1, 1]], np.float32)]
    assert S.on_integer_grid(s) and not S.on_integer_grid([np.array([[0.5, 1, 1]])])
    assert not S.on_integer_grid([])
    out = S.dequantise(s, np.random.default_rng(0))
    u = np.random.default_rng(0).uniform(-0.5, 0.5, size=(2, 2))  # The first sketch's draw.
    np.testing.assert_allclose(out[0][:, 0:2], s[0][:, 0:2] + u, rtol=1e-6)
    for a, b in zip(out, s):
        assert a.dtype == np.float32 and np.all(np.abs(a[:, 0:2] - b[:, 0:2]) <= 0.5)
        np.testing.assert_array_equal(a[:, 2], b[:, 2])
    assert not S.on_integer_grid(out) and s[0][0, 0] == 3  # The input is not changed.


def test_pad_stroke3_bounds_the_padded_batch_before_allocating():
    x, lengths = S.pad_stroke3([np.ones((3, 3)), np.zeros((0, 3))])
    assert x.shape == (2, 3, 3) and lengths.tolist() == [3, 0]

    class Claims:  # len() says 10^7 points; nothing that long is ever built.
        def __len__(self):
            return 10**7

    with pytest.raises(DataError, match=r"^2 sketches padded to 10000000 points = 20000000 is "
                                        r"out of range \(at most 10,000,000\)$"):
        S.pad_stroke3([np.ones((3, 3)), Claims()])
