"""Built-in procedural doodles: format, variety, reproducibility."""


import numpy as np
import pytest

from common.strokes import doodles
from common.strokes import render
from common.errors import DataError


def test_builtin_classes():
    assert len(doodles.BUILTIN_CLASSES) >= 5
    assert len(set(doodles.BUILTIN_CLASSES)) == len(doodles.BUILTIN_CLASSES)


@pytest.mark.parametrize("name", doodles.BUILTIN_CLASSES)
def test_builtin_sketch_format(name):
    rng = np.random.default_rng(0)
    for _ in range(20):
        s3 = doodles.builtin_sketch(name, rng)
        assert s3.dtype == np.int16 and s3.ndim == 2 and s3.shape[1] == 3
        assert 5 <= len(s3) <= 64
        assert s3[-1, 2] == 1
        assert set(np.unique(s3[:, 2])) <= {0, 1}
        xy = np.cumsum(s3[:, :2].astype(np.int64), axis=0)
        assert xy.min() >= 0 and xy.max() <= 256  # Aligned to 0..255 like QuickDraw.
        assert np.ptp(xy, axis=0).max() >= 140
        # No zero-length moves inside a stroke.
        starts = np.r_[True, s3[:-1, 2] == 1]
        assert np.all(np.any(s3[~starts, :2] != 0, axis=1))


def test_builtin_sketch_varies_and_is_reproducible():
    a = doodles.builtin_sketch("circle", np.random.default_rng(3))
    b = doodles.builtin_sketch("circle", np.random.default_rng(3))
    c = doodles.builtin_sketch("circle", np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or np.any(a != c)


def test_house_has_several_strokes():
    s3 = doodles.builtin_sketch("house", np.random.default_rng(0))
    assert s3[:, 2].sum() >= 2


def test_unknown_class_raises():
    with pytest.raises(DataError, match="pentagon"):
        doodles.builtin_sketch("pentagon", np.random.default_rng(0))


def test_builtin_sketches():
    sketches, labels, names = doodles.builtin_sketches(3, np.random.default_rng(1))
    assert names == list(doodles.BUILTIN_CLASSES)
    assert len(sketches) == 3 * len(names) and labels.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(labels), [3] * len(names))
    np.testing.assert_array_equal(labels[:3], 0)
    rasters = render.rasterize_batch(sketches, size=24)
    assert rasters.shape == (len(sketches), 24, 24)
    sub, lab, sub_names = doodles.builtin_sketches(0, np.random.default_rng(0),
                                                       classes=["star"])
    assert sub == [] and lab.shape == (0,) and sub_names == ["star"]


def test_class_templates_are_distinguishable():
    """A nearest-mean classifier on rasters separates the classes well above chance."""
    rng = np.random.default_rng(2)
    train, ytr, names = doodles.builtin_sketches(10, rng)
    test, yte, _ = doodles.builtin_sketches(5, rng)
    xtr = render.rasterize_batch(train, size=28).reshape(len(train), -1)
    xte = render.rasterize_batch(test, size=28).reshape(len(test), -1)
    means = np.stack([xtr[ytr == k].mean(0) for k in range(len(names))])
    pred = np.argmin(((xte[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == yte).mean() > 0.6
