"""numpy re-implementations of magenta's LSTM and LayerNorm LSTM steps, for the equation tests."""

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_layer_norm(x, gamma, beta, num_blocks, eps=1e-3):
    b = x.shape[0]
    xr = x.reshape(b, num_blocks, -1)
    mean = xr.mean(-1, keepdims=True)
    var = ((xr - mean) ** 2).mean(-1, keepdims=True)
    return ((xr - mean) / np.sqrt(var + eps)).reshape(b, -1) * gamma + beta


def np_lstm_step(cell, x, h, c):
    gates = np.concatenate([x, h], 1) @ cell.kernel.numpy() + cell.bias.numpy()
    i, j, f, o = np.split(gates, 4, 1)
    new_c = c * sigmoid(f + cell.forget_bias) + sigmoid(i) * np.tanh(j)
    return np.tanh(new_c) * sigmoid(o), new_c


def np_ln_lstm_step(cell, x, h, c):
    gates = np_layer_norm(np.concatenate([x, h], 1) @ cell.kernel.numpy(), cell.ln_gamma.numpy(),
                          cell.ln_beta.numpy(), 4)
    i, j, f, o = np.split(gates, 4, 1)
    new_c = c * sigmoid(f + cell.forget_bias) + sigmoid(i) * np.tanh(j)
    ln_c = np_layer_norm(new_c, cell.ln_c_gamma.numpy(), cell.ln_c_beta.numpy(), 1)
    return np.tanh(ln_c) * sigmoid(o), new_c


def randomise(layer, rng):
    """Sets every weight of `layer` to N(0, 0.5^2) draws from `rng`."""
    for w in layer.weights:
        w.assign(rng.normal(scale=0.5, size=w.shape).astype("float32"))
