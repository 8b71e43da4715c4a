"""Shared layer checks: config round trip, weight counts, shapes, dtypes, precision, a fit step, reload."""

import numpy as np
import keras


def _as_model(layer, inputs):
    """Wraps a layer (or an RNN cell, through keras.layers.RNN) in a functional model."""
    if hasattr(layer, "state_size") and not isinstance(layer, keras.layers.RNN):
        layer = keras.layers.RNN(layer, return_sequences=True)
    if isinstance(inputs, (list, tuple)):
        sym = [keras.Input(shape=x.shape[1:], dtype=str(x.dtype)) for x in inputs]
    else:
        sym = keras.Input(shape=inputs.shape[1:], dtype=str(inputs.dtype))
    out = layer(sym)
    return keras.Model(sym, out)


def check_config_round_trip(layer):
    """from_config(get_config()) gives the same config, and the class is registered."""
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config
    name = keras.saving.get_registered_name(layer.__class__)
    assert keras.saving.get_registered_object(name) is layer.__class__, (
        f"{layer.__class__.__name__} is not registered serializable")
    return clone


def check_precision(layer, model, inputs, atol=0.05):
    """A layer with a `matmul_dtype`: a bf16 twin (same weights) keeps bf16 in its config and
    stays close to the fp32 one, which keeps fp32 whatever was built after it."""
    config = layer.get_config()
    if "matmul_dtype" not in config:
        return
    assert config["matmul_dtype"] in ("float32", "bfloat16")
    base = layer.__class__.from_config({**config, "matmul_dtype": "float32"})
    low = layer.__class__.from_config({**config, "matmul_dtype": "bfloat16"})
    assert low.get_config()["matmul_dtype"] == "bfloat16"
    fp32_model, bf16_model = _as_model(base, inputs), _as_model(low, inputs)
    fp32_model.set_weights(model.get_weights())
    bf16_model.set_weights(model.get_weights())
    want = keras.ops.convert_to_numpy(fp32_model(inputs))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bf16_model(inputs)), want, atol=atol)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fp32_model(inputs)), want)
    assert base.get_config()["matmul_dtype"] == "float32"


def run_layer_test(make_layer, inputs, expected_output_shape, tmp_path, *,
                   expected_num_trainable_weights, expected_num_non_trainable_weights,
                   fit=True, atol=1e-5, expected_num_params=None):
    """Runs the standard checks on a layer (or RNN cell) built by `make_layer()`.

    Checks the config round trip and registration, the weight counts, the output shape,
    that every weight is float32 and the output is the layer's compute dtype,
    the bf16 / fp32 precision of layers with a matmul_dtype, one fit step, and save/reload.

    Args:
      make_layer: zero-argument callable returning a fresh layer or RNN cell.
      inputs: a numpy array (or list of arrays) with a leading batch dimension.
      expected_output_shape: the full output shape, batch included.
      tmp_path: a pytest tmp_path for the save/reload check.
      expected_num_trainable_weights, expected_num_non_trainable_weights: weight variables
        (required, so that no layer goes unchecked; seed generators' states are not weights).
      fit: whether to run one optimiser step and check the weights moved.
      atol: tolerance for the reload comparison.
      expected_num_params: scalars in all the weights (when given).

    Returns:
      The built functional model.
    """
    layer = make_layer()
    check_config_round_trip(layer)
    model = _as_model(layer, inputs)
    out = model(inputs)
    assert tuple(out.shape) == tuple(expected_output_shape), (out.shape, expected_output_shape)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(out)))
    assert len(layer.trainable_weights) == expected_num_trainable_weights, [
        w.path for w in layer.trainable_weights]
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights, [
        w.path for w in layer.non_trainable_weights]
    if expected_num_params is not None:
        assert sum(int(np.prod(w.shape)) for w in layer.weights) == expected_num_params
    assert all(w.dtype == "float32" for w in layer.weights), [w.dtype for w in layer.weights]
    assert keras.backend.standardize_dtype(out.dtype) == layer.compute_dtype
    check_precision(layer, model, inputs)

    if fit:
        before = [w.copy() for w in model.get_weights()]
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        target = np.random.default_rng(0).normal(size=out.shape).astype("float32")
        model.fit(inputs, target, epochs=1, batch_size=len(target), verbose=0)
        after = model.get_weights()
        if before:
            assert any(not np.allclose(a, b) for a, b in zip(before, after)), "fit moved no weight"

    path = tmp_path / f"{layer.name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded(inputs)),
        keras.ops.convert_to_numpy(model(inputs)), atol=atol)
    return model
