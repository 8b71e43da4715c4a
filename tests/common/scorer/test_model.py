"""AlexNet scorer: config presets, overrides and validation; the model and its LRN layer."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.scorer import configs as alexnet
from common.scorer.model import AlexNet, LocalResponseNorm
from common.scorer.configs import AlexNetConfig
from tests.support.layers import check_config_round_trip, run_layer_test
from common.training import config as config_utils

SMALL = dict(conv_channels=(4, 8, 8, 8, 8), dense_units=(16, 16))


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize("name", ["testing", "default", "large"])
def test_presets_round_trip(name):
    config = alexnet.get_config(name)
    assert AlexNetConfig.from_dict(config.to_dict()) == config
    assert isinstance(config.to_dict()["conv_channels"], list)


def test_default_and_testing_values():
    d, t = AlexNetConfig.default(), AlexNetConfig.testing()
    assert d.image_size == 64 and d.dropout == 0.5 and len(d.conv_channels) == 5
    assert t.image_size == 32 and max(t.conv_channels) <= 8
    assert d.tfds == "" and d.line_width == 0.0


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown AlexNet config 'huge'"):
        alexnet.get_config("huge")


def test_replace_from_strings_parses_each_type():
    c = config_utils.replace_from_strings(AlexNetConfig.testing(), [
        "image_size=96", "dropout=0.25", "dense_units=12, 10", "data=a.npz,b.ndjson",
        "norm=lrn", "num_steps=1e3", "tfds=quickdraw_bitmap", "learning_rate=3e-4"])
    assert c.image_size == 96 and c.dropout == 0.25 and c.dense_units == (12, 10)
    assert c.data == ("a.npz", "b.ndjson") and c.norm == "lrn" and c.num_steps == 1000
    assert c.tfds == "quickdraw_bitmap" and c.learning_rate == 3e-4


@pytest.mark.parametrize("override, match", [
    ("image_sise=96", "unknown AlexNetConfig field 'image_sise'"),
    ("image_size", "must look like field=value"),
    ("image_size=big", "image_size: 'big' is not a valid int"),
    ("num_steps=1.5", "num_steps: '1.5' is not a valid int"),
    ("dropout=x", "dropout: 'x' is not a valid float"),
    ("dense_units=4,a", "dense_units: 'a' is not a valid int"),
    ("norm=group", r"AlexNetConfig.norm='group': must be one of"),
    ("dropout=1.0", r"AlexNetConfig.dropout=1.0: must be in \[0, 1\)"),
    ("conv_channels=4,8", "need five positive channel counts"),
    ("tfds=mnist", "tfds='mnist'"),
    ("strategy=tpu", "strategy='tpu'"),
    ("image_size=4", "must be >= 8"),
    ("valid_fraction=0.95", "fractions"),
])
def test_bad_overrides(override, match):
    with pytest.raises(ValueError, match=match):
        config_utils.replace_from_strings(AlexNetConfig.testing(), [override])


def test_from_dict_and_types():
    with pytest.raises(ValueError, match="unknown AlexNetConfig fields"):
        AlexNetConfig.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="must be an int"):
        AlexNetConfig(image_size=64.0)
    with pytest.raises(ValueError, match="must be a tuple"):
        AlexNetConfig(data="builtin")
    with pytest.raises(ValueError, match="non-empty source"):
        AlexNetConfig(data=())
    assert AlexNetConfig(data=(), tfds="quickdraw_bitmap").data == ()
    assert AlexNetConfig(learning_rate=1).learning_rate == 1.0  # ints accepted for floats


# ----------------------------------------------------------------------------- model


# Five conv kernels and three dense layers; batch norm drops the conv biases and adds
# gamma and beta (trainable) and the moving mean and variance per conv; LRN has no weights.
@pytest.mark.parametrize("norm, trainable, non_trainable",
                         [("batch", 5 + 5 * 2 + 3 * 2, 5 * 2), ("lrn", 5 * 2 + 3 * 2, 0),
                          ("none", 5 * 2 + 3 * 2, 0)])
def test_model_standard_checks(norm, trainable, non_trainable, tmp_path):
    x = np.random.default_rng(0).random((3, 32, 32, 1)).astype("float32")
    run_layer_test(lambda: AlexNet(5, 32, norm=norm, **SMALL), x, (3, 5), tmp_path,
                   expected_num_trainable_weights=trainable,
                   expected_num_non_trainable_weights=non_trainable)


@pytest.mark.parametrize("size, flat", [(64, 4 * 4 * 8), (96, 6 * 6 * 8), (32, 2 * 2 * 8)])
def test_shapes_per_image_size(size, flat):
    model = AlexNet(7, size, **SMALL)
    model.build((None, size, size, 1))
    assert model.fc[0].kernel.shape == (flat, 16)  # Pools: S/2 (stride) -> /2 -> /2 -> /2.
    x = np.zeros((2, size, size, 1), np.float32)
    logits, feats = model.classify(x)
    assert logits.shape == (2, 7) and feats.shape == (2, 16)
    np.testing.assert_allclose(logits, model(x), atol=1e-6)
    np.testing.assert_allclose(feats, model.embed(x), atol=1e-6)
    assert np.all(keras.ops.convert_to_numpy(feats) >= 0)  # After ReLU.


def test_config_model_kwargs_and_default_size():
    config = AlexNetConfig.default()
    model = AlexNet(**config.model_kwargs(345))
    model.build((None, 64, 64, 1))
    assert model.compute_output_shape((None, 64, 64, 1)) == (None, 345)
    assert [c.filters for c in model.convs] == list(config.conv_channels)
    assert [c.kernel_size[0] for c in model.convs] == list(config.conv_kernels)
    assert model.convs[0].strides == (2, 2)
    assert len(model.fc) == 2 and model.fc8.units == 345  # Three dense layers in all.
    clone = AlexNet.from_config(model.get_config())
    assert clone.get_config() == model.get_config()


def test_seeded_init_and_dropout_only_in_training():
    a, b = AlexNet(3, 32, seed=4, **SMALL), AlexNet(3, 32, seed=4, **SMALL)
    c = AlexNet(3, 32, seed=5, **SMALL)
    for m in (a, b, c):
        m.build((None, 32, 32, 1))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.allclose(a.get_weights()[0], c.get_weights()[0])
    x = np.random.default_rng(1).random((4, 32, 32, 1)).astype("float32")
    np.testing.assert_array_equal(a(x, training=False), a(x, training=False))
    m = AlexNet(3, 32, dropout=0.9, norm="none", **SMALL)
    assert not np.allclose(m.embed(x, training=True), m.embed(x, training=False))


def test_bad_norm():
    with pytest.raises(ValueError, match="norm must be one of"):
        AlexNet(3, 32, norm="group")


def test_lrn_matches_tf_and_layer_checks(tmp_path):
    x = np.random.default_rng(2).normal(size=(2, 3, 3, 7)).astype("float32") * 30
    layer = LocalResponseNorm(depth_radius=2, bias=2.0, alpha=1e-3, beta=0.75)
    want = tf.nn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-3 / 5,
                                              beta=0.75)
    np.testing.assert_allclose(layer(x), want, rtol=1e-5, atol=1e-6)
    check_config_round_trip(layer)
    run_layer_test(lambda: LocalResponseNorm(), x, x.shape, tmp_path, fit=False,
                   expected_num_trainable_weights=0, expected_num_non_trainable_weights=0)


def test_frozen_config():
    with pytest.raises(dataclasses.FrozenInstanceError):
        AlexNetConfig().image_size = 3


def test_tf_checkpoint_holds_every_variable(tmp_path):
    x = np.random.default_rng(3).random((2, 32, 32, 1)).astype("float32")
    a = AlexNet(4, 32, seed=1, **SMALL)
    a.build((None, 32, 32, 1))
    a.set_weights([w + 0.5 for w in a.get_weights()])  # Moving stats too.
    path = tf.train.Checkpoint(model=a).save(str(tmp_path / "ckpt"))
    b = AlexNet(4, 32, seed=2, **SMALL)
    b.build((None, 32, 32, 1))
    tf.train.Checkpoint(model=b).restore(path).assert_existing_objects_matched()
    reader = tf.train.load_checkpoint(path)
    saved = [n for n in reader.get_variable_to_shape_map() if n.startswith("model/")]
    assert len(saved) == len(a.weights)  # Dropout seed states included.
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(a(x), b(x))
