"""Tests for experiments.style.baselines: per-image losses and the Gatys optimisation baseline."""

import numpy as np
import pytest

from common.images.procedural import builtin_images
from experiments.style import baselines
from wae_style import configs
from wae_style.model import build_vgg

CFG = configs.WAEConfig.testing()


def _np_gram(f):
    b, h, w, c = f.shape
    flat = f.reshape(b, h * w, c)
    return np.einsum("bpi,bpj->bij", flat, flat) / (h * w)


@pytest.fixture(scope="module")
def vgg():
    return build_vgg(CFG.vgg_weights, CFG.vgg_seed, CFG.vgg_layers, CFG.image_size)


@pytest.fixture(scope="module")
def pair():
    c = builtin_images(1, 64, np.random.default_rng(0), "content")[0]
    s = builtin_images(1, 64, np.random.default_rng(1), "style")[0]
    return c, s


def test_content_style_losses_numpy(vgg, pair):
    c, s = pair
    outputs = np.stack([c, s, 0.5 * (c + s)])
    cl, sl = baselines.content_style_losses(vgg, outputs, c, s, batch_size=2)
    assert cl.shape == sl.shape == (3,)
    assert cl[0] == 0.0 and sl[1] < 1e-6 * sl[0]
    fo = {k: np.asarray(v) for k, v in vgg(outputs).items()}
    fc = {k: np.asarray(v) for k, v in vgg(c[None]).items()}
    fs = {k: np.asarray(v) for k, v in vgg(s[None]).items()}
    exp_c = np.mean([np.mean((fo[k] - fc[k]) ** 2, axis=(1, 2, 3)) for k in fo], axis=0)
    exp_s = np.mean([np.mean((_np_gram(fo[k]) - _np_gram(fs[k])) ** 2, axis=(1, 2))
                     for k in fo], axis=0)
    np.testing.assert_allclose(cl, exp_c, rtol=1e-4, atol=1e-6 * exp_c.max())
    np.testing.assert_allclose(sl, exp_s, rtol=1e-4, atol=1e-6 * exp_s.max())
    cl1, _ = baselines.content_style_losses(vgg, outputs, np.stack([c] * 3), s,
                                            content_layers=("block1_conv1",))
    np.testing.assert_allclose(cl1, np.mean((fo["block1_conv1"] - fc["block1_conv1"]) ** 2,
                                            axis=(1, 2, 3)), rtol=1e-4)
    with pytest.raises(ValueError, match="contents"):
        baselines.content_style_losses(vgg, outputs, np.stack([c, c]), s)


def test_gatys_reduces_losses(vgg, pair):
    c, s = pair
    image, info = baselines.gatys_transfer(vgg, c, s, iterations=40, lr=0.1, seed=1)
    assert image.shape == (64, 64, 3) and image.dtype == np.float32
    assert image.min() >= 0 and image.max() <= 1
    assert info["loss"] < 0.5 * info["initial_loss"]
    assert info["seconds"] > 0 and info["iterations"] == 40
    # The result sits between the two inputs on both metrics.
    cl, sl = baselines.content_style_losses(vgg, np.stack([image, c, s]), c, s)
    np.testing.assert_allclose(cl[0], info["content_loss"], rtol=1e-3)
    np.testing.assert_allclose(sl[0], info["style_loss"], rtol=1e-3)
    assert cl[0] < cl[2] and sl[0] < sl[1]


def test_gatys_deterministic_and_content_init(vgg, pair):
    c, s = pair
    a, _ = baselines.gatys_transfer(vgg, c, s, iterations=3, seed=2)
    b, _ = baselines.gatys_transfer(vgg, c, s, iterations=3, seed=2)
    np.testing.assert_array_equal(a, b)
    img, info = baselines.gatys_transfer(vgg, c, s, iterations=0, init="content",
                                         normalise=False)
    np.testing.assert_allclose(img, np.clip(c, 1e-3, 1 - 1e-3), atol=1e-5)
    assert info["content_loss"] < 1e-2 * info["style_loss"]
    with pytest.raises(ValueError, match="init"):
        baselines.gatys_transfer(vgg, c, s, iterations=1, init="zeros")
