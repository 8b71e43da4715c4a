"""Sampling: greedy reference, seeds, temperature math, stopping, completion, interpolation."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from sketch_rnn import sample as S
from sketch_rnn.configs import SketchRNNConfig
from sketch_rnn.model import SketchRNN

PAD = np.array(S.PAD_ROW, np.float32)


def make_model(conditional=True, pen_bias=(0.0, 0.0, -2.0), seed=0, dec_model="lstm"):
    config = dataclasses.replace(SketchRNNConfig.testing(), conditional=conditional,
                                 dec_model=dec_model)
    model = SketchRNN(config)
    rng = np.random.default_rng(seed)
    for w in model.trainable_weights:
        w.assign(rng.normal(scale=0.4, size=w.shape).astype("float32"))
    bias = model.head.bias.numpy()
    bias[:3] = pen_bias
    model.head.bias.assign(bias)
    return model


def greedy_reference(model, z, states, prev_x, max_len):
    """Python-loop greedy decoding: argmax Pi and q, the chosen mean, stop at p3."""
    n = prev_x.shape[0]
    out = np.tile(PAD, (n, max_len, 1))
    lengths = np.full(n, max_len, np.int32)
    for b in range(n):
        st = [s[b:b + 1] for s in states]
        x = prev_x[b:b + 1]
        zb = None if z is None else z[b:b + 1]
        for i in range(max_len):
            params, st = model.decoder_step(x, zb, st)
            k = int(np.argmax(params["pi_logits"][0]))
            pen = int(np.argmax(params["pen_logits"][0]))
            if pen == 2:
                lengths[b] = i
                break
            x = np.zeros((1, 5), np.float32)
            x[0, :2] = params["mu_x"][0, k], params["mu_y"][0, k]
            x[0, 2 + pen] = 1.0
            out[b, i] = x[0]
    return out, lengths


def check_padding(strokes, lengths):
    strokes, lengths = np.asarray(strokes), np.asarray(lengths)
    for s, n in zip(strokes, lengths):
        assert np.all(s[:n, 4] == 0)
        np.testing.assert_array_equal(s[n:], np.tile(PAD, (len(s) - n, 1)))


# Pen biases chosen so greedy sketches end at different steps (see the length asserts).
@pytest.mark.parametrize("conditional,p3_bias", [(True, -0.6), (False, 0.1)])
def test_greedy_matches_python_loop(conditional, p3_bias):
    model = make_model(conditional, pen_bias=(0.0, 0.0, p3_bias),
                       dec_model="hyper" if conditional else "layer_norm")
    n, max_len = 4, 12
    z = np.random.default_rng(1).normal(size=(n, model.config.z_size)).astype("float32")
    got, lengths = S.decode(model, z, 0.7, seed=5, max_len=max_len, greedy=True)
    zz = z if conditional else None
    states = model.initial_state(z if conditional else n)
    s0 = np.tile(np.array([0, 0, 1, 0, 0], np.float32), (n, 1))
    want, want_len = greedy_reference(model, zz, states, s0, max_len)
    np.testing.assert_array_equal(lengths, want_len)
    assert 0 < np.min(lengths) and np.min(lengths) < max_len
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # Temperature <= 1e-3 is greedy too, and the seed does not matter then.
    got2, lengths2 = S.decode(model, z, 0.0, seed=99, max_len=max_len)
    np.testing.assert_array_equal(got2, got)
    np.testing.assert_array_equal(lengths2, lengths)


def test_seeds_reproduce_and_differ():
    model = make_model()
    a, la = S.sample(model, 6, 1.0, seed=7, max_len=15)
    b, lb = S.sample(model, 6, 1.0, seed=7, max_len=15)
    c, _ = S.sample(model, 6, 1.0, seed=8, max_len=15)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert not np.array_equal(a, c)
    # A fresh Sampler (new trace) gives the same numbers.
    fresh = S.Sampler(model).sample(tf.constant(6), tf.fill([6], 1.0),
                                    tf.constant(7, tf.int64), tf.constant(15), tf.constant(False))
    np.testing.assert_array_equal(fresh[0], a)
    # The prior z comes from the seed too.
    np.testing.assert_array_equal(S.prior_z(6, 4, 7), S.prior_z(6, 4, 7))


def test_per_sketch_temperatures():
    model = make_model()
    z = np.random.default_rng(2).normal(size=(3, 4)).astype("float32")
    mixed, _ = S.decode(model, z, [0.0, 1.0, 0.0], seed=1, max_len=10)
    greedy, _ = S.decode(model, z, 0.0, seed=1, max_len=10)
    np.testing.assert_array_equal(mixed[0], greedy[0])
    np.testing.assert_array_equal(mixed[2], greedy[2])


def test_temperature_scaling_math():
    rng = np.random.default_rng(3)
    params = {k: rng.normal(size=(4, 3)).astype("float32")
              for k in ("pi_logits", "log_sigma_x", "log_sigma_y")}
    params["pen_logits"] = rng.normal(size=(4, 3)).astype("float32")
    tau = np.array([0.1, 0.5, 0.9, 1.0], np.float32)
    pi, pen, sx, sy = S.scale_params(params, tau)

    def softmax(x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    np.testing.assert_allclose(tf.nn.softmax(pi), softmax(params["pi_logits"] / tau[:, None]),
                               rtol=1e-5)
    np.testing.assert_allclose(tf.nn.softmax(pen), softmax(params["pen_logits"] / tau[:, None]),
                               rtol=1e-5)
    # sigma^2 -> sigma^2 tau.
    np.testing.assert_allclose(np.square(sx), np.exp(2 * params["log_sigma_x"]) * tau[:, None],
                               rtol=1e-5)
    np.testing.assert_allclose(np.square(sy), np.exp(2 * params["log_sigma_y"]) * tau[:, None],
                               rtol=1e-5)


def test_draw_point_gaussian_matches_numpy():
    n, tau, seed, step = 5, 0.4, 11, 3
    rng = np.random.default_rng(4)
    params = {"pi_logits": np.zeros((n, 1), np.float32),
              "pen_logits": np.array([[0.0, -50.0, -50.0]] * n, np.float32)}
    for k in ("mu_x", "mu_y", "log_sigma_x", "log_sigma_y"):
        params[k] = rng.normal(size=(n, 1)).astype("float32")
    params["rho"] = np.full((n, 1), 0.6, np.float32)
    point, pen = S.draw_point(params, tf.fill([n], tau), tf.zeros([n], tf.bool),
                              tf.constant(seed, tf.int64), tf.constant(step))
    e = tf.random.stateless_normal([n, 2], seed=[seed, 3 * step + 3]).numpy()
    sx = np.exp(params["log_sigma_x"][:, 0]) * np.sqrt(tau)
    sy = np.exp(params["log_sigma_y"][:, 0]) * np.sqrt(tau)
    dx = params["mu_x"][:, 0] + sx * e[:, 0]
    dy = params["mu_y"][:, 0] + sy * (0.6 * e[:, 0] + np.sqrt(1 - 0.36) * e[:, 1])
    np.testing.assert_allclose(point[:, 0], dx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(point[:, 1], dy, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(pen, 0)
    np.testing.assert_array_equal(point[:, 2:], np.tile([1, 0, 0], (n, 1)))


def test_stops_at_p3_and_stays_ended():
    ended = make_model(pen_bias=(-20.0, -20.0, 20.0))
    strokes, lengths = S.sample(ended, 3, 0.8, seed=0, max_len=9)
    np.testing.assert_array_equal(lengths, 0)
    check_padding(strokes, lengths)
    never = make_model(pen_bias=(20.0, -20.0, -20.0))
    strokes, lengths = S.sample(never, 3, 0.8, seed=0, max_len=9)
    np.testing.assert_array_equal(lengths, 9)
    assert strokes.shape == (3, 9, 5)
    # Random ends: rows from each end on are padding.
    model = make_model(pen_bias=(0.0, 0.0, -1.0))
    strokes, lengths = S.sample(model, 16, 1.0, seed=2, max_len=20)
    assert len(set(np.asarray(lengths).tolist())) > 2
    check_padding(strokes, lengths)


@pytest.mark.parametrize("conditional,p3_bias", [(True, -0.2), (False, 0.5)])
def test_complete_matches_reference(conditional, p3_bias):
    model = make_model(conditional, pen_bias=(0.0, 0.0, p3_bias))
    rng = np.random.default_rng(5)
    prefix = np.zeros((3, 6, 5), np.float32)
    prefix[:, 0, 2] = 1.0
    prefix[:, 1:, :2] = rng.normal(size=(3, 5, 2))
    prefix[:, 1:, 2] = 1.0
    lengths = np.array([0, 2, 5], np.int32)
    got, got_len = S.complete(model, prefix, lengths, 0.0, seed=3, max_len=8)
    z = None
    if conditional:
        body = np.concatenate([prefix[:, 1:], np.tile(PAD, (3, 1, 1))], 1)
        z = np.asarray(model.encode(body, lengths)[0])
    want = []
    for b in range(3):
        zb = None if z is None else z[b:b + 1]
        st = model.initial_state(zb if conditional else 1)
        for i in range(lengths[b]):
            _, st = model.decoder_step(prefix[b:b + 1, i], zb, st)
        want.append(greedy_reference(model, zb, st, prefix[b:b + 1, lengths[b]], 8))
    np.testing.assert_allclose(got, np.concatenate([w[0] for w in want]), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(got_len, np.concatenate([w[1] for w in want]))
    assert len(set(np.asarray(got_len).tolist())) > 1
    with pytest.raises(ValueError, match="prefix_lengths"):
        S.complete(model, prefix, [0, 2, 6], 0.5, seed=3, max_len=8)


def test_complete_without_encoder_and_empty_prefix():
    model = make_model(conditional=False)
    s0 = np.tile(np.array([[[0, 0, 1, 0, 0]]], np.float32), (2, 1, 1))
    got, got_len = S.complete(model, s0, [0, 0], 1.0, seed=4, max_len=10)
    want, want_len = S.sample(model, 2, 1.0, seed=4, max_len=10)
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_array_equal(got_len, want_len)
    cond = make_model(conditional=True)
    a, _ = S.complete(cond, s0, [0, 0], 1.0, seed=4, max_len=10, use_encoder=False)
    b, _ = S.sample(cond, 2, 1.0, seed=4, max_len=10)  # Same prior z from the seed.
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_to_stroke3_list():
    strokes = np.zeros((2, 4, 5), np.float32)
    strokes[0, :2] = [[1, 2, 1, 0, 0], [3, 4, 0, 1, 0]]
    strokes[0, 2:] = PAD
    strokes[1] = [[1, 1, 1, 0, 0]] * 4
    out = S.to_stroke3_list(strokes, [2, 4], scale=2.0)
    np.testing.assert_array_equal(out[0], [[2, 4, 0], [6, 8, 1]])
    assert out[1].shape == (4, 3) and out[0].dtype == np.float32


def test_sizes_are_bounded_before_the_buffer_is_allocated():
    from common.errors import DataError
    model = make_model(conditional=False)
    with pytest.raises(DataError, match=r"^max_len 1000000000 is out of range \(at most 10,000\)$"):
        S.sample(model, 2, 0.5, 0, 10**9)  # Once a (1e9, 2, 5) buffer: out of memory.
    with pytest.raises(DataError, match=r"^2000 sketches x max_len 10000 = 20000000 is out of "
                                        r"range \(at most 10,000,000\)$"):
        S.sample(model, 2000, 0.5, 0, 10_000)
