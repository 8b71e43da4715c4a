"""Batched, seeded sampling from Sketch RNN with temperature, completion and latent interpolation."""

import weakref

import numpy as np
import tensorflow as tf

from common import limits

GREEDY_TEMPERATURE = 1e-3  # At or below this temperature the sampler decodes greedily.
PAD_ROW = (0.0, 0.0, 0.0, 0.0, 1.0)  # stroke-5 row after the end of a sketch.
# The discrete temperature divides the mixture and pen logits: "paper" (= tau, eqs. 11-14,
# the default) or "web" (0.5 + 0.5 tau, @magenta/sketch's getPDF default), or a number > 0.
DISCRETE_TEMPERATURES = ("paper", "web")


def _key(seed, counter):
    """Stateless seed pair (seed, counter), int64 (2,)."""
    return tf.stack([tf.cast(seed, tf.int64), tf.cast(counter, tf.int64)])


def prior_z(n, z_size, seed):
    """z ~ N(0, I) of shape (n, z_size) from the stateless stream (seed, 0)."""
    return tf.random.stateless_normal(tf.stack([n, z_size]), seed=_key(seed, 0))


def parse_discrete_temperature(value):
    """A discrete-temperature setting: "paper", "web" or a finite number > 0 (or its text).

    Returns:
        "paper", "web" or a float.

    Raises:
        ValueError: one line naming the bad value.
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text in DISCRETE_TEMPERATURES:
            return text
        try:
            number = float(text)
        except ValueError:
            number = None
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        number = float(value)
    else:
        number = None
    if number is None or not np.isfinite(number) or not number > 0:
        raise ValueError(f"discrete_temperature={value!r:.40}: use 'paper' (= temperature), "
                         "'web' (0.5 + 0.5 x temperature) or a finite number > 0")
    return number


def resolve_discrete_temperature(setting, temperature):
    """The temperature dividing the mixture and pen logits, per sketch (numpy, float32).

    Args:
        setting: "paper" (= tau, eqs. 11-14), "web" (0.5 + 0.5 tau, as @magenta/sketch's
            getPDF), or a number > 0 (used as is); text as parse_discrete_temperature.
        temperature: scalar or (n,) tau.

    Returns:
        float32 array of temperature's shape.
    """
    setting = parse_discrete_temperature(setting)
    tau = np.asarray(temperature, np.float64)
    if setting == "paper":
        out = tau
    elif setting == "web":
        out = 0.5 + 0.5 * tau
    else:
        out = np.full(tau.shape, setting)
    return out.astype(np.float32)


def scale_params(params, temperature, discrete_temperature=None):
    """Temperature per eqs. 11-14: Pi and q from softmax(logits / tau_d), sigma -> sigma sqrt(tau).

    Args:
        params: one step's params (pi_logits (n, M), log_sigma_x/y (n, M), pen_logits (n, 3)).
        temperature: (n,) temperatures tau > 0.
        discrete_temperature: (n,) tau_d > 0 for the mixture and pen softmaxes; None = tau
            (the paper's).

    Returns:
        (pi_logits / tau_d, pen_logits / tau_d, sigma_x sqrt(tau), sigma_y sqrt(tau)).
    """
    tau = tf.cast(temperature, tf.float32)[:, None]  # (n, 1)
    tau_d = tau if discrete_temperature is None else tf.cast(discrete_temperature,
                                                            tf.float32)[:, None]
    pi = tf.cast(params["pi_logits"], tf.float32) / tau_d
    pen = tf.cast(params["pen_logits"], tf.float32) / tau_d
    sigma_x = tf.exp(tf.cast(params["log_sigma_x"], tf.float32)) * tf.sqrt(tau)
    sigma_y = tf.exp(tf.cast(params["log_sigma_y"], tf.float32)) * tf.sqrt(tau)
    return pi, pen, sigma_x, sigma_y


def categorical(logits, seed):
    """One index per row drawn from softmax(logits) (Gumbel-max on stateless uniforms).

    Args:
        logits: (n, K) float32.
        seed: int64 (2,) stateless seed.

    Returns:
        (n,) int32. (tf.random.stateless_categorical has no XLA kernel for int64 seeds.)
    """
    u = tf.random.stateless_uniform(tf.shape(logits), seed=seed,
                                    minval=np.finfo(np.float32).tiny, maxval=1.0)
    return tf.argmax(logits - tf.math.log(-tf.math.log(u)), axis=-1, output_type=tf.int32)


def draw_point(params, temperature, greedy, seed, step, discrete_temperature=None):
    """Samples one stroke-5 point per sketch from one step's params.

    Args:
        params: one decoder step's params dict ((n, M) / (n, 3)).
        temperature: (n,) float32.
        greedy: (n,) bool; greedy rows take argmax of Pi and q and the mixture mean.
        seed: int64 scalar; step: int32 scalar (the streams are (seed, 3 step + 1..3)).
        discrete_temperature: (n,) float32 for the mixture and pen softmaxes; None = tau.

    Returns:
        (point (n, 5) float32, pen index (n,) int32).
    """
    safe_tau = tf.maximum(temperature, GREEDY_TEMPERATURE)
    safe_d = None if discrete_temperature is None else tf.maximum(
        tf.cast(discrete_temperature, tf.float32), GREEDY_TEMPERATURE)
    pi, pen, sigma_x, sigma_y = scale_params(params, safe_tau, safe_d)
    counter = 3 * tf.cast(step, tf.int64)
    idx = tf.where(greedy, tf.argmax(pi, axis=-1, output_type=tf.int32),
                   categorical(pi, _key(seed, counter + 1)))  # (n,)
    pen_idx = tf.where(greedy, tf.argmax(pen, axis=-1, output_type=tf.int32),
                       categorical(pen, _key(seed, counter + 2)))  # (n,)

    def pick(v):
        return tf.gather(tf.cast(v, tf.float32), idx[:, None], batch_dims=1)[:, 0]  # (n,)

    mu_x, mu_y, rho = pick(params["mu_x"]), pick(params["mu_y"]), pick(params["rho"])
    sx, sy = pick(sigma_x), pick(sigma_y)
    eps = tf.random.stateless_normal(tf.stack([tf.shape(idx)[0], 2]),
                                     seed=_key(seed, counter + 3))  # (n, 2)
    e1, e2 = eps[:, 0], eps[:, 1]
    dx = mu_x + sx * e1
    dy = mu_y + sy * (rho * e1 + tf.sqrt(tf.maximum(1.0 - tf.square(rho), 0.0)) * e2)
    dx = tf.where(greedy, mu_x, dx)
    dy = tf.where(greedy, mu_y, dy)
    pen_one_hot = tf.one_hot(pen_idx, 3, dtype=tf.float32)  # (n, 3)
    return tf.concat([tf.stack([dx, dy], axis=-1), pen_one_hot], axis=-1), pen_idx


def _sample_loop(model, z, states, prev_x, temperature, greedy, seed, max_len,
                 discrete_temperature=None):
    """The batched autoregressive loop: one tf.while_loop, all sampling on device.

    z's input projection is hoisted out of the loop (model.decoder_stepper) and the rows
    go into a preallocated (max_len, n, 5) buffer, so the loop compiles under XLA.

    Returns:
        (strokes5 (n, max_len, 5) padded with (0, 0, 0, 0, 1) after each end, lengths (n,)).
    """
    n = tf.shape(prev_x)[0]
    pad = tf.constant(PAD_ROW, tf.float32)
    step = model.decoder_stepper(z, n)

    def cond(i, prev_x, states, finished, lengths, rows):
        return tf.logical_and(i < max_len, tf.logical_not(tf.reduce_all(finished)))

    def body(i, prev_x, states, finished, lengths, rows):
        params, new_states = step(prev_x, states)
        point, pen_idx = draw_point(params, temperature, greedy, seed, i, discrete_temperature)
        ended = tf.equal(pen_idx, 2)
        lengths = tf.where(tf.logical_and(ended, tf.logical_not(finished)), i, lengths)
        finished = tf.logical_or(finished, ended)
        row = tf.where(finished[:, None], pad[None, :], point)  # (n, 5)
        rows = tf.tensor_scatter_nd_update(rows, i[None, None], row[None])  # (max_len, n, 5)
        new_states = [tf.cast(s, old.dtype) for s, old in zip(new_states, states)]
        return i + 1, point, new_states, finished, lengths, rows

    rows = tf.tile(pad[None, None, :], tf.stack([max_len, n, 1]))  # (max_len, n, 5)
    loop_vars = (tf.constant(0, tf.int32), tf.cast(prev_x, tf.float32), list(states),
                 tf.zeros([n], tf.bool), tf.fill([n], max_len), rows)
    _, _, _, _, lengths, rows = tf.while_loop(cond, body, loop_vars)
    return tf.transpose(rows, [1, 0, 2]), lengths  # (n, max_len, 5)


class Sampler(tf.Module):
    """tf.function sampling entry points for one SketchRNN (exportable in a SavedModel).

    All randomness comes from stateless ops keyed by (seed, counter), so a seed gives the
    same samples in any process. Arguments are tensors: n / max_len int32 scalars, seed
    int64 scalar, temperature float32 (n,), greedy bool scalar, discrete_temperature None (=
    temperature) or float32 (n,); use_encoder is a Python bool. Greedy rows ignore both
    temperatures.

    Args:
        model: a SketchRNN.
        keep_model: hold (and track, for export) a strong reference to the model; the
            internal cache of get_sampler() holds only a weak one.
        jit_compile: XLA-compile the sampling functions.
    """

    def __init__(self, model, keep_model=True, jit_compile=True):
        super().__init__(name="sketch_rnn_sampler")
        self._model_ref = weakref.ref(model)
        if keep_model:
            self.model = model
        # XLA-compiled (one fused while loop); n and max_len are compile-time constants,
        # so each new value compiles once.
        self.sample = tf.function(self._sample, reduce_retracing=True, jit_compile=jit_compile)
        self.decode = tf.function(self._decode, reduce_retracing=True, jit_compile=jit_compile)
        self.complete = tf.function(self._complete, reduce_retracing=True,
                                    jit_compile=jit_compile)

    def _start(self, n):
        s0 = tf.constant([0.0, 0.0, 1.0, 0.0, 0.0], tf.float32)
        return tf.tile(s0[None, :], tf.stack([n, 1]))  # (n, 5)

    def _greedy(self, temperature, greedy):
        return tf.logical_or(tf.cast(greedy, tf.bool), temperature <= GREEDY_TEMPERATURE)

    def _sample(self, n, temperature, seed, max_len, greedy, discrete_temperature=None):
        model = self._model_ref()
        z = prior_z(n, model.config.z_size, seed) if model.config.conditional else None
        states = model.initial_state(z if z is not None else n)
        return _sample_loop(model, z, states, self._start(n), temperature,
                            self._greedy(temperature, greedy), seed, max_len,
                            discrete_temperature)

    def _decode(self, z, temperature, seed, max_len, greedy, discrete_temperature=None):
        model = self._model_ref()
        n = tf.shape(z)[0]
        z = tf.cast(z, tf.float32) if model.config.conditional else None
        states = model.initial_state(z if z is not None else n)
        return _sample_loop(model, z, states, self._start(n), temperature,
                            self._greedy(temperature, greedy), seed, max_len,
                            discrete_temperature)

    def _complete(self, prefix5, prefix_lengths, temperature, seed, max_len, greedy,
                  use_encoder=True, discrete_temperature=None):
        model = self._model_ref()
        prefix5 = tf.cast(prefix5, tf.float32)
        prefix_lengths = tf.cast(prefix_lengths, tf.int32)
        n = tf.shape(prefix5)[0]
        z = None
        if model.config.conditional:
            if use_encoder:
                # One extra padding row so an empty prefix still gives a non-empty sequence.
                pad = tf.tile(tf.constant(PAD_ROW)[None, None, :], tf.stack([n, 1, 1]))
                body = tf.concat([prefix5[:, 1:], pad], axis=1)  # (n, P, 5)
                z, _ = model.encode(body, prefix_lengths)
            else:
                z = prior_z(n, model.config.z_size, seed)
        states = model.initial_state(z if z is not None else n)
        # Feed S_0..S_{L-1}; S_L becomes the first input of the sampling loop.
        _, states = model.decode_sequence(prefix5, z, states, lengths=prefix_lengths)
        prev_x = tf.gather(prefix5, prefix_lengths[:, None], batch_dims=1)[:, 0]  # (n, 5)
        return _sample_loop(model, z, states, prev_x, temperature,
                            self._greedy(temperature, greedy), seed, max_len,
                            discrete_temperature)


_SAMPLERS = weakref.WeakKeyDictionary()


def get_sampler(model):
    """The cached Sampler of `model` (built once, so tf.function traces are reused)."""
    sampler = _SAMPLERS.get(model)
    if sampler is None:
        sampler = _SAMPLERS[model] = Sampler(model, keep_model=False)
    return sampler


def _discrete(discrete_temperature, temps):
    """None for the paper's setting (the sampler then divides by tau itself), else (n,) values."""
    if parse_discrete_temperature(discrete_temperature) == "paper":
        return None
    return tf.constant(resolve_discrete_temperature(discrete_temperature, temps))


def _args(n, temperature, seed, max_len, greedy):
    if int(max_len) < 1:
        raise ValueError(f"max_len={max_len} must be >= 1")
    # The loop preallocates a (max_len, n, 5) buffer: bound it first.
    limits.check(int(max_len), limits.MAX_SEQ_LEN, "max_len")
    limits.check(int(n) * int(max_len), limits.MAX_CALL_POINTS, f"{n} sketches x max_len {max_len} =")
    temps = np.broadcast_to(np.asarray(temperature, np.float32), (int(n),))
    if np.any(temps < 0) or not np.all(np.isfinite(temps)):
        raise ValueError(f"temperature={temperature} must be finite and >= 0")
    return (tf.constant(temps), tf.constant(seed, tf.int64), tf.constant(max_len, tf.int32),
            tf.constant(bool(greedy)))


def sample(model, n, temperature, seed, max_len, z=None, greedy=False,
           discrete_temperature="paper"):
    """Samples n sketches.

    Args:
        model: a SketchRNN.
        n: number of sketches.
        temperature: scalar or (n,) tau; tau <= 1e-3 (or greedy=True) is greedy.
        seed: int; the same seed gives the same output in any process.
        max_len: maximum number of points.
        z: optional (n, N_z) latents (conditional); None -> z ~ N(0, I) from `seed`.
        greedy: argmax of Pi and q and the mixture means, for every sketch.
        discrete_temperature: divides the mixture and pen logits: "paper" (= tau, the
            default), "web" (0.5 + 0.5 tau, @magenta/sketch's default) or a number > 0.

    Returns:
        (strokes5 (n, max_len, 5) float32 without S0, padded with (0, 0, 0, 0, 1) from the
        sampled end on; lengths (n,) int32 points before the end).
    """
    if z is not None:
        return decode(model, z, temperature, seed, max_len, greedy=greedy,
                      discrete_temperature=discrete_temperature)
    temps, seed, max_len, greedy = _args(n, temperature, seed, max_len, greedy)
    return get_sampler(model).sample(tf.constant(n, tf.int32), temps, seed, max_len, greedy,
                                     _discrete(discrete_temperature, temps))


def decode(model, z, temperature, seed, max_len, greedy=False, discrete_temperature="paper"):
    """Decodes latents z (n, N_z) into sketches; returns like sample()."""
    z = tf.convert_to_tensor(z, tf.float32)
    temps, seed, max_len, greedy = _args(z.shape[0], temperature, seed, max_len, greedy)
    return get_sampler(model).decode(z, temps, seed, max_len, greedy,
                                     _discrete(discrete_temperature, temps))


def complete(model, prefix5, prefix_lengths, temperature, seed, max_len, use_encoder=True,
             greedy=False, discrete_temperature="paper"):
    """Continues partial drawings.

    The prefix runs through the decoder from its initial state; z is encode(prefix)'s mean
    when the model is conditional and use_encoder, else z ~ N(0, I) from `seed` (a
    conditional model with use_encoder=False); unconditional models use no z.

    Args:
        prefix5: (B, P, 5) stroke-5 prefixes starting with S0; rows past the length are
            ignored.
        prefix_lengths: (B,) real points in each prefix (excluding S0), at most P - 1.
        temperature, seed, max_len, greedy, discrete_temperature: as sample().
        use_encoder: condition on z = encode(prefix) (conditional models).

    Returns:
        (strokes5 (B, max_len, 5), lengths (B,)) of the continuation only; its first point
        is the offset from the prefix's last point.
    """
    prefix5 = tf.convert_to_tensor(prefix5, tf.float32)
    lengths = np.asarray(prefix_lengths, np.int32)
    if lengths.shape != (prefix5.shape[0],) or np.any(lengths < 0) or np.any(
            lengths > prefix5.shape[1] - 1):
        raise ValueError(f"prefix_lengths={lengths.tolist()} must be (B,) in "
                         f"[0, {prefix5.shape[1] - 1}] for prefixes of shape {prefix5.shape}")
    temps, seed, max_len, greedy = _args(prefix5.shape[0], temperature, seed, max_len, greedy)
    return get_sampler(model).complete(prefix5, tf.constant(lengths), temps, seed, max_len,
                                       greedy, bool(use_encoder),
                                       _discrete(discrete_temperature, temps))


def to_stroke3_list(strokes5, lengths, scale=1.0):
    """Sampled stroke-5 (n, T, 5) and lengths (n,) -> list of stroke-3 (N_i, 3) float32.

    Args:
        strokes5: (n, T, 5) as returned by sample(); S0 not included.
        lengths: (n,) number of points of each sketch.
        scale: multiplies dx, dy (pass the data scale factor to undo normalisation).
    """
    strokes5 = np.asarray(strokes5, np.float32)
    lengths = np.asarray(lengths)
    result = []
    for s5, n in zip(strokes5, lengths):
        s3 = np.zeros((int(n), 3), np.float32)
        s3[:, :2] = s5[:n, :2] * scale
        s3[:, 2] = s5[:n, 3] > 0.5
        result.append(s3)
    return result
