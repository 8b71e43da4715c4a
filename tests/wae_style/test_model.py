"""Tests for wae_style.model: VGG builder, encoders, decoder and the WAEStyle model."""

import dataclasses
import json
import zipfile

import numpy as np
import keras
import pytest
import tensorflow as tf

from common.errors import DataError
from tests.support.layers import check_config_round_trip, run_layer_test
from wae_style import configs, losses, model as wm, vgg_weights
from wae_style.checkerboard import checkerboard_share
from wae_style.layers import WeightNormalization
from common.training import config as config_utils

CFG = configs.WAEConfig.testing()


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def wae():
    return wm.WAEStyle(CFG)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(size=(4, 64, 64, 3)).astype("float32")


# VGG.

def test_random_vgg_is_seeded_numpy_he_normal(wae, images):
    vgg = wae.vgg
    assert not vgg.trainable and not vgg.trainable_weights
    assert set(vgg.output) == set(CFG.vgg_layers)
    assert [layer.name for layer in vgg.layers][-1] == "block3_conv1"  # Truncated.
    kernel = _np(vgg.get_layer("block1_conv1").kernel)
    expected = np.random.default_rng([0, 0]).normal(0, np.sqrt(2 / 27), (3, 3, 3, 64))
    np.testing.assert_allclose(kernel, expected.astype("float32"))
    again = wm.build_vgg("random", 0, CFG.vgg_layers, 64)
    other = wm.build_vgg("random", 1, CFG.vgg_layers, 64)
    out, out2 = wae.vgg_features(images), again(images)
    for name in CFG.vgg_layers:
        np.testing.assert_array_equal(_np(out[name]), _np(out2[name]))
    assert not np.allclose(_np(other.get_layer("block1_conv1").kernel), kernel)
    assert out["block3_conv1"].shape == (4, 16, 16, 256)


def test_vgg_applies_preprocessing(images):
    vgg = wm.build_vgg("random", 0, ("block1_conv1",))
    conv = vgg.get_layer("block1_conv1")
    pre = keras.applications.vgg16.preprocess_input(255.0 * images)
    np.testing.assert_allclose(_np(vgg(images)["block1_conv1"]), _np(conv(pre)),
                               rtol=1e-4, atol=1e-3)


def test_imagenet_is_the_packaged_asset_without_network(monkeypatch):
    calls = []
    original = keras.applications.VGG16

    def no_download(*args, weights=None, **kwargs):
        calls.append(weights)
        if weights is not None:
            raise Exception("URL fetch failure: no network")
        return original(*args, weights=weights, **kwargs)

    monkeypatch.setattr(keras.applications, "VGG16", no_download)
    vgg = wm.build_vgg("imagenet", 0)
    assert calls == [None]  # Architecture only; the weights come from wae_style/assets.
    kernel, bias = vgg_weights.read_asset().weights["block3_conv1"]
    np.testing.assert_array_equal(_np(vgg.get_layer("block3_conv1").kernel), kernel)
    np.testing.assert_array_equal(_np(vgg.get_layer("block3_conv1").bias), bias)


def test_vgg_bad_paths(tmp_path):
    with pytest.raises(DataError, match="missing.h5"):
        wm.build_vgg(str(tmp_path / "missing.h5"))
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file")
    with pytest.raises(DataError, match="junk.h5"):
        wm.build_vgg(str(junk))
    with pytest.raises(DataError, match="imagenett"):
        wm.build_vgg("imagenett")
    with pytest.raises(ValueError, match="conv layers"):
        wm.build_vgg("random", layers=("block1_pool",))


def test_vgg_from_h5_path(tmp_path, images):
    base = keras.applications.VGG16(include_top=False, weights=None)
    base.get_layer("block1_conv1").bias.assign(np.full((64,), 0.5, "float32"))
    path = tmp_path / "vgg.weights.h5"
    base.save_weights(path)
    vgg = wm.build_vgg(str(path), layers=("block1_conv1",))
    np.testing.assert_array_equal(_np(vgg.get_layer("block1_conv1").bias), 0.5)


# Sub-networks.

def _check_two_output_layer(layer, inputs, shape, tmp_path):
    """Config round trip, one fit step and .keras reload of a (mean, logvar) layer."""
    check_config_round_trip(layer)
    sym = ([keras.Input(x.shape[1:]) for x in inputs] if isinstance(inputs, list)
           else keras.Input(inputs.shape[1:]))
    mean, logvar = layer(sym)
    model = keras.Model(sym, [mean, logvar])
    out = model(inputs)
    assert [tuple(o.shape) for o in out] == [shape, shape]
    before = [w.copy() for w in model.get_weights()]
    model.compile(keras.optimizers.Adam(1e-2), loss=["mse", "mse"])
    target = np.ones(shape, "float32")
    model.fit(inputs, [target, target], batch_size=shape[0], verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    for a, b in zip(reloaded(inputs), model(inputs)):
        np.testing.assert_allclose(_np(a), _np(b), atol=1e-5)


@pytest.mark.parametrize("glu", [True, False])
def test_content_encoder(glu, images, tmp_path):
    cfg = config_utils.replace_from_strings(CFG, [f"glu_gating={glu}"])
    enc = wm.ContentEncoder(cfg)
    _check_two_output_layer(enc, images, (4, cfg.content_dim), tmp_path)
    ch = cfg.encoder_channels
    dense_in = enc.dense.layer.kernel.shape[0]
    assert dense_in == 4 * 4 * (ch[4] // 2 if glu else ch[4])
    assert isinstance(enc.convs[1], WeightNormalization)
    assert enc.convs[1].layer.strides == (2, 2) and enc.convs[1].layer.kernel_size == (4, 4)


def test_paper_content_encoder_shapes():
    enc = wm.ContentEncoder(configs.WAEConfig.paper())
    enc.build((None, 64, 64, 3))
    kernels = [c.layer.kernel.shape for c in enc.convs]
    # Table 1: input channels 3, 8, 32, 64 (halved 128), 128 (halved 256).
    assert [k[2] for k in kernels] == [3, 8, 32, 64, 128]
    assert [k[3] for k in kernels] == [8, 32, 128, 256, 512]
    assert enc.dense.layer.kernel.shape == (4 * 4 * 256, 256)


@pytest.mark.parametrize("flatten", ["triu", "full"])
def test_style_encoder(flatten, wae, images, tmp_path):
    cfg = config_utils.replace_from_strings(CFG, [f"gram_flatten={flatten}"])
    feats = wae.vgg_features(images[:2])
    inputs = [_np(feats[n]) for n in cfg.style_layers]
    enc = wm.StyleEncoder(cfg)
    _check_two_output_layer(enc, inputs, (2, cfg.style_dim), tmp_path)
    c = inputs[0].shape[-1]
    size = c * (c + 1) // 2 if flatten == "triu" else c * c
    assert enc.nets[0][0].layer.kernel.shape[0] == size + 2  # + level and spread.


def test_style_encoder_triu_keeps_gram():
    enc = wm.StyleEncoder(config_utils.replace_from_strings(CFG, ["gram_transform=none"]))
    g = np.random.default_rng(1).normal(size=(2, 3, 3)).astype("float32")
    g = g + g.transpose(0, 2, 1)
    flat = _np(enc._flatten_gram(g, 3))
    rows, cols = np.triu_indices(3)
    tri = g[:, rows, cols]
    level, spread = tri.mean(-1, keepdims=True), tri.std(-1, keepdims=True)
    np.testing.assert_allclose(flat[:, :-2], (tri - level) / (spread + 1e-6), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(flat[:, -2:], np.concatenate([level, spread], -1), rtol=1e-5)


def test_style_encoder_starts_near_the_prior(wae, images):
    """Standardised Gram inputs keep the initial style latents O(1) (raw ones saturated)."""
    mean, logvar = wae.encode_style(images[:4])
    assert float(np.abs(_np(mean)).max()) < 20.0
    assert float(np.abs(_np(logvar)).max()) < 20.0


def test_decoder(tmp_path):
    z = np.random.default_rng(2).normal(size=(2, CFG.content_dim + CFG.style_dim))
    # Weight norm on each of the dense, 4 subpixel convs, 2 convs per ResBlock and the out
    # conv: 3 trainable weights (kernel, bias, g) and 1 non-trainable (initialized) each.
    wrapped = 1 + len(CFG.decoder_channels[1:]) + 2 * CFG.num_res_blocks + 1
    model = run_layer_test(lambda: wm.Decoder(CFG), z.astype("float32"), (2, 64, 64, 3),
                           tmp_path, expected_num_trainable_weights=3 * wrapped,
                           expected_num_non_trainable_weights=wrapped)
    out = _np(model(z.astype("float32")))
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_paper_decoder_shapes():
    dec = wm.Decoder(configs.WAEConfig.paper())
    dec.build((None, 128 + 192))
    assert dec.dense.layer.kernel.shape == (320, 4 * 4 * 1024)
    assert len(dec.res_blocks) == 3
    assert dec.out_conv.layer.kernel.shape == (5, 5, 64, 3)
    shape = (None, 4, 4, 1024)
    for up in [dec.up1] + dec.ups:
        shape = up.compute_output_shape(shape)
    assert shape == (None, 64, 64, 64)


def _subpixel_kernels(decoder):
    return [_np(up.conv.layer.kernel) for up in [decoder.up1, *decoder.ups]]


def test_decoder_starts_without_a_checkerboard_with_icnr():
    z = np.random.default_rng(4).normal(size=(8, CFG.content_dim + CFG.style_dim))
    shares = {}
    for init in ("icnr", "glorot"):
        keras.utils.set_random_seed(0)
        decoder = wm.Decoder(dataclasses.replace(CFG, subpixel_init=init))
        shares[init] = checkerboard_share(_np(decoder(z.astype("float32")))).mean()
        for kernel in _subpixel_kernels(decoder):
            f = kernel.shape[-1] // 4
            assert np.array_equal(kernel[..., f:2 * f], kernel[..., :f]) == (init == "icnr")
    # At init: about 0.01 of the power at the 2/4/8 px periods with ICNR, 0.4 without.
    assert shares["icnr"] < 0.05 < 0.2 < shares["glorot"]


def test_logvar_offset_shifts_both_encoders_log_variances_only(images):
    outs = {}
    for offset in (0.0, -6.0):
        keras.utils.set_random_seed(0)
        model = wm.WAEStyle(dataclasses.replace(CFG, logvar_offset=offset))
        outs[offset] = (model.encode_content(images), model.encode_style(images))
    for (m0, v0), (m6, v6) in zip(outs[0.0], outs[-6.0]):
        np.testing.assert_array_equal(_np(m0), _np(m6))
        np.testing.assert_allclose(_np(v6), _np(v0) - 6.0, atol=1e-5)


def test_keras_file_from_before_subpixel_init_loads(tmp_path, images):
    """A .keras file saved before the field: its config means "glorot", its weights load."""
    old = wm.WAEStyle(dataclasses.replace(CFG, subpixel_init="glorot", logvar_offset=0.0))
    path, before = tmp_path / "new.keras", tmp_path / "old.keras"
    old.save(path)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(before, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                saved = json.loads(data)
                del saved["config"]["config"]["subpixel_init"]
                del saved["config"]["config"]["logvar_offset"]
                data = json.dumps(saved).encode()
            dst.writestr(item, data)
    reloaded = wm.load_model(before)
    assert reloaded.config.subpixel_init == "glorot" and reloaded.config.logvar_offset == 0.0
    for got, want in zip(_subpixel_kernels(reloaded.decoder), _subpixel_kernels(old.decoder)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(_np(reloaded(images)["recon"]), _np(old(images)["recon"]),
                               atol=1e-6)


def test_latent_discriminator(tmp_path):
    z = np.random.default_rng(3).normal(size=(4, 5)).astype("float32")
    run_layer_test(lambda: wm.LatentDiscriminator((6, 4)), z, (4,), tmp_path,
                   expected_num_trainable_weights=3 * 2, expected_num_non_trainable_weights=0)


# WAEStyle.

def test_call_outputs(wae, images):
    out = wae(images)
    assert out["recon"].shape == (4, 64, 64, 3)
    assert "features" not in out
    np.testing.assert_array_equal(_np(out["z_content"]), _np(out["content_mean"]))
    assert out["z_style"].shape == (4, CFG.style_dim)
    train = wae(images, training=True)
    assert set(train["features"]) == set(CFG.vgg_layers)
    assert not np.allclose(_np(train["z_content"]), _np(train["content_mean"]))
    r = _np(train["recon"])
    assert r.min() >= 0 and r.max() <= 1


def test_sample_latent(wae):
    mean = np.full((2000, 3), 1.0, "float32")
    logvar = np.full((2000, 3), np.log(4.0), "float32")
    np.testing.assert_array_equal(_np(wae.sample_latent(mean, logvar)), mean)
    a = _np(wae.sample_latent(mean, logvar, seed=5))
    b = _np(wae.sample_latent(mean, logvar, seed=tf.constant([5, 0])))
    np.testing.assert_allclose(a, b)
    assert abs(a.mean() - 1.0) < 0.1 and abs(a.std() - 2.0) < 0.1


def test_transfer_and_broadcast(wae, images):
    x, y = images[:2], images[2:]
    own = wae.decode(wae.encode_content(x)[0], wae.encode_style(x)[0])
    np.testing.assert_allclose(_np(wae.transfer(x, y, strength=0.0)), _np(own), atol=1e-5)
    full = _np(wae.transfer(x, y))
    expected = wae.decode(wae.encode_content(x)[0], wae.encode_style(y)[0])
    np.testing.assert_allclose(full, _np(expected), atol=1e-5)
    one_content = _np(wae.transfer(x[:1], y, strength=tf.constant(0.5)))
    assert one_content.shape == (2, 64, 64, 3)
    one_style = _np(wae.transfer(x, y[:1]))
    np.testing.assert_allclose(one_style[1], _np(wae.transfer(x[1:2], y[:1]))[0], atol=1e-5)
    with pytest.raises(ValueError, match="broadcast"):
        wae.transfer(images[:3], images[:2])


def test_mix_styles(wae, images):
    a, b = images[:1], images[1:3]
    za, zb = _np(wae.encode_style(a)[0]), _np(wae.encode_style(b)[0])
    mixed = _np(wae.mix_styles(a, b, 0.25))
    np.testing.assert_allclose(mixed, 0.75 * za + 0.25 * zb, rtol=1e-5, atol=1e-5)


def test_gradient_step_compiled(images):
    model = wm.WAEStyle(CFG)
    opt = keras.optimizers.Adam(1e-3, beta_1=CFG.adam_beta1)
    variables = model.generator_trainable_variables
    vgg_before = [w.copy() for w in model.vgg.get_weights()]

    @tf.function
    def step(x, seed):
        with tf.GradientTape() as tape:
            res = losses.compute_losses(model(x, training=True), x, seed, CFG)
        grads = tape.gradient(res["loss"], variables)
        opt.apply_gradients(zip(grads, variables))
        return res, grads

    before = [v.numpy().copy() for v in variables]
    res, grads = step(images, tf.constant([1, 2]))
    assert all(np.isfinite(float(v)) for v in res.values())
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    moved = [not np.allclose(b, v.numpy()) for b, v in zip(before, variables)]
    assert all(moved)
    for a, b in zip(vgg_before, model.vgg.get_weights()):
        np.testing.assert_array_equal(a, b)
    res2, _ = step(images, tf.constant([1, 3]))
    assert np.isfinite(float(res2["loss"]))


def test_config_round_trip_and_save_reload(wae, images, tmp_path):
    clone = wm.WAEStyle.from_config(wae.get_config())
    assert clone.config == wae.config
    assert len(clone.weights) == len(wae.weights)
    clone.set_weights(wae.get_weights())
    np.testing.assert_allclose(_np(clone(images)["recon"]), _np(wae(images)["recon"]),
                               atol=1e-6)
    path = tmp_path / "wae.keras"
    wae.save(path)
    for reloaded in (wm.load_model(path), keras.saving.load_model(path)):
        assert isinstance(reloaded, wm.WAEStyle)
        assert not reloaded.vgg.trainable
        np.testing.assert_allclose(_np(reloaded.transfer(images[:2], images[2:])),
                                   _np(wae.transfer(images[:2], images[2:])), atol=1e-6)


def test_load_model_does_not_need_imagenet(wae, tmp_path, monkeypatch, images):
    cfg = config_utils.replace_from_strings(CFG, ["vgg_weights=imagenet"])
    path = tmp_path / "imagenet.keras"
    # Save a model whose config says "imagenet" without touching the network.
    with wm.vgg_weights_from_checkpoint():
        model = wm.WAEStyle(cfg)
    model.set_weights(wae.get_weights())
    model.save(path)

    def no_asset():
        raise AssertionError("load_model must not read vgg_weights")

    monkeypatch.setattr(vgg_weights, "read_asset", no_asset)
    reloaded = wm.load_model(path)
    np.testing.assert_allclose(_np(reloaded(images)["recon"]), _np(wae(images)["recon"]),
                               atol=1e-6)
    with pytest.raises(AssertionError, match="must not read"):
        wm.WAEStyle(cfg)  # Outside load_model the config's "imagenet" is read.


def test_gan_model_and_losses(images):
    cfg = config_utils.replace_from_strings(CFG, ["penalty=gan"])
    model = wm.WAEStyle(cfg)
    out = model(images, training=True)
    assert out["disc_content"].shape == (4,)
    res = losses.compute_losses(out, images, 0, cfg)
    assert np.isfinite(float(res["loss"])) and "gan" in res
    prior = losses.sample_prior(4, cfg, seed=1)
    q = model.discriminate(out["z_content"], out["z_style"])
    p = model.discriminate(prior["content"], prior["style"])
    d = losses.discriminator_losses(q, p, cfg)
    assert np.isfinite(float(d["disc_loss"]))
    disc_ids = {id(v) for v in model.discriminator_trainable_variables}
    gen_ids = {id(v) for v in model.generator_trainable_variables}
    assert disc_ids and not disc_ids & gen_ids
    assert disc_ids | gen_ids == {id(v) for v in model.trainable_variables}
    with pytest.raises(ValueError, match="gan"):
        wm.WAEStyle(CFG).discriminate(out["z_content"], out["z_style"])


def test_data_dependent_init(images):
    cfg = config_utils.replace_from_strings(CFG, ["data_dependent_init=true"])
    model = wm.WAEStyle(cfg)
    model.data_dependent_init(images)
    wns = [layer for layer in model._flatten_layers() if isinstance(layer, WeightNormalization)]
    assert wns and all(float(_np(w.initialized)) == 1.0 for w in wns)
    feats = model.decoder.dense(keras.ops.concatenate(
        [model.encode_content(images)[0], model.encode_style(images)[0]], -1))
    assert np.all(np.isfinite(_np(feats)))


@pytest.mark.slow
def test_mirrored_strategy_step(images):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = wm.WAEStyle(CFG)
        opt = keras.optimizers.Adam(1e-3)
        opt.build(model.generator_trainable_variables)

    @tf.function
    def step(x, seed):
        def replica(x):
            with tf.GradientTape() as tape:
                res = losses.compute_losses(model(x, training=True), x, seed, CFG)
                loss = res["loss"] / strategy.num_replicas_in_sync
            variables = model.generator_trainable_variables
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return res["loss"]
        return strategy.reduce("mean", strategy.run(replica, args=(x,)), axis=None)

    data = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(images).batch(4))
    for batch in data:
        assert np.isfinite(float(step(batch, tf.constant([0, 1]))))
