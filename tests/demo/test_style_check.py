"""Tests for demo.style_check: the WAE content check passes on content-keeping outputs only."""

import json

import numpy as np

from demo import style_check


def _images(n, seed, size=32):
    rng = np.random.default_rng(seed)
    # Distinct shapes: a bright square at a different place in each image.
    out = rng.uniform(0.0, 0.2, (n, size, size, 3)).astype(np.float32)
    for i in range(n):
        r, c = (7 * i) % (size - 10), (11 * i + 3) % (size - 10)
        out[i, r:r + 10, c:c + 10] = 0.9
    return out


def test_nearest_share_and_distances_with_plain_features():
    contents = _images(4, 0)
    features = lambda x: {"pixels": x}  # noqa: E731
    d = style_check.content_distances(features, contents[[1, 0, 2]], contents)
    assert d.shape == (3, 4)
    np.testing.assert_allclose(d[0, 1], 0.0, atol=1e-7)
    assert style_check.nearest_share(d, [1, 0, 2]) == 1.0
    assert style_check.nearest_share(d, [0, 1, 2]) == 1 / 3


def test_instance_normalisation_ignores_each_channels_level_and_spread():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(2, 4, 4, 3)).astype(np.float32)
    scaled = f * np.array([2.0, 0.5, 3.0], np.float32) + np.array([1.0, -4.0, 0.0], np.float32)
    a = style_check.instance_normalise({"x": f})["x"]
    np.testing.assert_allclose(a, style_check.instance_normalise({"x": scaled})["x"], atol=1e-4)
    np.testing.assert_allclose(a.mean(axis=(1, 2)), 0.0, atol=1e-6)
    np.testing.assert_allclose(a.std(axis=(1, 2)), 1.0, atol=1e-3)


def test_faint_copies_are_nearest_their_content_only_on_normalised_features():
    # Low-contrast copies (what a blurred, undertrained output looks like) of contents whose
    # feature energy differs: on raw features each copy is nearest the faintest content.
    contents = _images(3, 3)
    contents[0] *= 0.3  # The faintest content.
    faint = 0.5 + 0.1 * (contents - contents.mean(axis=(1, 2, 3), keepdims=True))
    features = lambda x: {"pixels": x}  # noqa: E731
    raw = style_check.content_distances(features, faint, contents)
    normalised = style_check.content_distances(features, faint, contents, normalise=True)
    assert style_check.nearest_share(normalised, [0, 1, 2]) == 1.0
    assert style_check.nearest_share(raw, [0, 1, 2]) < 1.0


def test_outputs_that_keep_their_content_pass_and_style_copies_fail(tmp_path):
    contents, styles = _images(3, 1), _images(2, 2) * 0.5 + 0.25

    def keeps(c, s):  # The content's shapes in the style's colours.
        return np.clip(0.7 * c + 0.3 * s.mean(axis=(1, 2), keepdims=True), 0, 1)

    check = style_check.run(keeps, contents, styles, out=tmp_path / "check.json")
    assert check.passed and check.outputs == 1.0 and check.contents == 1.0 and check.n == 6
    saved = json.loads((tmp_path / "check.json").read_text())
    assert saved["passed"] is True and saved["outputs"] == 1.0
    assert saved["features"] == "instance-normalised" and 0 <= saved["outputs_raw"] <= 1
    copies = style_check.run(lambda c, s: s, contents, styles)
    assert not copies.passed and copies.outputs == copies.styles
    assert "FAILED" in style_check.summary(copies)[0]
    assert "PASSED" in style_check.summary(check)[0]


def test_the_demo_wae_uses_the_packaged_imagenet_vgg():
    from demo import style
    from wae_style import configs

    config = style.demo_config(("builtin",), 300, False, 0)
    assert config.vgg_weights == "imagenet"
    assert style.StyleDemo(("builtin",), 1).vgg_weights == "imagenet"
    assert config.learning_rate == 1e-3 and config.logvar_offset == -6.0
    assert config.gram_weight == configs.LOSS_WEIGHTS["pretrained"]["gram_weight"] / 10
    random = style.demo_config(("builtin",), 300, False, 0, "random")
    assert random.learning_rate == 3e-4 and "smoke test" in style.vgg_caption(random)
