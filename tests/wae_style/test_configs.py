"""Tests for wae_style.configs: presets, validation, dict round trip and string overrides."""

import dataclasses
import json

import pytest

from wae_style import configs
from common.training import config as config_utils


@pytest.mark.parametrize("name", ["default", "paper", "testing"])
def test_presets_valid_and_round_trip(name):
    config = configs.get_config(name)
    d = config.to_dict()
    assert configs.WAEConfig.from_dict(json.loads(json.dumps(d))) == config


def test_defaults_follow_the_seed():
    config = configs.WAEConfig.default()
    assert config.content_dim == 128
    assert config.style_dim == 192
    assert config.encoder_channels == (8, 32, 128, 256, 512)
    assert config.decoder_channels == (1024, 512, 256, 128, 64)
    assert config.num_res_blocks == 3
    assert config.mmd_scales == (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
    assert config.adam_beta1 == 0.5
    # The official WAE code: recon = 0.05 * sum of squared errors, lambda = 10. Ours is the
    # per-pixel mean, so the same balance needs lambda / (0.05 * H * W * 3).
    official = 10.0 / (0.05 * config.image_size ** 2 * 3)
    assert 0.5 < config.mmd_lambda / official < 2
    assert configs.WAEConfig.paper().content_dim in configs.PAPER_CONTENT_DIMS


def test_testing_is_small():
    config = configs.WAEConfig.testing()
    assert config.image_size == 64
    assert config.vgg_weights == "random"
    assert config.batch_size == 4 and config.num_steps == 2


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        configs.WAEConfig.default().content_dim = 3


def test_vgg_layers_union_in_order():
    config = configs.WAEConfig(style_layers=("block2_conv1", "block1_conv1"),
                               content_feature_layers=("block3_conv2",))
    assert config.vgg_layers == ("block1_conv1", "block2_conv1", "block3_conv2")


@pytest.mark.parametrize("kwargs, match", [
    (dict(content_dim=0), "content_dim"),
    (dict(image_size=60), "image_size"),
    (dict(encoder_channels=(8, 32, 127, 256, 512)), "even"),
    (dict(encoder_channels=(8, 32)), "encoder_channels"),
    (dict(style_layers=("conv9",)), "style_layers"),
    (dict(penalty="vae"), "penalty"),
    (dict(mix=(1.0, 2.0)), "mix"),
    (dict(data=(), tfds=()), "data"),
    (dict(mmd_scales=()), "mmd_scales"),
    (dict(adam_beta1=1.0), "adam_beta1"),
    (dict(strategy="cluster"), "strategy"),
    (dict(gram_flatten="diag"), "gram_flatten"),
    (dict(feature_weight=-1.0), "feature_weight"),
])
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        configs.WAEConfig(**kwargs)


def test_odd_channels_ok_without_glu():
    configs.WAEConfig(glu_gating=False, encoder_channels=(8, 32, 127, 255, 511))


def test_replace_from_strings_types():
    config = config_utils.replace_from_strings(configs.WAEConfig.default(), [
        "content_dim=256", "data=a,b", "mix=1,3", "glu_gating=false", "mmd_lambda=100",
        "vgg_weights=random", "num_steps=1_000", "tfds=", "style_hidden=32,16"])
    assert config.content_dim == 256
    assert config.data == ("a", "b")
    assert config.mix == (1.0, 3.0)
    assert config.glu_gating is False
    assert config.mmd_lambda == 100.0 and isinstance(config.mmd_lambda, float)
    assert config.num_steps == 1000
    assert config.tfds == ()
    assert config.style_hidden == (32, 16)


@pytest.mark.parametrize("item, match", [
    ("nope=1", "unknown WAEConfig field 'nope'"),
    ("content_dim", "field=value"),
    ("content_dim=abc", "content_dim.*'abc'.*int"),
    ("glu_gating=maybe", "glu_gating.*boolean"),
    ("mix=1,x", "mix.*'x'"),
    ("content_dim=-3", "content_dim"),
])
def test_replace_from_strings_errors(item, match):
    with pytest.raises(ValueError, match=match):
        config_utils.replace_from_strings(configs.WAEConfig.default(), [item])


def test_image_crop_choices():
    assert configs.WAEConfig.testing().image_crop == "resize"
    assert dataclasses.replace(configs.WAEConfig.testing(), image_crop="center").image_crop == "center"
    with pytest.raises(ValueError, match="image_crop"):
        dataclasses.replace(configs.WAEConfig.testing(), image_crop="middle")


def test_get_config_unknown():
    with pytest.raises(ValueError, match="unknown WAE config"):
        configs.get_config("huge")


def test_from_dict_unknown_key():
    with pytest.raises(ValueError, match="bogus"):
        configs.WAEConfig.from_dict({"bogus": 1})


def test_training_fields_are_declared_once():
    from common.training import config as config_utils
    from common.training import strategies as training

    # One copy of the strategies and of the shared training checks, for every model.
    declared = config_utils._declared(configs.WAEConfig)
    assert declared["strategy"]["choices"] is training.STRATEGIES
    assert declared["batch_size"] == {"ge": 1} and declared["max_grad_norm"] == {"ge": 0}


def test_loss_weights_follow_the_kind_of_vgg():
    pretrained, random = configs.LOSS_WEIGHTS["pretrained"], configs.LOSS_WEIGHTS["random"]
    default, testing = configs.WAEConfig.default(), configs.WAEConfig.testing()
    assert (default.feature_weight, default.gram_weight) == tuple(pretrained.values())
    assert (testing.feature_weight, testing.gram_weight) == tuple(random.values())
    assert default.loss_weights_note() == testing.loss_weights_note() == ""

    moved = testing.with_vgg("/weights/vgg16.weights.h5")
    assert moved.vgg_weights == "/weights/vgg16.weights.h5"
    assert (moved.feature_weight, moved.gram_weight) == tuple(pretrained.values())
    back = moved.with_vgg("random")
    assert (back.feature_weight, back.gram_weight) == tuple(random.values())

    # Weights set by hand stay; the sha256 is cleared when the file changes.
    custom = dataclasses.replace(default, feature_weight=1e-6, vgg_weights="/a.h5",
                                 vgg_weights_sha256="a" * 64)
    assert custom.with_vgg("random").feature_weight == 1e-6
    assert custom.with_vgg("/a.h5").vgg_weights_sha256 == "a" * 64
    assert custom.with_vgg("/b.h5").vgg_weights_sha256 == ""

    # The other kind's pair is named, with the right one.
    note = dataclasses.replace(default, vgg_weights="random").loss_weights_note()
    assert "measured for the pretrained VGG16" in note and "feature_weight=2e-05" in note
    assert "\n" not in note


def test_train_script_switches_loss_weights_with_vgg_flag(tmp_path):
    """--vgg_weights=random on the default (ImageNet-measured) weights switches the pair;
    --override=vgg_weights=random keeps it, and the trainer says so before loading data."""
    import os
    import subprocess
    import sys
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=repo, TF_CPP_MIN_LOG_LEVEL="3")
    outs = []
    for vgg in ("--vgg_weights=random", "--override=vgg_weights=random"):
        res = subprocess.run(
            [sys.executable, "-m", "scripts.train_wae_style", "--config=default", vgg,
             f"--data_dir={tmp_path / 'missing'}", f"--workdir={tmp_path / 'w'}"],
            cwd=repo, env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 2 and str(tmp_path / "missing") in res.stderr, res.stderr[-2000:]
        outs.append(res.stdout)
    assert "note: feature_weight" not in outs[0]
    assert "note: feature_weight=4e-07 and gram_weight=3e-12 were measured for the pretrained" in outs[1]
    assert not (tmp_path / "w").exists()


def test_subpixel_init_is_icnr_for_new_runs_and_glorot_for_old_files():
    for name in configs.WAEConfig.PRESETS:
        assert configs.get_config(name).subpixel_init == "icnr"
    d = configs.WAEConfig.default().to_dict()
    assert configs.WAEConfig.from_dict(d).subpixel_init == "icnr"
    old = {k: v for k, v in d.items() if k != "subpixel_init"}  # A config.json from before.
    assert configs.WAEConfig.from_dict(old).subpixel_init == "glorot"
    assert configs.WAEConfig.absent_defaults() == {**d, "subpixel_init": "glorot",
                                                   "precision": "float32",
                                                   "logvar_offset": 0.0}
    assert config_utils.replace_from_strings(
        configs.WAEConfig.default(), ["subpixel_init=glorot"]).subpixel_init == "glorot"
    with pytest.raises(ValueError, match="subpixel_init='nearest'"):
        configs.WAEConfig(subpixel_init="nearest")


def test_as_recorded_keeps_an_old_run_on_its_old_init(tmp_path):
    new = configs.WAEConfig.testing()
    path = tmp_path / "config.json"
    assert new.as_recorded(path) is new  # No run yet.
    path.write_text(json.dumps({k: v for k, v in new.to_dict().items() if k != "subpixel_init"}))
    assert new.as_recorded(path).subpixel_init == "glorot"
    path.write_text(json.dumps(new.to_dict()))
    assert new.as_recorded(path).subpixel_init == "icnr"
    path.write_text("[broken")  # Left for the workdir check to name.
    assert new.as_recorded(path) == new


def test_logvar_offset_starts_new_runs_quiet_and_old_files_as_before(tmp_path):
    for name in configs.WAEConfig.PRESETS:
        assert configs.get_config(name).logvar_offset == -6.0
    d = configs.WAEConfig.testing().to_dict()
    old = {k: v for k, v in d.items() if k != "logvar_offset"}  # A config.json from before.
    assert configs.WAEConfig.from_dict(old).logvar_offset == 0.0
    path = tmp_path / "config.json"
    path.write_text(json.dumps(old))
    assert configs.WAEConfig.testing().as_recorded(path).logvar_offset == 0.0
    with pytest.raises(ValueError, match="logvar_offset"):
        configs.WAEConfig(logvar_offset=1.0)


def test_precision_is_auto_for_new_runs_and_float32_for_old_files(tmp_path):
    for name in configs.WAEConfig.PRESETS:
        assert configs.get_config(name).precision == "auto"
    d = configs.WAEConfig.testing().to_dict()
    old = {k: v for k, v in d.items() if k != "precision"}  # A config.json from before.
    assert configs.WAEConfig.from_dict(old).precision == "float32"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(old))
    assert configs.WAEConfig.testing().as_recorded(path).precision == "float32"
    assert configs.WAEConfig(precision="bfloat16").as_recorded(path).precision == "bfloat16"
    assert configs.WAEConfig.testing().replace_from_strings(
        ["precision=bfloat16"]).precision == "bfloat16"
    with pytest.raises(ValueError, match="precision='float16'"):
        configs.WAEConfig(precision="float16")
