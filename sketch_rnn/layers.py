"""Keras RNN cells of magenta's sketch_rnn (LSTM, LayerNorm LSTM), their fused sequence scan and the MDN head."""

import os

import keras
import tensorflow as tf
from keras import ops

LN_EPSILON = 1e-3  # magenta rnn.py layer_norm / layer_norm_all epsilon.
MATMUL_DTYPES = ("float32", "bfloat16")
_matmul_dtype = os.environ.get("SKETCHSTYLE_MATMUL_DTYPE", "float32")
if _matmul_dtype not in MATMUL_DTYPES:
    raise ValueError(f"SKETCHSTYLE_MATMUL_DTYPE={_matmul_dtype!r}: use one of {MATMUL_DTYPES}")


def set_matmul_dtype(dtype):
    """Operand dtype of the cells' and MDN head's matmuls: "float32" or "bfloat16".

    bfloat16 rounds both operands to bf16 and accumulates in fp32 (fp32 result); states,
    gates and losses stay fp32. It is read when a function is traced, so set it before
    building tf.functions. The default comes from $SKETCHSTYLE_MATMUL_DTYPE (float32).
    """
    global _matmul_dtype
    if dtype not in MATMUL_DTYPES:
        raise ValueError(f"matmul dtype {dtype!r}: use one of {MATMUL_DTYPES}")
    _matmul_dtype = dtype


def get_matmul_dtype():
    """The current matmul operand dtype (see set_matmul_dtype)."""
    return _matmul_dtype


def _in_xla():
    """True while tracing inside tf.function(jit_compile=True)."""
    try:
        from tensorflow.python.framework import ops as tf_ops
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - private TF modules moved.
        return False
    return control_flow_util.GraphOrParentsInXlaContext(tf_ops.get_default_graph())


def _physical_transpose(x):
    """x^T (2-D) materialised in row-major layout.

    XLA turns a plain transpose into a layout change that the dot then reads as a
    column-major operand, and its CPU bf16 dot (XNNPACK) only takes row-major ones. A
    1-D array has one layout, so flattening behind an optimization barrier forces the copy.
    """
    try:
        from tensorflow.compiler.tf2xla.python import xla
    except ImportError:  # pragma: no cover - private TF module moved.
        return tf.transpose(x)
    shape = tf.shape(x)
    flat = xla.optimization_barrier(tf.reshape(tf.transpose(x), [-1]))[0]
    return tf.reshape(flat, tf.stack([shape[1], shape[0]]))  # (N, M)


def matmul_operand(x, transpose=False):
    """x cast to the matmul dtype (and transposed when asked), for reuse in a loop.

    Returns (operand, transposed): pass `transposed` on as matmul's transpose flag.
    Outside XLA or in fp32 the transpose is left to the matmul.
    """
    x = tf.convert_to_tensor(x)
    if _matmul_dtype == "float32" or x.dtype not in (tf.float32, tf.bfloat16):
        return x, transpose
    x = tf.cast(x, tf.bfloat16)
    if transpose and _in_xla():
        return _physical_transpose(x), False
    return x, transpose


def matmul(a, b, transpose_a=False, transpose_b=False):
    """a @ b in the matmul dtype (set_matmul_dtype) with an fp32 result.

    An a of rank > 2 with a 2-D b is flattened to one 2-D matmul. bf16 uses XLA's
    bf16 x bf16 -> fp32 dot under jit_compile, else oneDNN's bf16 matmul (its result is
    rounded to bf16) and a cast.
    Operands already prepared by matmul_operand are not cast again.
    """
    a, b = tf.convert_to_tensor(a), tf.convert_to_tensor(b)
    if a.shape.rank > 2 and b.shape.rank == 2 and not transpose_a:
        lead = tf.shape(a)[:-1]
        flat = tf.reshape(a, (-1, tf.shape(a)[-1]))  # (N, K)
        out = matmul(flat, b, transpose_b=transpose_b)  # (N, M)
        return tf.reshape(out, tf.concat([lead, tf.shape(out)[-1:]], 0))  # (..., M)
    if _matmul_dtype == "float32" and a.dtype == b.dtype:
        return tf.linalg.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    a, transpose_a = matmul_operand(a, transpose_a)
    b, transpose_b = matmul_operand(b, transpose_b)
    if _in_xla():
        return tf.linalg.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b,
                                output_type=tf.float32)
    return tf.cast(tf.linalg.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b),
                   tf.float32)


@keras.saving.register_keras_serializable(package="sketchstyle")
class BlockOrthogonal(keras.initializers.Initializer):
    """Orthogonal init of each of `num_blocks` column blocks (magenta `lstm_ortho_initializer`).

    Args:
        num_blocks: the kernel's columns are split into this many equal blocks (4 for LSTM).
        seed: optional int seed.

    Reference:
        magenta/models/sketch_rnn/rnn.py, lstm_ortho_initializer.
    """

    def __init__(self, num_blocks=4, seed=None):
        self.num_blocks = num_blocks
        self.seed = seed

    def __call__(self, shape, dtype=None):
        rows, cols = shape
        if cols % self.num_blocks:
            raise ValueError(f"{cols} columns do not split into {self.num_blocks} blocks")
        width = cols // self.num_blocks
        blocks = []
        for k in range(self.num_blocks):
            seed = None if self.seed is None else self.seed + k
            init = keras.initializers.Orthogonal(seed=seed)
            blocks.append(init((rows, width), dtype=dtype))
        return ops.concatenate(blocks, axis=1)

    def get_config(self):
        return {"num_blocks": self.num_blocks, "seed": self.seed}


@keras.saving.register_keras_serializable(package="sketchstyle")
class FusedLSTMKernel(keras.initializers.Initializer):
    """Init of a fused [W_xh; W_hh] kernel: Glorot-uniform W_xh rows, block-orthogonal W_hh rows.

    Args:
        input_size: X, the number of W_xh rows (the remaining rows are W_hh).
        seed: optional int seed.

    Reference:
        magenta/models/sketch_rnn/rnn.py, LSTMCell (W_xh uniform, W_hh lstm_ortho_initializer).
    """

    def __init__(self, input_size, seed=None):
        self.input_size = input_size
        self.seed = seed

    def __call__(self, shape, dtype=None):
        rows, cols = shape
        w_xh = keras.initializers.GlorotUniform(seed=self.seed)((self.input_size, cols), dtype)
        w_hh = BlockOrthogonal(4, seed=self.seed)((rows - self.input_size, cols), dtype)
        return ops.concatenate([w_xh, w_hh], axis=0)

    def get_config(self):
        return {"input_size": self.input_size, "seed": self.seed}


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


def _array(x):
    """A TensorArray holding the rows of x (T, ...) for per-step reads in a while loop."""
    return tf.TensorArray(x.dtype, size=tf.shape(x)[0], element_shape=x.shape[1:],
                          clear_after_read=False).unstack(x)


def _storage_dtype():
    """dtype of the saved gate pre-activations and their gradients.

    bf16 (with bf16 matmuls) is kept as its uint16 bits: XLA:CPU otherwise converts the
    whole bf16 buffer to fp32 and back around every per-step dynamic-update-slice.
    """
    return tf.uint16 if _matmul_dtype == "bfloat16" else tf.float32


def _matmul_tf_dtype():
    return tf.bfloat16 if _matmul_dtype == "bfloat16" else tf.float32


def _to_storage(x):
    if _storage_dtype() == tf.uint16:
        return tf.bitcast(tf.cast(x, tf.bfloat16), tf.uint16)
    return x


def _from_storage(x, dtype):
    """Stored values -> `dtype` (bf16 stays bf16 when dtype is bf16)."""
    if x.dtype == tf.uint16:
        x = tf.bitcast(x, tf.bfloat16)
    return tf.cast(x, dtype)


def _keep_multiplier(mask, keep_prob, dtype):
    return None if mask is None else tf.cast(mask, dtype) * (1.0 / keep_prob)


def recurrent_scan(pointwise, x, w_x, xp_seq, w_h, h0, c0, params=(), keep_mask=None,
                   keep_prob=1.0):
    """Runs an LSTM-type recurrence over time with a hand-written backward pass.

    Per step: pre_t = x_t @ w_x + xp_seq + h_{t-1} @ w_h and (h_t, c_t) = pointwise(pre_t,
    c_{t-1}, keep_t, params). Only the recurrent matmul uses the matmul dtype; the small
    input matmul (X is 5 for strokes) stays fp32. The backward loop only propagates
    dh, dc (one dpre @ w_h^T per step, the pointwise part re-derived by autodiff from the
    saved pre_t); dw_h is one large matmul over all steps afterwards. pre_t and dpre_t
    are stored in the matmul dtype (bf16 halves the activation memory).

    Args:
        pointwise: f(pre (B, 4H), c (B, H), keep (B, H) or None, params) -> (h, c).
        x: (T, B, X) time-major step inputs.
        w_x: (X, 4H) input kernel.
        xp_seq: (B, 4H) per-sequence part of pre (constant inputs' projection and bias).
        w_h: (H, 4H) recurrent kernel.
        h0, c0: (B, H) initial state.
        params: tuple of small parameter tensors for pointwise.
        keep_mask: None or bool (T, B, H) recurrent-dropout mask of g (no gradient).
        keep_prob: keep probability; kept g are scaled by 1 / keep_prob.

    Returns:
        (hs, cs): (T, B, H) each, the state after every step.
    """
    params = tuple(tf.convert_to_tensor(p) for p in params)
    store = _storage_dtype()

    @tf.custom_gradient
    def scan(x, w_x, xp_seq, w_h, h0, c0, *params):
        steps = tf.shape(x)[0]
        xs = _array(x)
        ks = None if keep_mask is None else _array(keep_mask)
        wh, wh_t = matmul_operand(w_h)

        def new_array(dtype, shape):
            return tf.TensorArray(dtype, size=steps, element_shape=shape)

        def body(t, h, c, pres, hs, cs):
            pre = (tf.linalg.matmul(xs.read(t), w_x) + xp_seq
                   + matmul(h, wh, transpose_b=wh_t))  # (B, 4H)
            keep = None if ks is None else _keep_multiplier(ks.read(t), keep_prob, c.dtype)
            h, c = pointwise(pre, c, keep, params)
            return (t + 1, h, c, pres.write(t, _to_storage(pre)), hs.write(t, h),
                    cs.write(t, c))

        init = (tf.constant(0), h0, c0, new_array(store, xp_seq.shape),
                new_array(h0.dtype, h0.shape), new_array(c0.dtype, c0.shape))
        _, _, _, pres, hs, cs = tf.while_loop(lambda t, *_: t < steps, body, init,
                                              maximum_iterations=steps)
        pres, hs, cs = pres.stack(), hs.stack(), cs.stack()  # (T, B, 4H), (T, B, H) x 2

        def grad(dhs, dcs):
            dhs = tf.zeros_like(hs) if dhs is None else dhs
            dcs = tf.zeros_like(cs) if dcs is None else dcs
            pre_a, c_a, dh_a, dc_a = _array(pres), _array(cs), _array(dhs), _array(dcs)
            w_back, w_back_t = matmul_operand(w_h, transpose=True)

            def back(i, dh_next, dc_next, dw_x, dxp, dparams, dpres, dxs):
                t = steps - 1 - i
                pre = _from_storage(pre_a.read(t), xp_seq.dtype)
                cp = tf.where(t > 0, c_a.read(tf.maximum(t - 1, 0)), c0)  # c_{t-1}
                keep = None if ks is None else _keep_multiplier(ks.read(t), keep_prob, cp.dtype)
                with tf.GradientTape() as tape:
                    tape.watch([pre, cp] + list(params))
                    h, c = pointwise(pre, cp, keep, params)
                out = tape.gradient(
                    [h, c], [pre, cp] + list(params),
                    output_gradients=[dh_a.read(t) + dh_next, dc_a.read(t) + dc_next],
                    unconnected_gradients=tf.UnconnectedGradients.ZERO)
                dpre, dcp = out[0], out[1]  # (B, 4H), (B, H)
                dparams = [a + b for a, b in zip(dparams, out[2:])]
                x_t = xs.read(t)
                dw_x = dw_x + tf.linalg.matmul(x_t, dpre, transpose_a=True)  # (X, 4H)
                dh_prev = matmul(dpre, w_back, transpose_b=w_back_t)  # (B, H)
                return (i + 1, dh_prev, dcp, dw_x, dxp + dpre, dparams,
                        dpres.write(t, _to_storage(dpre)),
                        dxs.write(t, tf.linalg.matmul(dpre, w_x, transpose_b=True)))

            init = (tf.constant(0), tf.zeros_like(h0), tf.zeros_like(c0), tf.zeros_like(w_x),
                    tf.zeros_like(xp_seq), [tf.zeros_like(p) for p in params],
                    new_array(store, xp_seq.shape), new_array(x.dtype, x.shape[1:]))
            _, dh0, dc0, dw_x, dxp, dparams, dpres, dxs = tf.while_loop(
                lambda i, *_: i < steps, back, init, maximum_iterations=steps)
            units = tf.shape(h0)[-1]
            h_prev = tf.concat([h0[None], hs[:-1]], axis=0)  # (T, B, H)
            dw_h = matmul(tf.reshape(h_prev, (-1, units)),  # (T*B, H)
                          tf.reshape(_from_storage(dpres.stack(), _matmul_tf_dtype()),
                                     (-1, 4 * units)),  # (T*B, 4H)
                          transpose_a=True)  # (H, 4H)
            return [dxs.stack(), dw_x, dxp, dw_h, dh0, dc0] + list(dparams)

        return (hs, cs), grad

    return scan(x, w_x, xp_seq, w_h, h0, c0, *params)


def project_inputs(inputs, kernel, bias=None, constants=None):
    """Input projections of every step in one matmul: inputs @ W_x (+ constants @ W_c + b).

    Args:
        inputs: (T, B, Xi) time-major inputs; they use kernel rows [0, Xi).
        kernel: (>= Xi + Xc, N); rows past Xi + Xc (e.g. W_hh) are ignored.
        bias: optional (N,).
        constants: optional (B, Xc) inputs that are the same at every step (e.g. z); they
            use kernel rows [Xi, Xi + Xc) and are projected once per sequence.

    Returns:
        (T, B, N).
    """
    n_in = inputs.shape[-1]
    out = matmul(inputs, kernel[:n_in])  # (T, B, N)
    per_seq = None
    if constants is not None:
        per_seq = matmul(constants, kernel[n_in:n_in + constants.shape[-1]])  # (B, N)
    if bias is not None:
        per_seq = bias if per_seq is None else per_seq + bias
    return out if per_seq is None else out + per_seq[None]


class _DropoutCellMixin:
    """Recurrent dropout on the candidate g (magenta: tf.nn.dropout(tanh(j), keep))."""

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

    def _keep_mask(self, shape, training):
        """None, or multipliers of g (0 or 1/keep) of `shape` when training with dropout."""
        return _keep_multiplier(self._keep_bool(shape, training), self.recurrent_dropout_keep,
                                self.compute_dtype)

    def get_initial_state(self, batch_size=None):
        """Zeros for every state part, in `state_size` order."""
        return [ops.zeros((batch_size, n), dtype=self.compute_dtype) for n in self.state_size]


def _check_cell_args(units, recurrent_dropout_keep):
    if units < 1:
        raise ValueError(f"units={units} must be positive")
    if not 0 < recurrent_dropout_keep <= 1:
        raise ValueError(f"recurrent_dropout_keep={recurrent_dropout_keep} must be in (0, 1]")


class _FusedKernelLSTM(_DropoutCellMixin):
    """Shared step / sequence code of the cells with one fused [W_xh; W_hh] kernel."""

    def _bias(self):
        return None

    def _params(self):
        return ()

    def _pointwise(self, pre, c, keep, params):
        raise NotImplementedError

    def call(self, inputs, states, training=None):
        h, c = states
        pre = matmul(ops.concatenate([inputs, h], axis=-1), self.kernel)  # (B, 4H)
        if self._bias() is not None:
            pre = pre + self._bias()
        keep = self._keep_mask(ops.shape(c), training)
        new_h, new_c = self._pointwise(pre, c, keep, self._params())
        return new_h, [new_h, new_c]

    def run_sequence(self, inputs, initial_state, training=False, constants=None):
        """Runs the cell over a whole time-major sequence (the fast path for training).

        Equivalent to calling the cell step by step on [inputs_t; constants]; the input
        projections are one matmul for all steps and the recurrence is recurrent_scan.

        Args:
            inputs: (T, B, Xi) time-major inputs.
            initial_state: [h0, c0], each (B, H).
            training: enables recurrent dropout.
            constants: optional (B, Xc) inputs appended to every step's input.

        Returns:
            (outputs (T, B, H), [hs, cs]) with the state after every step.
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
        mask = self._keep_bool(tf.concat([tf.shape(inputs)[:2], [self.units]], 0), training)
        hs, cs = recurrent_scan(self._pointwise, inputs, kernel[:n_in], xp_seq,
                                kernel[x_rows:], h0, c0, self._params(), mask,
                                self.recurrent_dropout_keep)
        return hs, [hs, cs]


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
        **kwargs: keras.layers.Layer arguments.

    Reference:
        magenta/models/sketch_rnn/rnn.py, LSTMCell; Semeniuta et al. 2016, "Recurrent
        Dropout without Memory Loss" (arXiv 1603.05118).
    """

    def __init__(self, units, forget_bias=1.0, recurrent_dropout_keep=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        _check_cell_args(units, recurrent_dropout_keep)
        self.units = units
        self.forget_bias = forget_bias
        self.recurrent_dropout_keep = recurrent_dropout_keep
        self.seed = seed
        self.state_size = [units, units]
        self.output_size = units
        self._make_seed_generator()

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

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, forget_bias=self.forget_bias,
                      recurrent_dropout_keep=self.recurrent_dropout_keep, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="sketchstyle")
class LayerNormLSTMCell(_FusedKernelLSTM, keras.layers.Layer):
    """magenta's LayerNorm LSTM: no gate bias, layer norm on each gate block and on c.

    [i, j, f, o] = LN_4([x; h] @ W) with W = [W_xh; W_hh] one fused (X + H, 4H) kernel,
    g = dropout(tanh(j)),
    c' = c * sigmoid(f + forget_bias) + sigmoid(i) * g, h' = tanh(LN(c')) * sigmoid(o).

    State order: [h, c] (`state_size` = [units, units]). `run_sequence` runs a whole
    sequence with the input projections hoisted out of the recurrence.

    Args:
        units: hidden size H.
        forget_bias: added to the forget gate pre-activation.
        recurrent_dropout_keep: keep probability of g when training (1.0 = off).
        seed: int seed of the dropout SeedGenerator.
        **kwargs: keras.layers.Layer arguments.

    Reference:
        magenta/models/sketch_rnn/rnn.py, LayerNormLSTMCell; Ba et al. 2016, "Layer
        Normalization" (arXiv 1607.06450).
    """

    def __init__(self, units, forget_bias=1.0, recurrent_dropout_keep=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        _check_cell_args(units, recurrent_dropout_keep)
        self.units = units
        self.forget_bias = forget_bias
        self.recurrent_dropout_keep = recurrent_dropout_keep
        self.seed = seed
        self.state_size = [units, units]
        self.output_size = units
        self._make_seed_generator()

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

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, forget_bias=self.forget_bias,
                      recurrent_dropout_keep=self.recurrent_dropout_keep, seed=self.seed)
        return config


def make_cell(kind, units, *, forget_bias=1.0, recurrent_dropout_keep=1.0, seed=None,
              hyper_num_units=256, hyper_embedding_size=32, use_layer_norm=True,
              hyper_use_recurrent_dropout=False, name=None):
    """Builds an RNN cell by kind: "lstm", "layer_norm" or "hyper".

    The hyper_* and use_layer_norm arguments only apply to "hyper".
    """
    if kind == "lstm":
        return LSTMCell(units, forget_bias=forget_bias,
                        recurrent_dropout_keep=recurrent_dropout_keep, seed=seed, name=name)
    if kind == "layer_norm":
        return LayerNormLSTMCell(units, forget_bias=forget_bias,
                                 recurrent_dropout_keep=recurrent_dropout_keep, seed=seed,
                                 name=name)
    if kind == "hyper":
        from sketch_rnn.hyper_lstm import HyperLSTMCell  # Avoids an import cycle.
        return HyperLSTMCell(units, hyper_num_units=hyper_num_units,
                             hyper_embedding_size=hyper_embedding_size,
                             forget_bias=forget_bias,
                             recurrent_dropout_keep=recurrent_dropout_keep,
                             use_layer_norm=use_layer_norm,
                             hyper_use_recurrent_dropout=hyper_use_recurrent_dropout,
                             seed=seed, name=name)
    raise ValueError(f"unknown cell kind {kind!r}; choose from lstm, layer_norm, hyper")


def mdn_output_size(num_mixture):
    """6M + 3: pen logits (3), then pi, mu_x, mu_y, log sigma_x, log sigma_y, rho_hat (M each)."""
    return 6 * num_mixture + 3


def split_mixture_params(raw, num_mixture):
    """Splits the MDN head output into named parameters (magenta get_mixture_coef layout).

    Args:
        raw: (..., 6M + 3): [pen logits (3), pi logits, mu_x, mu_y, log sigma_x,
            log sigma_y, rho_hat (M each)].
        num_mixture: M.

    Returns:
        dict of pi_logits, mu_x, mu_y, log_sigma_x, log_sigma_y, rho (= tanh(rho_hat)),
        each (..., M), and pen_logits (..., 3).
    """
    m = num_mixture
    pen_logits = raw[..., :3]
    parts = [raw[..., 3 + k * m:3 + (k + 1) * m] for k in range(6)]
    pi_logits, mu_x, mu_y, log_sigma_x, log_sigma_y, rho_hat = parts
    return {
        "pi_logits": pi_logits,
        "mu_x": mu_x,
        "mu_y": mu_y,
        "log_sigma_x": log_sigma_x,
        "log_sigma_y": log_sigma_y,
        "rho": ops.tanh(rho_hat),
        "pen_logits": pen_logits,
    }


@keras.saving.register_keras_serializable(package="sketchstyle")
class MixtureDensityHead(keras.layers.Layer):
    """Dense map from the decoder output to the 6M + 3 raw mixture parameters.

    Use `split_mixture_params(raw, num_mixture)` to name the parts.

    Args:
        num_mixture: M, the number of bivariate normals.
        **kwargs: keras.layers.Layer arguments.

    Reference:
        Ha & Eck 2017, "A Neural Representation of Sketch Drawings" (arXiv 1704.03477),
        eqs. 3-5; magenta/models/sketch_rnn/model.py (output_w, output_b).
    """

    def __init__(self, num_mixture, **kwargs):
        super().__init__(**kwargs)
        if num_mixture < 1:
            raise ValueError(f"num_mixture={num_mixture} must be positive")
        self.num_mixture = num_mixture
        self.supports_masking = True  # Per-step map: a sequence mask passes through.

    def build(self, input_shape):
        n_out = mdn_output_size(self.num_mixture)
        self.kernel = self.add_weight(
            shape=(input_shape[-1], n_out), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(n_out,), initializer="zeros", name="bias")

    def call(self, inputs):
        return matmul(inputs, tf.convert_to_tensor(self.kernel)) + self.bias

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (mdn_output_size(self.num_mixture),)

    def get_config(self):
        config = super().get_config()
        config.update(num_mixture=self.num_mixture)
        return config
