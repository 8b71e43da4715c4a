"""Tests for wae_style.checkerboard: the share of spectral power at 2, 4 and 8 px periods."""

import numpy as np
import pytest

from common.errors import DataError
from wae_style.checkerboard import PERIODS, checkerboard_ratio, checkerboard_share

I, J = np.meshgrid(np.arange(64), np.arange(64), indexing="ij")


def _photo_like(seed=0):
    """A smooth random 64x64 RGB image in [0, 1]: low-pass noise, like a blurred photo."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fft2(rng.normal(size=(64, 64, 3)), axes=(0, 1))
    f = np.fft.fftfreq(64)
    spectrum *= np.exp(-(f[:, None, None] ** 2 + f[None, :, None] ** 2) / (2 * 0.05 ** 2))
    x = np.real(np.fft.ifft2(spectrum, axes=(0, 1)))
    return (x - x.min()) / (x.max() - x.min())


def test_pure_checkerboard_and_grids_are_all_at_the_periods():
    board = ((I + J) % 2).astype(float)  # Period 2 both ways.
    np.testing.assert_allclose(checkerboard_share(board), [1.0])
    stripes = ((J // 2) % 2).astype(float)  # Period 4 across.
    np.testing.assert_allclose(checkerboard_share(stripes), [1.0])
    tile = np.random.default_rng(0).uniform(size=(8, 8, 3))  # Any pattern repeating every 8 px.
    assert checkerboard_share(np.tile(tile, (8, 8, 1)))[0] == pytest.approx(1.0)


def test_smooth_images_have_a_low_share():
    ramp = np.stack([I / 63, J / 63, (I + J) / 126], -1)  # Jumps once at the FFT's wrap.
    assert checkerboard_share(ramp)[0] < 0.03
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * I / 64) * np.cos(2 * np.pi * 3 * J / 64)
    assert checkerboard_share(wave)[0] < 1e-20
    assert checkerboard_share(_photo_like())[0] < 0.01
    assert checkerboard_share(np.full((64, 64, 3), 0.3))[0] == 0.0  # No power but DC.


def test_share_is_unchanged_by_a_shift_and_counts_batches():
    x = _photo_like(1) + 0.05 * ((I + J) % 2)[..., None]
    shifted = np.roll(x, (5, 11), axis=(0, 1))
    share = checkerboard_share(np.stack([x, shifted, _photo_like(2)]))
    assert share.shape == (3,)
    np.testing.assert_allclose(share[1], share[0], rtol=1e-10)
    assert share[0] > 10 * share[2]


def test_ratio_is_one_for_the_inputs_and_grows_with_a_grid():
    contents = np.stack([_photo_like(s) for s in range(4)])
    assert checkerboard_ratio(contents, contents) == pytest.approx(1.0)
    faint = contents + 0.02 * ((I // 2 + J // 2) % 2)[None, ..., None]  # A 4 px grid.
    strong = contents + 0.1 * ((I // 2 + J // 2) % 2)[None, ..., None]
    assert 1.0 < checkerboard_ratio(faint, contents) < checkerboard_ratio(strong, contents)
    # Nearest-neighbour upsampling of smooth images adds almost nothing there (about 1).
    small = contents[:, ::2, ::2]
    up = np.repeat(np.repeat(small, 2, axis=1), 2, axis=2)
    assert checkerboard_ratio(up, contents) < 1.5


def test_bad_input_gets_one_line():
    with pytest.raises(DataError, match="period 8 must be >= 2 and divide the image side 36"):
        checkerboard_share(np.zeros((36, 64)))
    with pytest.raises(DataError, match="outputs are 32x32 but contents are 64x64"):
        checkerboard_ratio(np.zeros((1, 32, 32, 3)), np.zeros((1, 64, 64, 3)))
    with pytest.raises(DataError, match="undefined"):
        checkerboard_ratio(_photo_like(), np.full((64, 64, 3), 0.5))
    with pytest.raises(DataError, match="shape"):
        checkerboard_share(np.zeros((1, 1, 8, 8, 3)))
    with pytest.raises(DataError, match="NaN"):
        checkerboard_share(np.full((8, 8), np.nan))
    assert PERIODS == (2, 4, 8)
