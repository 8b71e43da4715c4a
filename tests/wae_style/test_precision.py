"""Tests for wae_style.precision: when bf16 is used, tracing under a policy, bf16 training."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from wae_style import configs
from wae_style import precision
from wae_style.model import WAEStyle
from tests.support.precision import fake_machine, inject_decision


def test_use_bf16_choices():
    big, small = precision.BF16_MIN_BATCH, precision.BF16_MIN_BATCH - 1
    assert precision.use_bf16("auto", big, faster=True)
    assert not precision.use_bf16("auto", small, faster=True)  # Slower at small batches.
    assert not precision.use_bf16("auto", small)  # Nothing to ask there.
    assert not precision.use_bf16("auto", big, faster=False)  # Measured slower here.
    assert not precision.use_bf16("auto", big, available=False, faster=True)
    assert precision.use_bf16("bfloat16", 1, faster=False)
    assert not precision.use_bf16("bfloat16", big, available=False)
    assert not precision.use_bf16("float32", big, faster=True)
    with pytest.raises(ValueError, match="'float16'"):
        precision.use_bf16("float16", big)
    with pytest.raises(ValueError, match="faster="):
        precision.use_bf16("auto", big)


def test_compute_policy_traces_bf16_and_restores_the_model():
    model = WAEStyle(configs.WAEConfig.testing())
    x = np.random.default_rng(0).uniform(size=(3, 64, 64, 3)).astype(np.float32)
    ref = model.transfer(x, x[::-1]).numpy()
    fn = tf.function(lambda a, b: model.transfer(a, b))
    with precision.compute_policy(model, precision.BF16_POLICY):
        low = fn(x, x[::-1])
    assert low.dtype == tf.float32  # The decoder's sigmoid is float32 under any policy.
    diff = np.abs(low.numpy() - ref)
    assert 0 < diff.max() < 0.05  # bf16 rounding of the same model.
    np.testing.assert_array_equal(fn(x, x[::-1]).numpy(), low.numpy())  # The trace keeps it.
    np.testing.assert_array_equal(model.transfer(x, x[::-1]).numpy(), ref)  # Model restored.
    assert {layer.dtype_policy.name for layer in model._flatten_layers()} == {"float32"}


def test_training_dtype_choices(monkeypatch):
    assert precision.training_dtype("auto", faster=True) == "bfloat16"
    assert precision.training_dtype("auto", faster=False) == "float32"  # Measured slower.
    assert precision.training_dtype("bfloat16", faster=False) == "bfloat16"
    assert precision.training_dtype("float32", faster=True) == "float32"
    with pytest.raises(ValueError, match="'float16'"):
        precision.training_dtype("float16")
    with pytest.raises(ValueError, match="needs the config"):
        precision.training_dtype("auto")
    config = configs.WAEConfig.testing()
    for dtype in ("bfloat16", "float32"):
        calls = inject_decision(monkeypatch, dtype)  # What the probe measures, injected.
        assert precision.training_dtype("auto", config) == dtype
        assert calls == [((), (precision.decoder_conv(config),), config.jit_compile)]
    calls = inject_decision(monkeypatch, "bfloat16")
    assert precision.training_dtype("float32", config) == "float32" and calls == []


def test_the_timed_conv_is_the_decoders_heaviest():
    # The default decoder: subpixel 4x4 1024->4*512, ResBlocks 8x8 512->512, subpixel 8x8
    # 512->4*256, 16x16 256->4*128, 32x32 128->4*64: the four subpixel convs tie on FLOPs,
    # the highest resolution wins.
    assert precision.decoder_conv(configs.WAEConfig()) == (64, 32, 32, 128, 256)
    assert precision.decoder_conv(configs.WAEConfig(), batch=16) == (16, 32, 32, 128, 256)
    wide = configs.WAEConfig(decoder_channels=(2048, 512, 64, 32, 16))
    assert precision.decoder_conv(wide) == (64, 4, 4, 2048, 2048)
    assert precision.decoder_conv(configs.WAEConfig(image_size=128))[1:3] == (64, 64)


def test_the_trainer_line_says_why(tmp_path, monkeypatch):
    fake_machine(monkeypatch, tmp_path, {"float32": 2e-2, "bfloat16": 1e-2})
    config = configs.WAEConfig.testing()
    assert precision.describe_precision(config) == (
        'Precision: bfloat16 ("auto": 10 ms vs 20 ms float32 on conv3x3 (4, 32, 32, 8)->32, '
        "measured).")
    assert precision.training_dtype("auto", config) == "bfloat16"
    line = precision.describe_precision(dataclasses.replace(config, precision="float32"))
    assert line.startswith("Precision: float32 (set explicitly, not measured")


def test_bf16_call_keeps_latents_grams_and_recon_float32():
    model = WAEStyle(configs.WAEConfig.testing())
    x = np.random.default_rng(0).uniform(size=(2, 64, 64, 3)).astype(np.float32)
    out = model(x, training=True, compute_dtype="bfloat16")
    for key in ("recon", "z_content", "z_style", "content_mean", "style_mean"):
        assert out[key].dtype == tf.float32, key
    assert {g.dtype for g in out["grams"].values()} == {tf.float32}
    assert {f.dtype for f in out["recon_features"].values()} == {tf.bfloat16}
    # Weight norm and the variables stay float32; the layers are back on their policies.
    assert {v.dtype for v in model.trainable_variables} == {"float32"}
    assert {layer.dtype_policy.name for layer in model._flatten_layers()} == {"float32"}
    with pytest.raises(ValueError, match="compute_dtype='float16'"):
        model(x, compute_dtype="float16")


def _train_losses(config, steps):
    from wae_style import data
    from wae_style import train

    model, step, optimizer, _ = train.build(config, tf.distribute.get_strategy())
    replica_step = tf.function(train.make_replica_step(model, optimizer, None, step, config))
    pipeline = data.MixedPipeline(data.load_sources(config), config.batch_size, config.seed)
    out = []
    for k in range(steps):
        metrics = replica_step(tf.constant(pipeline.batch(k)))
        step.assign_add(1)
        out.append({n: float(metrics[n]) for n in ("loss", "pixel", "feature", "gram")})
    return out


def test_bf16_training_losses_match_float32():
    # Same seed, same batches: the bf16 step's losses are the float32 step's up to bf16
    # rounding (under 1.2% in 6 steps when measured; benchmarks/train_wae.py --curves
    # compares 200-step curves).
    base = configs.WAEConfig.testing()
    f32 = _train_losses(dataclasses.replace(base, precision="float32"), 4)
    bf16 = _train_losses(dataclasses.replace(base, precision="bfloat16"), 4)
    for a, b in zip(f32, bf16):
        for name in a:
            assert abs(b[name] - a[name]) <= 0.03 * abs(a[name]), (name, a, b)
    assert f32[-1]["loss"] != bf16[-1]["loss"]  # The bf16 path did run.
