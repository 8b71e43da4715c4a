"""Built-in procedural content and style images."""

import numpy as np
import pytest

from common.errors import DataError
from common.images import procedural


@pytest.mark.parametrize("kind", ["content", "style"])
def test_builtin_images(kind):
    imgs = procedural.builtin_images(12, size=32, rng=np.random.default_rng(0), kind=kind)
    assert imgs.shape == (12, 32, 32, 3) and imgs.dtype == np.float32
    assert imgs.min() >= 0.0 and imgs.max() <= 1.0 and np.all(np.isfinite(imgs))
    assert imgs.std(axis=(1, 2, 3)).min() > 0.01  # Not flat.
    assert np.abs(imgs[0] - imgs[1]).mean() > 0.02  # Images differ.
    again = procedural.builtin_images(12, size=32, rng=np.random.default_rng(0), kind=kind)
    np.testing.assert_array_equal(imgs, again)
    assert procedural.builtin_images(0, size=8, kind=kind).shape == (0, 8, 8, 3)


def test_style_images_are_more_textured_than_content():
    """Style textures have more high-frequency energy than the smooth content scenes."""
    rng = np.random.default_rng(5)
    content = procedural.builtin_images(64, 32, rng, "content")
    style = procedural.builtin_images(64, 32, rng, "style")

    def hf(x):
        return np.abs(np.diff(x, axis=2)).mean()

    assert hf(style) > 1.5 * hf(content)


def test_builtin_images_batch_shapes():
    # Speed is measured by benchmarks, not asserted here (timed tests flake under load).
    for kind in ("content", "style"):
        imgs = procedural.builtin_images(256, 64, np.random.default_rng(0), kind)
        assert imgs.shape == (256, 64, 64, 3) and imgs.dtype == np.float32


def test_builtin_images_bad_kind():
    with pytest.raises(DataError, match="texture"):
        procedural.builtin_images(2, kind="texture")
