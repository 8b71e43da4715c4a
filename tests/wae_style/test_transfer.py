"""Tests for wae_style.transfer: numpy helpers, broadcasting and the transfer grid."""

import numpy as np
import keras
import pytest

from common.errors import DataError
from common.images.procedural import builtin_images
from wae_style import configs, transfer as tr
from wae_style.model import WAEStyle


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def wae():
    return WAEStyle(configs.WAEConfig.testing())


@pytest.fixture(scope="module")
def contents():
    return builtin_images(3, 64, np.random.default_rng(0), "content")


@pytest.fixture(scope="module")
def styles():
    return builtin_images(2, 64, np.random.default_rng(1), "style")


def test_transfer_matches_model(wae, contents, styles):
    out = tr.transfer(wae, contents[:2], styles, batch_size=1)
    assert out.shape == (2, 64, 64, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, _np(wae.transfer(contents[:2], styles)), atol=1e-5)
    single = tr.transfer(wae, contents[0], styles[1])
    assert single.shape == (64, 64, 3)
    np.testing.assert_allclose(single, _np(wae.transfer(contents[:1], styles[1:]))[0],
                               atol=1e-5)


def test_transfer_broadcasts_both_ways(wae, contents, styles):
    one_style = tr.transfer(wae, contents, styles[0], batch_size=2)
    assert one_style.shape == (3, 64, 64, 3)
    for i in range(3):
        np.testing.assert_allclose(one_style[i], tr.transfer(wae, contents[i], styles[0]),
                                   atol=1e-5)
    one_content = tr.transfer(wae, contents[0], styles)
    assert one_content.shape == (2, 64, 64, 3)
    with pytest.raises(DataError, match="3 with 2"):
        tr.transfer(wae, contents, styles)


def test_strength(wae, contents, styles):
    zero = tr.transfer(wae, contents, styles[0], strength=0.0)
    np.testing.assert_allclose(zero, tr.reconstruct(wae, contents), atol=1e-5)
    half = tr.transfer(wae, contents[:1], styles[:1], strength=0.5)
    z = 0.5 * tr.style_latents(wae, contents[:1]) + 0.5 * tr.style_latents(wae, styles[:1])
    np.testing.assert_allclose(half, tr.transfer_latent(wae, contents[:1], z), atol=1e-5)


def test_reconstruct_uses_means(wae, contents):
    out = tr.reconstruct(wae, contents)
    np.testing.assert_allclose(out, _np(wae(contents)["recon"]), atol=1e-5)
    assert tr.reconstruct(wae, contents[0]).shape == (64, 64, 3)


def test_uint8_input(wae, contents, styles):
    u8 = np.round(contents * 255).astype(np.uint8)
    np.testing.assert_allclose(tr.reconstruct(wae, u8),
                               tr.reconstruct(wae, u8.astype(np.float32) / 255), atol=1e-6)


def test_mix_styles(wae, styles):
    za, zb = tr.style_latents(wae, styles[:1]), tr.style_latents(wae, styles[1:])
    mixed = tr.mix_styles(wae, styles[0], styles[1], 0.3)
    np.testing.assert_allclose(mixed, 0.7 * za + 0.3 * zb, rtol=1e-5, atol=1e-6)
    assert mixed.shape == (1, wae.config.style_dim)


def test_transfer_grid(wae, contents, styles):
    grid = tr.transfer_grid(wae, contents, styles, pad=2)
    assert grid.dtype == np.uint8
    assert grid.shape == (4 * 66 + 2, 3 * 66 + 2, 3)
    cell = lambda r, c: grid[2 + r * 66:2 + r * 66 + 64, 2 + c * 66:2 + c * 66 + 64]  # noqa: E731
    assert np.all(cell(0, 0) == 255)
    np.testing.assert_allclose(cell(0, 2) / 255.0, styles[1], atol=1 / 255 + 1e-6)
    np.testing.assert_allclose(cell(3, 0) / 255.0, contents[2], atol=1 / 255 + 1e-6)
    expected = tr.transfer(wae, contents[2], styles[1])
    np.testing.assert_allclose(cell(3, 2) / 255.0, expected, atol=1 / 255 + 1e-6)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 32, 32, 3), np.float32), r"\(64, 64, 3\)"),
    (np.full((64, 64, 3), 2.0, np.float32), r"\[0, 1\]"),
    (np.full((64, 64, 3), np.nan, np.float32), r"\[0, 1\]"),
])
def test_bad_images(wae, bad, match):
    with pytest.raises(DataError, match="content.*" + match):
        tr.transfer(wae, bad, np.zeros((64, 64, 3), np.float32))


def test_real_images(wae, images_dir):
    from PIL import Image

    paths = sorted((images_dir / "style").glob("*.jpg"))[:2]
    arrs = [np.asarray(Image.open(p).convert("RGB").resize((64, 64)), np.uint8) for p in paths]
    out = tr.transfer(wae, arrs[0], np.stack(arrs))
    assert out.shape == (2, 64, 64, 3) and np.all((out >= 0) & (out <= 1))
