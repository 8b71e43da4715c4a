"""SketchRNN model: shapes, encoder masking, decoder consistency, save/reload, XLA, replicas."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import keras

from sketch_rnn import losses
from sketch_rnn.configs import SketchRNNConfig, get_config
from sketch_rnn.model import SketchRNN
from tests.support.models import make_batch


def tiny(**changes):
    return dataclasses.replace(SketchRNNConfig.testing(), **changes)


def n_lstm(x, h):
    return (x + h) * 4 * h + 4 * h


def n_ln(x, h):
    return (x + h) * 4 * h + 10 * h


def n_hyper(x, h, nh, e):
    return (x * 4 * h + h * 4 * h + 4 * h + n_ln(x + h, nh) + nh * 8 * e + 8 * e + 8 * e * h
            + nh * 4 * e + 4 * e * h + 8 * h + 2 * h)


def expected_params(c):
    def cell(kind, x, h):
        return {"lstm": lambda: n_lstm(x, h), "layer_norm": lambda: n_ln(x, h),
                "hyper": lambda: n_hyper(x, h, c.hyper_num_units, c.hyper_embedding_size)}[kind]()

    n_state = 2 * c.dec_rnn_size + (2 * c.hyper_num_units if c.dec_model == "hyper" else 0)
    total = c.dec_rnn_size * (6 * c.num_mixture + 3) + 6 * c.num_mixture + 3
    if not c.conditional:
        return total + cell(c.dec_model, 5, c.dec_rnn_size)
    total += cell(c.dec_model, 5 + c.z_size, c.dec_rnn_size)
    total += 2 * cell(c.enc_model, 5, c.enc_rnn_size)
    total += 2 * (2 * c.enc_rnn_size * c.z_size + c.z_size)
    return total + c.z_size * n_state + n_state


@pytest.mark.parametrize("name,count", [("testing", 3213), ("default", 2_186_107),
                                        ("layer_norm", 2_192_251), ("paper", 26_697_851)])
def test_parameter_count_pinned(name, count):
    config = get_config(name)
    model = SketchRNN(config)
    got = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert got == count == expected_params(config)


@pytest.mark.parametrize("kind", ["lstm", "layer_norm", "hyper"])
@pytest.mark.parametrize("conditional", [True, False])
def test_call_shapes_and_param_count(kind, conditional):
    config = tiny(enc_model=kind, dec_model=kind, conditional=conditional)
    model = SketchRNN(config)
    out = model(make_batch(config, [3, 32, 1, 10]), training=True)
    t, m = config.max_seq_len, config.num_mixture
    for key in ("pi_logits", "mu_x", "mu_y", "log_sigma_x", "log_sigma_y", "rho"):
        assert tuple(out[key].shape) == (4, t, m)
    assert tuple(out["pen_logits"].shape) == (4, t, 3)
    assert np.all(np.abs(out["rho"]) <= 1.0)
    if conditional:
        for key in ("mu", "presig", "z"):
            assert tuple(out[key].shape) == (4, config.z_size)
    else:
        assert "z" not in out
    got = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert got == expected_params(config)


@pytest.mark.parametrize("kind", ["lstm", "hyper"])
def test_encoder_reads_only_real_points(kind):
    config = tiny(enc_model=kind)
    model = SketchRNN(config)
    for w in model.trainable_weights:  # Large weights so any leak shows.
        w.assign(np.random.default_rng(1).normal(size=w.shape).astype("float32") * 0.3)
    batch = make_batch(config, [5, 9])
    body = batch["strokes"][:, 1:]
    mu, presig = model.encode(body, batch["lengths"])
    garbage = body.copy()
    garbage[0, 5:] = 7.0
    garbage[1, 9:] = -3.0
    mu2, presig2 = model.encode(garbage, batch["lengths"])
    np.testing.assert_allclose(mu, mu2, atol=1e-6)
    np.testing.assert_allclose(presig, presig2, atol=1e-6)
    # The same as encoding the truncated sequence alone: backward starts at the real end.
    mu3, _ = model.encode(body[:1, :5], batch["lengths"][:1])
    np.testing.assert_allclose(mu[:1], mu3, atol=1e-5)


def test_z_is_mean_when_not_training_and_sampled_when_training():
    config = tiny()
    model = SketchRNN(config)
    batch = make_batch(config, [4, 6])
    out = model(batch, training=False)
    np.testing.assert_allclose(out["z"], out["mu"])
    out = model(batch, training=True)
    assert not np.allclose(out["z"], out["mu"])


@pytest.mark.parametrize("kind,conditional", [("lstm", True), ("hyper", True),
                                              ("layer_norm", False)])
def test_decode_sequence_matches_decoder_steps(kind, conditional):
    config = tiny(dec_model=kind, conditional=conditional)
    model = SketchRNN(config)
    batch = make_batch(config, [7, 12])
    x = batch["strokes"][:, :8]
    z = np.random.default_rng(2).normal(size=(2, config.z_size)).astype("float32")
    z = z if conditional else None
    params, final = model.decode_sequence(x, z)
    states = model.initial_state(z if conditional else 2)
    assert len(states) == len(model.dec_cell.state_size)
    for t in range(8):
        step, states = model.decoder_step(x[:, t], z, states)
        for key, value in step.items():
            np.testing.assert_allclose(value, params[key][:, t], rtol=1e-4, atol=1e-5)
    for a, b in zip(states, final):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # With lengths the final state is held after each sequence's last real step.
    _, held = model.decode_sequence(x, z, lengths=np.array([3, 8], np.int32))
    _, short = model.decode_sequence(x[:1, :3], None if z is None else z[:1])
    for a, b in zip(held, short):
        np.testing.assert_allclose(a[:1], b, rtol=1e-4, atol=1e-5)


def test_initial_state_covers_all_hyper_parts():
    config = tiny(dec_model="hyper")
    model = SketchRNN(config)
    for w in model.init_state.weights:
        w.assign(np.ones(w.shape, np.float32))
    states = model.initial_state(np.ones((3, config.z_size), np.float32))
    assert [tuple(s.shape) for s in states] == [(3, 16), (3, 8), (3, 16), (3, 8)]
    for s in states:
        assert np.all(np.asarray(s) > 0.9)  # tanh(Dense(z)) everywhere, no zero part.
    with pytest.raises(ValueError, match="needs z"):
        model.initial_state(3)
    uncond = SketchRNN(tiny(dec_model="hyper", conditional=False))
    assert all(np.all(np.asarray(s) == 0) for s in uncond.initial_state(2))
    with pytest.raises(ValueError, match="conditional"):
        uncond.encode(np.zeros((1, 4, 5), np.float32), np.array([2]))


def test_config_round_trip_and_keras_save(tmp_path):
    config = tiny(enc_model="hyper", dec_model="layer_norm")
    model = SketchRNN(config)
    assert model.get_config()["config"] == config.to_dict()
    clone = SketchRNN.from_config(model.get_config())
    assert clone.config == config
    model2 = SketchRNN(model.get_config()["config"])  # A plain dict works too.
    assert model2.config == config
    batch = make_batch(config, [5, 20])
    want = model(batch)
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, SketchRNN) and reloaded.config == config
    got = reloaded(batch)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6)


def _train_step_fn(model, optimizer, config, jit_compile):
    @tf.function(jit_compile=jit_compile)
    def step(batch, step):
        with tf.GradientTape() as tape:
            out = model(batch, training=True)
            terms = losses.compute_losses(out, batch, step, config)
        grads = tape.gradient(terms["loss"], model.trainable_variables)
        grads = [tf.clip_by_value(g, -config.grad_clip, config.grad_clip) for g in grads]
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return terms
    return step


@pytest.mark.parametrize("kind", ["lstm", pytest.param("hyper", marks=pytest.mark.slow)])
def test_train_step_compiles_with_xla(kind):
    config = tiny(enc_model=kind, dec_model=kind, max_seq_len=12)
    model = SketchRNN(config)
    optimizer = keras.optimizers.Adam(1e-2)
    optimizer.build(model.trainable_variables)
    step = _train_step_fn(model, optimizer, config, jit_compile=True)
    batch = {k: tf.constant(v) for k, v in make_batch(config, [3, 12, 7, 1]).items()}
    before = [w.numpy() for w in model.trainable_weights]
    terms = step(batch, tf.constant(0))
    terms2 = step(batch, tf.constant(1))
    for t in (terms, terms2):
        assert all(np.isfinite(v.numpy()) for v in t.values())
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(before, model.trainable_weights))


def test_unknown_batch_size():
    config = tiny(max_seq_len=10)
    model = SketchRNN(config)
    spec = {"strokes": tf.TensorSpec([None, 11, 5], tf.float32),
            "lengths": tf.TensorSpec([None], tf.int32)}

    @tf.function(input_signature=[spec])
    def loss_and_grads(batch):
        with tf.GradientTape() as tape:
            terms = losses.compute_losses(model(batch, training=True), batch, 0, config)
        return terms["loss"], tape.gradient(terms["loss"], model.trainable_variables)

    for lengths in ([3, 10, 5], [1]):
        loss, grads = loss_and_grads(make_batch(config, lengths))
        assert np.isfinite(loss.numpy()) and all(np.all(np.isfinite(g)) for g in grads)
    assert loss_and_grads.experimental_get_tracing_count() == 1


def test_replica_context():
    config = tiny(max_seq_len=10)
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    strategy = tf.distribute.MirroredStrategy(devices)
    with strategy.scope():
        model = SketchRNN(config)

    @tf.function
    def replica_losses(batch):
        def fn(b):
            with tf.GradientTape() as tape:
                terms = losses.compute_losses(model(b, training=True), b, 0, config)
            grads = tape.gradient(terms["loss"], model.trainable_variables)
            return terms["loss"], tf.add_n([tf.reduce_sum(g) for g in grads])
        return strategy.run(fn, args=(batch,))

    batch = make_batch(config, [3, 10, 5, 2])
    per = 4 // len(devices)
    dist = strategy.experimental_distribute_values_from_function(
        lambda ctx: {k: tf.constant(v[ctx.replica_id_in_sync_group * per:][:per])
                     for k, v in batch.items()})
    loss, grad_sum = replica_losses(dist)
    values = (strategy.experimental_local_results(loss)
              + strategy.experimental_local_results(grad_sum))
    assert len(values) == 2 * len(devices)
    assert all(np.isfinite(v.numpy()) for v in values)


def test_recurrent_dropout_only_when_training():
    config = tiny(conditional=False, recurrent_dropout_prob=0.5)
    model = SketchRNN(config)
    batch = make_batch(config, [6, 9])
    a, b = model(batch, training=True), model(batch, training=True)
    assert not np.allclose(a["mu_x"], b["mu_x"])
    c, d = model(batch), model(batch)
    np.testing.assert_array_equal(c["mu_x"], d["mu_x"])
    off = SketchRNN(dataclasses.replace(config, use_recurrent_dropout=False))
    off.set_weights(model.get_weights())
    np.testing.assert_allclose(off(batch, training=True)["mu_x"], c["mu_x"], atol=1e-6)


@pytest.mark.parametrize("kind,conditional", [("lstm", True), ("layer_norm", False),
                                              ("hyper", True)])
def test_decoder_stepper_matches_decoder_step(kind, conditional):
    config = tiny(dec_model=kind, conditional=conditional)
    model = SketchRNN(config)
    rng = np.random.default_rng(3)
    for w in model.trainable_weights:
        w.assign(rng.normal(scale=0.3, size=w.shape).astype("float32"))
    z = rng.normal(size=(2, config.z_size)).astype("float32") if conditional else None
    states = model.initial_state(z if conditional else 2)
    step = model.decoder_stepper(z, 2)
    fast_states = list(states)
    for t in range(3):
        x = rng.normal(size=(2, 5)).astype("float32")
        want, states = model.decoder_step(x, z, states)
        got, fast_states = step(x, fast_states)
        for key in want:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-5)
    for a, b in zip(fast_states, states):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
