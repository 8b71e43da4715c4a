"""LSTM / LayerNorm LSTM cells, their initialisers and make_cell, against numpy re-implementations."""

import numpy as np
import pytest

from sketch_rnn.cells import make_cell
from sketch_rnn.hyper_lstm import HyperLSTMCell
from sketch_rnn.initializers import BlockOrthogonal, FusedLSTMKernel
from sketch_rnn.lstm import LayerNormLSTMCell, LSTMCell
from tests.support.layers import run_layer_test
from tests.support.np_cells import (
    np_layer_norm, np_ln_lstm_step, np_lstm_step, randomise, sigmoid)


def _inputs(rng, b=3, x=5, h=6):
    return (rng.normal(size=(b, x)).astype("float32"), rng.normal(size=(b, h)).astype("float32"),
            rng.normal(size=(b, h)).astype("float32"))


@pytest.mark.parametrize("cls,ref", [(LSTMCell, np_lstm_step),
                                     (LayerNormLSTMCell, np_ln_lstm_step)])
def test_cell_step_matches_numpy(cls, ref):
    rng = np.random.default_rng(0)
    cell = cls(6, forget_bias=0.7, matmul_dtype="float32")  # fp32: an equation test.
    cell.build((None, 5))
    randomise(cell, rng)
    x, h, c = _inputs(rng)
    out, (new_h, new_c) = cell(x, [h, c], training=False)
    want_h, want_c = ref(cell, x, h, c)
    np.testing.assert_allclose(new_c, want_c, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(new_h, want_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out, new_h)
    assert cell.state_size == [6, 6] and cell.output_size == 6


@pytest.mark.parametrize("cls", [LSTMCell, LayerNormLSTMCell])
def test_recurrent_dropout_only_on_g_when_training(cls):
    rng = np.random.default_rng(1)
    keep = 0.5
    cell = cls(64, recurrent_dropout_keep=keep, seed=3, matmul_dtype="float32")
    cell.build((None, 5))
    x, h, c = _inputs(rng, b=4, h=64)
    _, (_, c_eval) = cell(x, [h, c], training=False)
    _, (_, c_train) = cell(x, [h, c], training=True)
    # Recover g from c' = c * sigmoid(f + fb) + sigmoid(i) * g.
    gates = np.concatenate([x, h], 1) @ cell.kernel.numpy()
    if cls is LSTMCell:
        gates = gates + cell.bias.numpy()
    else:
        gates = np_layer_norm(gates, cell.ln_gamma.numpy(), cell.ln_beta.numpy(), 4)
    i, j, f, _ = np.split(gates, 4, 1)
    keep_c = c * sigmoid(f + cell.forget_bias)
    g_eval = (np.asarray(c_eval) - keep_c) / sigmoid(i)
    g_train = (np.asarray(c_train) - keep_c) / sigmoid(i)
    np.testing.assert_allclose(g_eval, np.tanh(j), atol=1e-4)
    dropped = np.isclose(g_train, 0.0, atol=1e-4)
    np.testing.assert_allclose(g_train[~dropped], np.tanh(j)[~dropped] / keep, atol=1e-3)
    assert 0.3 < dropped.mean() < 0.7


def test_block_orthogonal_blocks_are_orthogonal():
    w = np.asarray(BlockOrthogonal(4, seed=1)((6, 24)))
    for k in range(4):
        block = w[:, 6 * k:6 * (k + 1)]
        np.testing.assert_allclose(block.T @ block, np.eye(6), atol=1e-5)
    fused = np.asarray(FusedLSTMKernel(5, seed=2)((11, 24)))
    limit = np.sqrt(6.0 / (5 + 24))  # Glorot uniform W_xh rows.
    assert np.all(np.abs(fused[:5]) <= limit) and fused[:5].std() > limit / 4
    for k in range(4):
        block = fused[5:, 6 * k:6 * (k + 1)]
        np.testing.assert_allclose(block.T @ block, np.eye(6), atol=1e-5)


def test_cell_kernel_init_is_fused_and_bias_zero():
    cell = LSTMCell(6)
    cell.build((None, 5))
    assert tuple(cell.kernel.shape) == (11, 24)
    np.testing.assert_array_equal(cell.bias.numpy(), 0.0)
    rec = cell.kernel.numpy()[5:, :6]
    np.testing.assert_allclose(rec.T @ rec, np.eye(6), atol=1e-5)


@pytest.mark.parametrize("cls", [LSTMCell, LayerNormLSTMCell])
def test_cell_layer_checks(cls, tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    # LSTM: [W_xh; W_hh] (3 + 5, 20) and a bias; LayerNorm LSTM: no bias, 4 norm vectors.
    weights, params = (2, 8 * 20 + 20) if cls is LSTMCell else (5, 8 * 20 + 2 * 20 + 2 * 5)
    run_layer_test(lambda: cls(5, recurrent_dropout_keep=0.9, seed=1), x, (2, 4, 5), tmp_path,
                   expected_num_trainable_weights=weights,
                   expected_num_non_trainable_weights=0)  # The dropout seed is no weight.
    cell = cls(5)
    cell.build((None, 3))
    assert sum(int(np.prod(w.shape)) for w in cell.trainable_weights) == params


def test_make_cell_kinds():
    assert isinstance(make_cell("lstm", 4), LSTMCell)
    assert isinstance(make_cell("layer_norm", 4), LayerNormLSTMCell)
    cell = make_cell("hyper", 4, hyper_num_units=3, hyper_embedding_size=2)
    assert isinstance(cell, HyperLSTMCell) and cell.state_size == [4, 3, 4, 3]
    with pytest.raises(ValueError, match="gru"):
        make_cell("gru", 4)
    with pytest.raises(ValueError, match="recurrent_dropout_keep"):
        make_cell("lstm", 4, recurrent_dropout_keep=0.0)


@pytest.mark.parametrize("cls", [LSTMCell, LayerNormLSTMCell])
def test_run_sequence_matches_cell_steps(cls):
    rng = np.random.default_rng(8)
    cell = cls(6, forget_bias=0.7, matmul_dtype="float32")  # fp32: an equation test.
    cell.build((None, 4 + 3))  # Step inputs (4) then constants (3).
    randomise(cell, rng)
    x = rng.normal(size=(5, 2, 4)).astype("float32")
    z = rng.normal(size=(2, 3)).astype("float32")
    h, c = rng.normal(size=(2, 2, 6)).astype("float32")
    out, (h_last, c_last) = cell.run_sequence(x, [h, c], constants=z)
    _, held = cell.run_sequence(x, [h, c], constants=z, lengths=[2, 5], return_sequence=False)
    states = [h, c]
    for t in range(5):
        step, states = cell(np.concatenate([x[t], z], 1), states)
        np.testing.assert_allclose(out[t], step, rtol=1e-5, atol=1e-5)
        if t == 1:
            np.testing.assert_allclose(held[1][0], states[1][0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h_last, states[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c_last, states[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(held[0][1], states[0][1], rtol=1e-5, atol=1e-5)


def test_run_sequence_dropout_mask_only_when_training():
    cell = LSTMCell(8, recurrent_dropout_keep=0.5, seed=4)
    cell.build((None, 3))
    x = np.random.default_rng(9).normal(size=(4, 2, 3)).astype("float32")
    zeros = [np.zeros((2, 8), np.float32)] * 2
    a = cell.run_sequence(x, zeros, training=True)[0]
    b = cell.run_sequence(x, zeros, training=True)[0]
    c = cell.run_sequence(x, zeros, training=False)[0]
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(c, cell.run_sequence(x, zeros)[0])
