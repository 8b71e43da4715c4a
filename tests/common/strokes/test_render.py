"""Stroke-3 rendering: polylines, anti-aliased rasters, SVG and sketch grids."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from common.strokes import render
from common.errors import DataError

SVG_NS = "{http://www.w3.org/2000/svg}"

# A 20x20 square (one stroke) and a lone point (second stroke).
SQUARE = np.array([[10, 10, 0], [20, 0, 0], [0, 20, 0], [-20, 0, 0], [0, -20, 1],
                   [5, 5, 1]], dtype=np.int16)


def test_strokes_to_polylines_cumsum_and_split():
    runs = render.strokes_to_polylines(SQUARE)
    assert len(runs) == 2
    np.testing.assert_array_equal(runs[0], [[10, 10], [30, 10], [30, 30], [10, 30], [10, 10]])
    np.testing.assert_array_equal(runs[1], [[15, 15]])
    # A trailing run without a final lift is kept.
    assert len(render.strokes_to_polylines([[1, 1, 0], [1, 1, 0]])) == 1
    assert render.strokes_to_polylines(np.zeros((0, 3))) == []


@pytest.mark.parametrize("bad", [np.zeros((3, 2)), np.zeros(3), [[0, 0, np.nan]], "abc"])
def test_bad_stroke3_raises(bad):
    with pytest.raises(DataError):
        render.rasterize(bad)


def test_rasterize_shape_range_and_fit():
    img = render.rasterize(SQUARE, size=64, padding=4)
    assert img.shape == (64, 64) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0 and img.max() > 0.9
    # The square's sides sit at the padded border, its inside stays empty.
    ys, xs = np.nonzero(img > 0.5)
    assert xs.min() <= 5 and xs.max() >= 58 and ys.min() <= 5 and ys.max() >= 58
    assert img[20:44, 20:44].max() < 0.01


def test_rasterize_keeps_aspect_ratio_and_centres():
    line = np.array([[0, 0, 0], [100, 0, 0], [0, 10, 1]])  # 100 wide, 10 tall.
    img = render.rasterize(line, size=64, line_width=1, padding=2)
    ys, xs = np.nonzero(img > 0.2)
    width, height = xs.max() - xs.min(), ys.max() - ys.min()
    assert width > 55 and height < 10
    assert abs((ys.min() + ys.max()) / 2 - 31.5) <= 1.5


def test_rasterize_is_antialiased():
    diag = np.array([[0, 0, 0], [37, 23, 1]])
    img = render.rasterize(diag, size=32)
    partial = (img > 0.05) & (img < 0.95)
    assert partial.sum() > 5


@pytest.mark.parametrize("s3", [
    np.array([[7, 7, 1]]),  # A single point.
    np.array([[3, 3, 0], [0, 0, 0], [0, 0, 1]]),  # All points identical.
    np.zeros((0, 3)),  # Empty.
])
def test_rasterize_degenerate(s3):
    img = render.rasterize(s3, size=32)
    assert img.shape == (32, 32)
    if len(s3):
        assert img.max() > 0.5  # A dot, in the centre.
        assert img[16, 16] > 0.5 or img[15, 15] > 0.5
    else:
        assert img.max() == 0.0
    assert "<svg" in render.stroke3_to_svg(s3)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(-300, 300), st.integers(-300, 300), st.integers(0, 1)),
                min_size=1, max_size=30),
       st.integers(8, 48))
def test_rasterize_property(rows, size):
    img = render.rasterize(np.array(rows), size=size)
    assert img.shape == (size, size) and img.dtype == np.float32
    assert np.all(np.isfinite(img)) and img.min() >= 0 and img.max() <= 1
    assert img.max() > 0  # Something is always drawn.


def test_rasterize_batch():
    out = render.rasterize_batch([SQUARE, SQUARE[:2]], size=16)
    assert out.shape == (2, 16, 16) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], render.rasterize(SQUARE, size=16))
    assert render.rasterize_batch([], size=8).shape == (0, 8, 8)


def test_stroke3_to_svg_structure():
    svg = render.stroke3_to_svg(SQUARE, size=100, stroke_width=3, padding=10, color="red")
    root = ET.fromstring(svg)
    assert root.get("viewBox") == "0 0 100 100"
    paths = root.findall(f"{SVG_NS}path")
    circles = root.findall(f"{SVG_NS}circle")
    assert len(paths) == 1 and len(circles) == 1
    assert paths[0].get("stroke") == "red" and paths[0].get("fill") == "none"
    coords = [tuple(map(float, p.split(","))) for p in paths[0].get("d")[2:].split(" L ")]
    assert coords[0] == (10.0, 10.0) and coords[2] == (90.0, 90.0)  # Fitted to padding.
    assert len(coords) == 5
    # Transparent background.
    root = ET.fromstring(render.stroke3_to_svg(SQUARE, background=None))
    assert not root.findall(f"{SVG_NS}rect")


def test_sketch_grid_and_labels():
    sketches = [SQUARE, SQUARE, SQUARE]
    plain = render.sketch_grid(sketches, ncols=2, cell=32)
    assert plain.shape == (64, 64, 3) and plain.dtype == np.uint8
    assert plain[40:60, 40:60].min() == 255  # The empty fourth cell stays white.
    labelled = render.sketch_grid(sketches, ncols=2, cell=32, labels=["a", "b", "c"])
    assert np.any(labelled[..., 0] != labelled[..., 1])  # Red label text.
    assert render.sketch_grid(sketches, ncols=10, cell=16).shape == (16, 48, 3)
    with pytest.raises(DataError):
        render.sketch_grid(sketches, ncols=2, labels=["a"])
    with pytest.raises(DataError):
        render.sketch_grid([], ncols=2)


def test_sketch_grid_svg():
    svg = render.sketch_grid_svg([SQUARE] * 3, ncols=2, cell=50, labels=["x", "<y>", "z"])
    root = ET.fromstring(svg)
    assert root.get("viewBox") == "0 0 100 100"
    assert len(root.findall(f".//{SVG_NS}path")) == 3
    texts = [t.text for t in root.findall(f".//{SVG_NS}text")]
    assert texts == ["x", "<y>", "z"]


def test_absurd_output_sizes_are_refused_before_allocating():
    s3 = np.array([[0, 0, 0], [10, 5, 1]], np.float32)
    with pytest.raises(DataError, match=r"^rasterize: size 100000 is out of range \(at most 8,192\)$"):
        render.rasterize(s3, size=100_000)
    with pytest.raises(DataError, match=r"^sketch_grid: 500000 x 100000 pixels = 50000000000 is "
                                        r"out of range \(at most 64,000,000\)$"):
        render.sketch_grid([s3] * 5, ncols=5, cell=100_000)  # e.g. scripts.sample --cell=100000
    big = render.rasterize(s3, size=4096)  # Drawn at 2x, not 4x: the big canvas stays 8192.
    assert big.shape == (4096, 4096) and big.max() > 0.9
    with pytest.raises(DataError, match=r"^rasterize_batch: 100 images of 8000 x 8000 pixels = "):
        render.rasterize_batch([s3] * 100, size=8000)  # 25 GB of float32 before the fix.
