"""Tests for wae_style.precision: when the bf16 transfer is used, and tracing under a policy."""

import numpy as np
import pytest
import tensorflow as tf

from wae_style import configs
from wae_style import precision
from wae_style.model import WAEStyle


def test_use_bf16_choices():
    big, small = precision.BF16_MIN_BATCH, precision.BF16_MIN_BATCH - 1
    assert precision.use_bf16("auto", big, hardware=True)
    assert not precision.use_bf16("auto", small, hardware=True)  # Slower at small batches.
    assert not precision.use_bf16("auto", big, hardware=False)  # Emulated bf16 is slower.
    assert not precision.use_bf16("auto", big, available=False, hardware=True)
    assert precision.use_bf16("bfloat16", 1, hardware=False)
    assert not precision.use_bf16("bfloat16", big, available=False)
    assert not precision.use_bf16("float32", big, hardware=True)
    with pytest.raises(ValueError, match="'float16'"):
        precision.use_bf16("float16", big)


def test_compute_policy_traces_bf16_and_restores_the_model():
    model = WAEStyle(configs.WAEConfig.testing())
    x = np.random.default_rng(0).uniform(size=(3, 64, 64, 3)).astype(np.float32)
    ref = model.transfer(x, x[::-1]).numpy()
    fn = tf.function(lambda a, b: model.transfer(a, b))
    with precision.compute_policy(model, precision.BF16_POLICY):
        low = fn(x, x[::-1])
    assert low.dtype == tf.bfloat16
    diff = np.abs(tf.cast(low, tf.float32).numpy() - ref)
    assert 0 < diff.max() < 0.05  # bf16 rounding of the same model.
    assert fn(x, x[::-1]).dtype == tf.bfloat16  # The trace keeps its precision.
    np.testing.assert_array_equal(model.transfer(x, x[::-1]).numpy(), ref)  # Model restored.
    assert {layer.dtype_policy.name for layer in model._flatten_layers()} == {"float32"}
