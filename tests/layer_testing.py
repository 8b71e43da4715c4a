"""Shared layer checks: config round trip, output shapes, one fit step, save and reload."""

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


def run_layer_test(make_layer, inputs, expected_output_shape, tmp_path, fit=True, atol=1e-5):
    """Runs the standard checks on a layer (or RNN cell) built by `make_layer()`.

    Args:
      make_layer: zero-argument callable returning a fresh layer or RNN cell.
      inputs: a numpy array (or list of arrays) with a leading batch dimension.
      expected_output_shape: the full output shape, batch included.
      tmp_path: a pytest tmp_path for the save/reload check.
      fit: whether to run one optimiser step and check the weights moved.
      atol: tolerance for the reload comparison.

    Returns:
      The built functional model.
    """
    layer = make_layer()
    check_config_round_trip(layer)
    model = _as_model(layer, inputs)
    out = model(inputs)
    assert tuple(out.shape) == tuple(expected_output_shape), (out.shape, expected_output_shape)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(out)))

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
