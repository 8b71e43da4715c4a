"""Tests for wae_style.layers: standard layer checks plus numpy references."""

import numpy as np
import keras
import pytest
import tensorflow as tf

from tests.support.layers import run_layer_test
from wae_style import layers


def _rng():
    return np.random.default_rng(0)


# Weight norm: the wrapped kernel and bias, and g; its `initialized` flag is non-trainable.
WN_WEIGHTS = dict(expected_num_trainable_weights=3, expected_num_non_trainable_weights=1)


def test_weight_norm_dense_standard(tmp_path):
    x = _rng().normal(size=(4, 5)).astype("float32")
    run_layer_test(lambda: layers.WeightNormalization(keras.layers.Dense(3, activation="elu")),
                   x, (4, 3), tmp_path, **WN_WEIGHTS)


def test_weight_norm_conv_standard(tmp_path):
    x = _rng().normal(size=(2, 8, 8, 3)).astype("float32")
    run_layer_test(
        lambda: layers.WeightNormalization(keras.layers.Conv2D(4, 4, strides=2, padding="same")),
        x, (2, 4, 4, 4), tmp_path, **WN_WEIGHTS)


def test_weight_norm_data_init_standard(tmp_path):
    x = _rng().normal(size=(4, 6, 6, 3)).astype("float32")
    run_layer_test(
        lambda: layers.WeightNormalization(keras.layers.Conv2D(4, 3, padding="same"),
                                           data_init=True),
        x, (4, 6, 6, 4), tmp_path, **WN_WEIGHTS)


@pytest.mark.parametrize("inner", ["dense", "conv"])
def test_weight_norm_effective_kernel_has_norm_g(inner):
    rng = _rng()
    if inner == "dense":
        layer = layers.WeightNormalization(keras.layers.Dense(3, use_bias=False))
        x = rng.normal(size=(4, 5)).astype("float32")
    else:
        layer = layers.WeightNormalization(keras.layers.Conv2D(3, 3, use_bias=False))
        x = rng.normal(size=(2, 5, 5, 2)).astype("float32")
    layer(x)
    g = rng.uniform(0.5, 2.0, size=(3,)).astype("float32")
    layer.g.assign(g)
    v = keras.ops.convert_to_numpy(layer.layer.kernel)
    axes = tuple(range(v.ndim - 1))
    w = g * v / np.sqrt(np.sum(v ** 2, axis=axes, keepdims=True))
    np.testing.assert_allclose(np.sqrt(np.sum(w ** 2, axis=axes)), g, rtol=1e-5)
    if inner == "dense":
        expected = x @ w
    else:
        expected = tf.nn.conv2d(x, w, 1, "VALID").numpy()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected,
                               rtol=1e-4, atol=1e-5)


def test_weight_norm_starts_as_plain_layer():
    x = _rng().normal(size=(4, 5)).astype("float32")
    layer = layers.WeightNormalization(keras.layers.Dense(3))
    out = keras.ops.convert_to_numpy(layer(x))
    kernel = keras.ops.convert_to_numpy(layer.layer.kernel)
    np.testing.assert_allclose(out, x @ kernel, rtol=1e-5, atol=1e-6)


def test_weight_norm_data_init_normalises_first_batch():
    x = (3.0 + 2.0 * _rng().normal(size=(64, 5))).astype("float32")
    layer = layers.WeightNormalization(keras.layers.Dense(4), data_init=True)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(0), 1.0, atol=1e-3)
    g = keras.ops.convert_to_numpy(layer.g).copy()
    layer(x + 5.0, training=True)  # Only the first training call initialises.
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.g), g)


def test_weight_norm_data_init_inside_tf_function():
    x = (1.0 + 4.0 * _rng().normal(size=(32, 4, 4, 2))).astype("float32")
    layer = layers.WeightNormalization(keras.layers.Conv2D(3, 3, padding="same"),
                                       data_init=True)
    layer.build(x.shape)
    out = tf.function(lambda t: layer(t, training=True))(x).numpy()
    np.testing.assert_allclose(out.mean((0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std((0, 1, 2)), 1.0, atol=1e-3)
    assert float(keras.ops.convert_to_numpy(layer.initialized)) == 1.0


def test_weight_norm_rejects_other_layers():
    with pytest.raises(ValueError, match="Dense or Conv2D"):
        layers.WeightNormalization(keras.layers.LSTM(3))


def test_weight_norm_reload_equal_outputs(tmp_path):
    x = _rng().normal(size=(2, 6, 6, 3)).astype("float32")
    inp = keras.Input((6, 6, 3))
    model = keras.Model(inp, layers.WeightNormalization(
        keras.layers.Conv2D(2, 3, padding="same", activation="relu"))(inp))
    model.layers[-1].g.assign([0.3, 2.0])
    path = tmp_path / "wn.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


def test_depth_to_space_matches_tf():
    x = _rng().normal(size=(2, 3, 5, 12)).astype("float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layers.depth_to_space(x, 2)),
        tf.nn.depth_to_space(x, 2).numpy())


def test_subpixel_standard(tmp_path):
    x = _rng().normal(size=(2, 4, 4, 3)).astype("float32")
    run_layer_test(lambda: layers.SubpixelConv2D(5, activation="relu"), x, (2, 8, 8, 5), tmp_path,
                   **WN_WEIGHTS)
    run_layer_test(lambda: layers.SubpixelConv2D(2, kernel_size=1, weight_norm=False),
                   x, (2, 8, 8, 2), tmp_path, expected_num_trainable_weights=2,
                   expected_num_non_trainable_weights=0)


def test_subpixel_is_conv_then_shuffle():
    x = _rng().normal(size=(1, 3, 3, 2)).astype("float32")
    layer = layers.SubpixelConv2D(2, weight_norm=False)
    out = keras.ops.convert_to_numpy(layer(x))
    conv = layer.conv
    pre = tf.nn.conv2d(x, conv.kernel, 1, "SAME") + conv.bias
    np.testing.assert_allclose(out, tf.nn.depth_to_space(pre, 2).numpy(), rtol=1e-5, atol=1e-6)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _as_one_conv_then_upsample(layer, x):
    """The layer's first `filters` outputs as one conv, then 2x nearest-neighbour upsampling.

    The conv uses the layer's own effective sub-kernel: g * v / ||v|| under weight norm.
    """
    f = layer.filters
    if layer.weight_norm:
        v = _np(layer.conv.layer.kernel)
        kernel = _np(layer.conv.g) * v / np.sqrt(np.sum(v ** 2, axis=(0, 1, 2), keepdims=True))
        bias = _np(layer.conv.layer.bias)
    else:
        kernel, bias = _np(layer.conv.kernel), _np(layer.conv.bias)
    pre = tf.nn.conv2d(x, kernel[..., :f], 1, "SAME").numpy() + bias[:f]  # (B, H, W, F)
    up = np.repeat(np.repeat(pre, 2, axis=1), 2, axis=2)  # (B, 2H, 2W, F)
    return _np(layer.activation(up))


@pytest.mark.parametrize("weight_norm, data_init", [(False, False), (True, False), (True, True)])
def test_subpixel_icnr_starts_as_conv_then_nearest_neighbour(weight_norm, data_init):
    x = (1.0 + 2.0 * _rng().normal(size=(3, 5, 6, 4))).astype("float32")
    layer = layers.SubpixelConv2D(3, weight_norm=weight_norm, data_init=data_init,
                                  activation="elu")
    out = _np(layer(x, training=True))  # With data_init this call sets g and the bias.
    assert out.shape == (3, 10, 12, 3)
    np.testing.assert_allclose(out, _as_one_conv_then_upsample(layer, x), rtol=1e-6, atol=1e-6)
    inner = layer.conv.layer if weight_norm else layer.conv
    kernel, bias = _np(inner.kernel), _np(inner.bias)
    for q in range(1, 4):  # Sub-pixel q = i * 2 + j reads channels q * F .. q * F + F - 1.
        np.testing.assert_array_equal(kernel[..., 3 * q:3 * q + 3], kernel[..., :3])
    # Data init sets g and the bias from per-channel moments: replicated to float rounding.
    np.testing.assert_allclose(bias, np.tile(bias[:3], 4), rtol=1e-6, atol=1e-7)
    if weight_norm:
        g = _np(layer.conv.g)
        np.testing.assert_allclose(g, np.tile(g[:3], 4), rtol=1e-6)
    assert (np.abs(bias).max() > 0.01) == data_init  # Zeros unless set from the data.


def test_subpixel_icnr_kernel_is_glorot_for_the_sub_conv():
    keras.utils.set_random_seed(1)
    layer = layers.SubpixelConv2D(3, weight_norm=False)
    layer.build((None, 4, 4, 2))
    kernel = _np(layer.conv.kernel)  # (3, 3, 2, 12)
    limit_sub, limit_all = np.sqrt(6 / (9 * (2 + 3))), np.sqrt(6 / (9 * (2 + 12)))
    assert limit_all < np.abs(kernel).max() <= limit_sub


def test_subpixel_glorot_init_is_the_old_one(tmp_path):
    x = _rng().normal(size=(2, 4, 4, 3)).astype("float32")
    run_layer_test(lambda: layers.SubpixelConv2D(2, init="glorot"), x, (2, 8, 8, 2), tmp_path,
                   expected_num_trainable_weights=3, expected_num_non_trainable_weights=1,
                   expected_num_params=3 * 3 * 3 * 8 + 8 + 8 + 1)
    keras.utils.set_random_seed(5)
    old = layers.SubpixelConv2D(3, weight_norm=False, init="glorot")
    old.build((None, 4, 4, 2))
    keras.utils.set_random_seed(5)
    plain = keras.layers.Conv2D(12, 3, padding="same")
    plain.build((None, 4, 4, 2))
    np.testing.assert_array_equal(_np(old.conv.kernel), _np(plain.kernel))  # No replication.
    # A layer config saved before the init argument loads; its weights come from the file.
    config = {k: v for k, v in old.get_config().items() if k != "init"}
    assert layers.SubpixelConv2D.from_config(config).get_config()["filters"] == 3
    with pytest.raises(ValueError, match="init='nearest'"):
        layers.SubpixelConv2D(3, init="nearest")


def test_resblock_standard(tmp_path):
    x = _rng().normal(size=(2, 4, 4, 3)).astype("float32")
    run_layer_test(lambda: layers.ResBlock(3), x, (2, 4, 4, 3), tmp_path,
                   expected_num_trainable_weights=2 * 3, expected_num_non_trainable_weights=2)


def test_resblock_numpy():
    x = _rng().normal(size=(1, 4, 4, 2)).astype("float32")
    block = layers.ResBlock(2, weight_norm=False)
    out = keras.ops.convert_to_numpy(block(x))
    c1, c2 = block.conv1, block.conv2
    h = tf.nn.relu(tf.nn.conv2d(x, c1.kernel, 1, "SAME") + c1.bias)
    expected = tf.nn.relu(x + tf.nn.conv2d(h, c2.kernel, 1, "SAME") + c2.bias).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_resblock_channel_mismatch():
    with pytest.raises(ValueError, match="input channels"):
        layers.ResBlock(4)(np.zeros((1, 2, 2, 3), "float32"))


def test_glu_standard_and_numpy(tmp_path):
    x = _rng().normal(size=(2, 3, 3, 6)).astype("float32")
    run_layer_test(lambda: layers.GLU(), x, (2, 3, 3, 3), tmp_path, fit=False,
                   expected_num_trainable_weights=0, expected_num_non_trainable_weights=0)
    out = keras.ops.convert_to_numpy(layers.GLU()(x))
    np.testing.assert_allclose(out, x[..., :3] / (1 + np.exp(-x[..., 3:])), rtol=1e-5)
    out1 = keras.ops.convert_to_numpy(layers.GLU(axis=1)(x[:, :2]))
    np.testing.assert_allclose(out1, x[:, :1] / (1 + np.exp(-x[:, 1:2])), rtol=1e-5)


def test_glu_odd_channels():
    with pytest.raises(ValueError, match="even"):
        layers.GLU()(np.zeros((1, 5), "float32"))


def test_vgg_preprocess(tmp_path):
    x = _rng().uniform(size=(2, 4, 4, 3)).astype("float32")
    run_layer_test(layers.VGGPreprocess, x, (2, 4, 4, 3), tmp_path, fit=False,
                   expected_num_trainable_weights=0, expected_num_non_trainable_weights=0)
    expected = keras.applications.vgg16.preprocess_input(255.0 * x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layers.VGGPreprocess()(x)),
                               expected, rtol=1e-5, atol=1e-3)


def test_weight_norm_data_init_under_mirrored_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    x = (2.0 + 3.0 * _rng().normal(size=(8, 5))).astype("float32")
    with strategy.scope():
        fresh = layers.WeightNormalization(keras.layers.Dense(3), data_init=True)
        ready = layers.WeightNormalization(keras.layers.Dense(3), data_init=True)
        fresh.build(x.shape)
        ready(x, training=True)  # Cross-replica context: all copies get the same g.
    g = [np.asarray(v) for v in strategy.experimental_local_results(ready.g.value)]
    np.testing.assert_array_equal(g[0], g[1])

    @tf.function
    def run(layer, t):
        return strategy.run(lambda a: layer(a, training=True), args=(t,))

    run(ready, tf.constant(x))
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside strategy.run"):
        run(fresh, tf.constant(x))


def _reference_weight_norm(layer, x):
    """g v / ||v|| applied by the plain ops (autodiff reference)."""
    v, g = layer.layer.kernel, layer.g
    axes = tuple(range(len(v.shape) - 1))
    w = g * v / tf.sqrt(tf.reduce_sum(tf.square(v), axis=axes, keepdims=True))
    inner = layer.layer
    if isinstance(inner, keras.layers.Conv2D):
        y = tf.nn.convolution(x, w, strides=inner.strides, padding=inner.padding.upper())
    else:
        y = tf.matmul(x, w)
    return inner.activation(y + inner.bias)


@pytest.mark.parametrize("case", ["dense", "conv_big_maps", "conv_small_maps", "strided_small"])
def test_weight_norm_values_and_gradients_match_autodiff(case):
    # Dense and convs on small maps scale the outputs (and a 4x4 map runs as a patch
    # matmul); a conv on bigger maps scales the kernel (weight_norm_kernel's own gradient).
    rng = _rng()
    make, shape = {
        "dense": (lambda: keras.layers.Dense(5, activation="elu"), (3, 6)),
        "conv_big_maps": (lambda: keras.layers.Conv2D(2, 3, padding="same"), (2, 9, 9, 3)),
        "conv_small_maps": (lambda: keras.layers.Conv2D(8, 3, padding="same"), (2, 4, 4, 6)),
        "strided_small": (lambda: keras.layers.Conv2D(6, 4, strides=2, padding="same"),
                          (2, 8, 8, 5)),
    }[case]
    layer = layers.WeightNormalization(make())
    x = tf.constant(rng.normal(size=shape).astype("float32"))
    layer(x)
    layer.g.assign(rng.uniform(0.5, 2.0, size=layer.g.shape).astype("float32"))
    layer.layer.bias.assign(rng.normal(size=layer.layer.bias.shape).astype("float32"))
    small = layer._scales_outputs(x.shape)
    assert small == (case != "conv_big_maps")
    assert layer._is_conv and layer._by_patches(x.shape) if "small" in case else True
    variables = [layer.layer.kernel, layer.g, layer.layer.bias]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        got = layer(x)
        want = _reference_weight_norm(layer, x)
        w = tf.constant(rng.normal(size=got.shape).astype("float32"))
        lg, lw = tf.reduce_sum(got * w), tf.reduce_sum(want * w)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)
    for a, b in zip(tape.gradient(lg, variables + [x]), tape.gradient(lw, variables + [x])):
        np.testing.assert_allclose(tf.convert_to_tensor(a).numpy(), b.numpy(),
                                   rtol=1e-4, atol=1e-5)


def test_weight_norm_kernel_floor_has_no_norm_gradient():
    v = tf.zeros((3, 2))
    g = tf.ones((2,))
    with tf.GradientTape() as tape:
        tape.watch([v, g])
        k = layers.weight_norm_kernel(v, g, axes=(0,))
        loss = tf.reduce_sum(k * tf.constant([[1.0, 2.0]] * 3))
    dv, dg = tape.gradient(loss, [v, g])
    assert np.all(np.isfinite(dv.numpy())) and np.all(np.isfinite(dg.numpy()))
    np.testing.assert_allclose(dv.numpy(), np.array([[1.0, 2.0]] * 3) * 1e12, rtol=1e-6)


@pytest.mark.parametrize("size,kernel,stride,padding", [
    (4, 3, 1, "same"), (8, 4, 2, "same"), (7, 3, 2, "same"), (6, 3, 1, "valid")])
def test_conv_by_patches_matches_conv(size, kernel, stride, padding):
    rng = _rng()
    x = tf.constant(rng.normal(size=(2, size, size, 3)).astype("float32"))
    k = tf.constant(rng.normal(size=(kernel, kernel, 3, 5)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, k])
        got = layers.conv_by_patches(x, k, (stride, stride), padding)
        want = keras.ops.conv(x, k, strides=stride, padding=padding)
        lg, lw = tf.reduce_sum(tf.sin(got)), tf.reduce_sum(tf.sin(want))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
    for a, b in zip(tape.gradient(lg, [x, k]), tape.gradient(lw, [x, k])):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)
