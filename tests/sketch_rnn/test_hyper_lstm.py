"""HyperLSTM cell against a numpy re-implementation of magenta's equations."""

import numpy as np
import pytest
import tensorflow as tf

from sketch_rnn.hyper_lstm import HyperLSTMCell
from sketch_rnn.recurrence import project_inputs
from tests.support.layers import run_layer_test
from tests.support.np_cells import np_layer_norm, np_ln_lstm_step, np_lstm_step, sigmoid


def np_hyper_norm(hyper_out, layer, zw_w, zw_b, alpha_w, zb_w=None, beta_w=None):
    """magenta HyperLSTMCell.hyper_norm for one gate block."""
    result = ((hyper_out @ zw_w + zw_b) @ alpha_w) * layer
    if zb_w is not None:
        result = result + (hyper_out @ zb_w) @ beta_w
    return result


def np_hyper_step(cell, x, states):
    h, h_hyper, c, c_hyper = states
    ref = np_ln_lstm_step if cell.use_layer_norm else np_lstm_step
    hyper_out, new_c_hyper = ref(cell.hyper_cell, np.concatenate([x, h], 1), h_hyper, c_hyper)
    w = {v.name: v.numpy() for v in cell.weights if v.path.startswith(cell.name + "/")
         and "hyper_cell" not in v.path}
    xh = np.split(x @ w["kernel"], 4, 1)
    hh = np.split(h @ w["recurrent_kernel"], 4, 1)
    b = np.split(w["bias"], 4)
    gates = []
    for k in range(4):
        gx = np_hyper_norm(hyper_out, xh[k], w["zw_kernel"][:, k], w["zw_bias"][k],
                           w["alpha_kernel"][k])
        gh = np_hyper_norm(hyper_out, hh[k], w["zw_kernel"][:, 4 + k], w["zw_bias"][4 + k],
                           w["alpha_kernel"][4 + k], w["zb_kernel"][:, k], w["beta_kernel"][k])
        gates.append(gx + gh + b[k])
    gates = np.concatenate(gates, 1)
    if cell.use_layer_norm:
        gates = np_layer_norm(gates, w["ln_gamma"], w["ln_beta"], 4)
    i, j, f, o = np.split(gates, 4, 1)
    new_c = c * sigmoid(f + cell.forget_bias) + sigmoid(i) * np.tanh(j)
    new_h = np.tanh(np_layer_norm(new_c, w["ln_c_gamma"], w["ln_c_beta"], 1)) * sigmoid(o)
    return new_h, [new_h, hyper_out, new_c, new_c_hyper]


@pytest.mark.parametrize("use_layer_norm", [True, False])
def test_hyper_step_matches_numpy(use_layer_norm):
    rng = np.random.default_rng(0)
    cell = HyperLSTMCell(6, hyper_num_units=5, hyper_embedding_size=3, forget_bias=0.8,
                         use_layer_norm=use_layer_norm, matmul_dtype="float32")
    cell.build((None, 4))
    for v in cell.weights:
        v.assign(rng.normal(scale=0.5, size=v.shape).astype("float32"))
    x = rng.normal(size=(3, 4)).astype("float32")
    states = [rng.normal(size=(3, n)).astype("float32") for n in cell.state_size]
    out, new_states = cell(x, states, training=False)
    want_out, want_states = np_hyper_step(cell, x, states)
    np.testing.assert_allclose(out, want_out, rtol=1e-4, atol=1e-5)
    for got, want in zip(new_states, want_states):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_hyper_initialisation_as_magenta():
    cell = HyperLSTMCell(6, hyper_num_units=5, hyper_embedding_size=4)
    cell.build((None, 3))
    assert cell.state_size == [6, 5, 6, 5] and cell.output_size == 6
    np.testing.assert_array_equal(cell.zw_kernel.numpy(), 0.0)
    np.testing.assert_array_equal(cell.zw_bias.numpy(), 1.0)
    np.testing.assert_allclose(cell.alpha_kernel.numpy(), 0.1 / 4)
    np.testing.assert_array_equal(cell.beta_kernel.numpy(), 0.0)
    np.testing.assert_array_equal(cell.bias.numpy(), 0.0)


def test_hyper_layer_checks(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    # W_xh, W_hh, b, Zw, bw, A, Zb, Bt and 4 layer-norm vectors; the hyper cell is a
    # LayerNorm LSTM (its kernel and 4 norm vectors).
    run_layer_test(lambda: HyperLSTMCell(5, hyper_num_units=4, hyper_embedding_size=2,
                                         recurrent_dropout_keep=0.9, seed=2),
                   x, (2, 4, 5), tmp_path, expected_num_trainable_weights=12 + 5,
                   expected_num_non_trainable_weights=0)


def _randomised_cell(use_layer_norm, units=5, hyper=4, embed=3, x_size=3):
    """A built cell whose zero- and one-initialised weights are made random (nonzero grads)."""
    cell = HyperLSTMCell(units, hyper_num_units=hyper, hyper_embedding_size=embed,
                         use_layer_norm=use_layer_norm, recurrent_dropout_keep=0.8, seed=3,
                         matmul_dtype="float32")
    cell.build((None, x_size))
    rng = np.random.default_rng(1)
    for v in cell.weights:
        v.assign(v.numpy() + 0.3 * rng.normal(size=v.shape).astype("float32"))
    return cell


def _reference_sequence(cell, x, states, keep, hyper_keep, lengths):
    """Step-by-step run of cell._step (plain autodiff), with the same final-state rule."""
    xh = project_inputs(x, tf.convert_to_tensor(cell.kernel))  # (T, B, 4H)
    hyper_xp = project_inputs(x, tf.convert_to_tensor(cell.hyper_cell.kernel),
                              cell._hyper_bias())  # (T, B, 4Nh)
    outs, finals = [], list(states)
    for t in range(x.shape[0]):
        _, states = cell._step(xh[t], hyper_xp[t], states,
                               None if keep is None else keep[t],
                               None if hyper_keep is None else hyper_keep[t])
        outs.append(states[0])
        finals = [tf.where((np.asarray(lengths) - 1 == t)[:, None], s, f)
                  for s, f in zip(states, finals)]
    return tf.stack(outs), finals


@pytest.mark.parametrize("use_layer_norm", [True, False])
@pytest.mark.parametrize("mode", ["eager", "xla"])
def test_run_sequence_gradients_match_autodiff(use_layer_norm, mode, monkeypatch):
    """The step-checkpointed backward pass against autodiff through every step, with
    dropout, per-sequence lengths (one empty) and both outputs used."""
    cell = _randomised_cell(use_layer_norm)
    rng = np.random.default_rng(0)
    t, b = 6, 3
    x = tf.constant(rng.normal(size=(t, b, 3)).astype("float32"))
    states = [tf.constant(rng.normal(size=(b, n)).astype("float32")) for n in cell.state_size]
    keep = tf.constant((rng.random((t, b, 5)) < 0.8) / 0.8, tf.float32)
    hyper_keep = None
    monkeypatch.setattr(cell, "_keep_masks", lambda shape, training: (keep, hyper_keep))
    lengths = [6, 2, 0]
    w_out = tf.constant(rng.normal(size=(t, b, 5)).astype("float32"))
    w_fin = [tf.constant(rng.normal(size=s.shape).astype("float32")) for s in states]
    variables = cell.trainable_variables

    def loss_of(outs, finals):
        return tf.reduce_sum(outs * w_out) + sum(tf.reduce_sum(f * w) for f, w in zip(finals, w_fin))

    def ours(x, states):
        with tf.GradientTape() as tape:
            tape.watch([x] + states)
            outs, finals = cell.run_sequence(x, states, training=True, lengths=lengths)
            loss = loss_of(outs, finals)
        return [loss] + tape.gradient(loss, [x] + states + variables)

    if mode == "xla":
        ours = tf.function(ours, jit_compile=True)
    got = ours(x, states)
    with tf.GradientTape() as tape:
        tape.watch([x] + states)
        loss = loss_of(*_reference_sequence(cell, x, states, keep, hyper_keep, lengths))
    want = [loss] + tape.gradient(loss, [x] + states + variables)
    names = ["loss", "x"] + [f"state{i}" for i in range(4)] + [v.path for v in variables]
    assert len(got) == len(want)
    for name, g, w in zip(names, got, want):
        w = np.zeros_like(g) if w is None else np.asarray(w)
        np.testing.assert_allclose(np.asarray(g), w, rtol=2e-4, atol=2e-5, err_msg=name)
    assert np.abs(np.asarray(got[1])).max() > 0  # x and the initial states get gradients.
