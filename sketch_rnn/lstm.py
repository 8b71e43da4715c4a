"""magenta sketch_rnn's LSTM and LayerNorm LSTM cells (Keras RNN cells) and their pointwise updates."""

import keras
import tensorflow as tf
from keras import ops

from sketch_rnn.initializers import FusedLSTMKernel
from sketch_rnn.configs import resolve_matmul_dtype
from sketch_rnn.precision import matmul, matmul_operand
from sketch_rnn.recurrence import hashed_keep_mask, keep_multiplier, recurrent_scan

LN_EPSILON = 1e-3  # magenta rnn.py layer_norm / layer_norm_all epsilon.


def layer_norm_blocks(x, num_blocks, gamma, beta, epsilon=LN_EPSILON):
    """Layer norm of each of `num_blocks` equal blocks of the last axis (magenta layer_norm_all).

    Args:
        x: (B, num_blocks * H).
        num_blocks: number of blocks normalised separately.
        gamma, beta: (num_blocks * H,) scale and shift.
        epsilon: added to the variance.

    Returns:
        (B, num_blocks * H).
    """
    units = x.shape[-1] // num_blocks
    xr = ops.reshape(x, (-1, num_blocks, units))  # (B, K, H)
    mean = ops.mean(xr, axis=-1, keepdims=True)
    var = ops.mean(ops.square(xr - mean), axis=-1, keepdims=True)
    xr = (xr - mean) * ops.rsqrt(var + epsilon)
    return ops.reshape(xr, (-1, num_blocks * units)) * gamma + beta  # (B, K * H)


def lstm_pointwise(pre, c, keep, params, forget_bias):
    """The LSTM update after the gate matmul: (pre (B, 4H), c (B, H)) -> (h', c').

    pre holds [i, j, f, o] (bias included); keep is None or the (B, H) multiplier of g
    (0 or 1/keep_prob); params is unused (the plain LSTM has no per-step parameters).
    """
    del params
    i, j, f, o = ops.split(pre, 4, axis=-1)
    g = ops.tanh(j)
    if keep is not None:
        g = g * keep
    new_c = c * ops.sigmoid(f + forget_bias) + ops.sigmoid(i) * g
    return ops.tanh(new_c) * ops.sigmoid(o), new_c


def ln_lstm_pointwise(pre, c, keep, params, forget_bias):
    """The LayerNorm LSTM update after the gate matmul: (pre, c) -> (h', c').

    params = (ln_gamma (4H,), ln_beta (4H,), ln_c_gamma (H,), ln_c_beta (H,)).
    """
    ln_gamma, ln_beta, ln_c_gamma, ln_c_beta = params
    gates = layer_norm_blocks(pre, 4, ln_gamma, ln_beta)
    i, j, f, o = ops.split(gates, 4, axis=-1)
    g = ops.tanh(j)
    if keep is not None:
        g = g * keep
    new_c = c * ops.sigmoid(f + forget_bias) + ops.sigmoid(i) * g
    ln_c = layer_norm_blocks(new_c, 1, ln_c_gamma, ln_c_beta)
    return ops.tanh(ln_c) * ops.sigmoid(o), new_c




class DropoutCellMixin:
    """Recurrent dropout on the candidate g (magenta: tf.nn.dropout(tanh(j), keep))."""

    def _set_matmul_dtype(self, matmul_dtype):
        """Stores the resolved matmul dtype ("auto" becomes this machine's choice)."""
        self.matmul_dtype = resolve_matmul_dtype(matmul_dtype)

    def _make_seed_generator(self):
        if self.recurrent_dropout_keep < 1.0:
            self.seed_generator = keras.random.SeedGenerator(self.seed)

    def _keep_bool(self, shape, training):
        """None, or a bool mask of kept g entries of `shape` when training with dropout.

        The seed comes from the cell's SeedGenerator; the uniforms use Philox explicitly
        (XLA's default stateless algorithm on CPU is about 100x slower).
        """
        if not (training and self.recurrent_dropout_keep < 1.0):
            return None
        seed = tf.cast(self.seed_generator.next(), tf.int32)
        u = tf.random.stateless_uniform(shape, seed=seed, alg="philox")
        return u < self.recurrent_dropout_keep

    def _keep_fn(self, batch, training):
        """None, or a hashed_keep_mask function (t -> bool (B, H)) when training with dropout."""
        if not (training and self.recurrent_dropout_keep < 1.0):
            return None
        return hashed_keep_mask(self.seed_generator.next(), batch, self.units,
                                self.recurrent_dropout_keep)

    def _keep_mask(self, shape, training):
        """None, or multipliers of g (0 or 1/keep) of `shape` when training with dropout."""
        return keep_multiplier(self._keep_bool(shape, training), self.recurrent_dropout_keep,
                                self.compute_dtype)

    def get_initial_state(self, batch_size=None):
        """Zeros for every state part, in `state_size` order."""
        return [ops.zeros((batch_size, n), dtype=self.compute_dtype) for n in self.state_size]


def check_cell_args(units, recurrent_dropout_keep):
    if units < 1:
        raise ValueError(f"units={units} must be positive")
    if not 0 < recurrent_dropout_keep <= 1:
        raise ValueError(f"recurrent_dropout_keep={recurrent_dropout_keep} must be in (0, 1]")


class _FusedKernelLSTM(DropoutCellMixin):
    """Shared constructor, config, step and sequence code of the cells with one fused
    [W_xh; W_hh] kernel (see LSTMCell for the arguments)."""

    def __init__(self, units, forget_bias=1.0, recurrent_dropout_keep=1.0, seed=None,
                 matmul_dtype="float32", **kwargs):
        super().__init__(**kwargs)
        check_cell_args(units, recurrent_dropout_keep)
        self.units = units
        self.forget_bias = forget_bias
        self.recurrent_dropout_keep = recurrent_dropout_keep
        self.seed = seed
        self._set_matmul_dtype(matmul_dtype)
        self.state_size = [units, units]
        self.output_size = units
        self._make_seed_generator()

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, forget_bias=self.forget_bias,
                      recurrent_dropout_keep=self.recurrent_dropout_keep, seed=self.seed,
                      matmul_dtype=self.matmul_dtype)
        return config

    def _bias(self):
        return None

    def _params(self):
        return ()

    def _pointwise(self, pre, c, keep, params):
        raise NotImplementedError

    def call(self, inputs, states, training=None):
        h, c = states
        pre = matmul(ops.concatenate([inputs, h], axis=-1), self.kernel,
                     self.matmul_dtype)  # (B, 4H)
        if self._bias() is not None:
            pre = pre + self._bias()
        keep = self._keep_mask(ops.shape(c), training)
        new_h, new_c = self._pointwise(pre, c, keep, self._params())
        return new_h, [new_h, new_c]

    def step_context(self, constants, n_in, batch):
        """Per-sequence work of `fast_step`, done once (e.g. before a sampling loop).

        Args:
            constants: optional (B, Xc) inputs appended to every step's input.
            n_in: size of the per-step inputs.
            batch: B (int or scalar tensor).

        Returns:
            An opaque tuple for fast_step: the inputs' kernel rows, the constants'
            projection plus bias (B, 4H) and the recurrent kernel cast for matmul.
        """
        kernel = tf.convert_to_tensor(self.kernel)
        x_rows = kernel.shape[0] - self.units
        xp_seq = tf.zeros(tf.stack([batch, 4 * self.units]), self.compute_dtype)  # (B, 4H)
        if constants is not None:
            xp_seq = xp_seq + tf.linalg.matmul(ops.cast(constants, self.compute_dtype),
                                               kernel[n_in:x_rows])
        if self._bias() is not None:
            xp_seq = xp_seq + self._bias()
        w_h, w_h_t = matmul_operand(kernel[x_rows:], self.matmul_dtype)
        return kernel[:n_in], xp_seq, w_h, w_h_t

    def fast_step(self, inputs, context, states):
        """One inference step (no dropout) on the per-step inputs only; see step_context."""
        w_x, xp_seq, w_h, w_h_t = context
        h, c = states
        pre = (tf.linalg.matmul(ops.cast(inputs, self.compute_dtype), w_x) + xp_seq
               + matmul(h, w_h, self.matmul_dtype, transpose_b=w_h_t))  # (B, 4H)
        new_h, new_c = self._pointwise(pre, c, None, self._params())
        return new_h, [new_h, new_c]

    def run_sequence(self, inputs, initial_state, training=False, constants=None,
                     lengths=None, return_sequence=True, recompute=False):
        """Runs the cell over a whole time-major sequence (the fast path for training).

        Equivalent to calling the cell step by step on [inputs_t; constants]; constants
        are projected once per sequence and the recurrence is recurrent_scan.

        Args:
            inputs: (T, B, Xi) time-major inputs.
            initial_state: [h0, c0], each (B, H).
            training: enables recurrent dropout.
            constants: optional (B, Xc) inputs appended to every step's input.
            lengths: optional (B,) steps per sequence for the returned final state.
            return_sequence: return the outputs of every step (else None).
            recompute: recompute the gate pre-activations in the backward pass instead
                of saving them (less memory, one more matmul per step).

        Returns:
            (outputs (T, B, H) or None, [h, c] after step `lengths` - 1 or the last step).
        """
        inputs = ops.cast(inputs, self.compute_dtype)
        kernel = tf.convert_to_tensor(self.kernel)
        x_rows = kernel.shape[0] - self.units
        n_in = inputs.shape[-1]
        h0, c0 = [ops.cast(s, self.compute_dtype) for s in initial_state]
        xp_seq = tf.zeros_like(h0[:, :1]) + tf.zeros((4 * self.units,), h0.dtype)  # (B, 4H)
        if constants is not None:
            constants = ops.cast(constants, self.compute_dtype)
            xp_seq = tf.linalg.matmul(constants, kernel[n_in:x_rows])  # (B, 4H)
        if self._bias() is not None:
            xp_seq = xp_seq + self._bias()
        mask = self._keep_fn(tf.shape(inputs)[1], training)
        hs, h, c = recurrent_scan(self._pointwise, inputs, kernel[:n_in], xp_seq,
                                  kernel[x_rows:], h0, c0, self._params(), mask,
                                  self.recurrent_dropout_keep, lengths, return_sequence,
                                  recompute, self.matmul_dtype)
        return hs, [h, c]


@keras.saving.register_keras_serializable(package="sketchstyle")
class LSTMCell(_FusedKernelLSTM, keras.layers.Layer):
    """magenta's vanilla LSTM cell with orthogonal recurrent init and recurrent dropout on g.

    [i, j, f, o] = [x; h] @ W + b with W = [W_xh; W_hh] one fused (X + H, 4H) kernel,
    g = dropout(tanh(j)),
    c' = c * sigmoid(f + forget_bias) + sigmoid(i) * g, h' = tanh(c') * sigmoid(o).

    State order: [h, c] (`state_size` = [units, units]). `run_sequence` runs a whole
    sequence with the input projections hoisted out of the recurrence.

    Args:
        units: hidden size H.
        forget_bias: added to the forget gate pre-activation.
        recurrent_dropout_keep: keep probability of g when training (1.0 = off).
        seed: int seed of the dropout SeedGenerator.
        matmul_dtype: operand dtype of the gate matmuls: "float32", "bfloat16" (fp32
            accumulation; states and gates stay fp32) or "auto" (resolved here, see
            sketch_rnn.configs.resolve_matmul_dtype).
        **kwargs: keras.layers.Layer arguments.

    Reference:
        magenta/models/sketch_rnn/rnn.py, LSTMCell; Semeniuta et al. 2016, "Recurrent
        Dropout without Memory Loss" (arXiv 1603.05118).
    """

    def build(self, input_shape):
        x_size = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(x_size + self.units, 4 * self.units), initializer=FusedLSTMKernel(x_size),
            name="kernel")
        self.bias = self.add_weight(shape=(4 * self.units,), initializer="zeros", name="bias")

    def _bias(self):
        return tf.convert_to_tensor(self.bias)

    def _pointwise(self, pre, c, keep, params):
        return lstm_pointwise(pre, c, keep, params, self.forget_bias)


@keras.saving.register_keras_serializable(package="sketchstyle")
class LayerNormLSTMCell(_FusedKernelLSTM, keras.layers.Layer):
    """magenta's LayerNorm LSTM: no gate bias, layer norm on each gate block and on c.

    [i, j, f, o] = LN_4([x; h] @ W) with W = [W_xh; W_hh] one fused (X + H, 4H) kernel,
    g = dropout(tanh(j)),
    c' = c * sigmoid(f + forget_bias) + sigmoid(i) * g, h' = tanh(LN(c')) * sigmoid(o).

    State order: [h, c] (`state_size` = [units, units]). `run_sequence` runs a whole
    sequence with the input projections hoisted out of the recurrence.

    Args:
        units, forget_bias, recurrent_dropout_keep, seed, matmul_dtype, **kwargs: as for
            LSTMCell.

    Reference:
        magenta/models/sketch_rnn/rnn.py, LayerNormLSTMCell; Ba et al. 2016, "Layer
        Normalization" (arXiv 1607.06450).
    """

    def build(self, input_shape):
        x_size = input_shape[-1]
        n = self.units
        self.kernel = self.add_weight(
            shape=(x_size + n, 4 * n), initializer=FusedLSTMKernel(x_size), name="kernel")
        self.ln_gamma = self.add_weight(shape=(4 * n,), initializer="ones", name="ln_gamma")
        self.ln_beta = self.add_weight(shape=(4 * n,), initializer="zeros", name="ln_beta")
        self.ln_c_gamma = self.add_weight(shape=(n,), initializer="ones", name="ln_c_gamma")
        self.ln_c_beta = self.add_weight(shape=(n,), initializer="zeros", name="ln_c_beta")

    def _params(self):
        return tuple(tf.convert_to_tensor(w) for w in (
            self.ln_gamma, self.ln_beta, self.ln_c_gamma, self.ln_c_beta))

    def _pointwise(self, pre, c, keep, params):
        return ln_lstm_pointwise(pre, c, keep, params, self.forget_bias)
