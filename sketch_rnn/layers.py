"""magenta sketch_rnn's Keras RNN cells (LSTM, LayerNorm LSTM), their fused scan, the MDN head."""

import os

import keras
import tensorflow as tf
from keras import ops

LN_EPSILON = 1e-3  # magenta rnn.py layer_norm / layer_norm_all epsilon.
MATMUL_DTYPES = ("float32", "bfloat16")
MATMUL_DTYPE_CHOICES = MATMUL_DTYPES + ("auto",)  # "auto": bf16 only on bf16 hardware.
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def _cpu_flags(path="/proc/cpuinfo"):
    """The CPU feature flags of the first processor in `path` (empty where unreadable)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16(cpu_flags=None):
    """True where bf16 matmuls run natively: a GPU of compute capability >= 8.0 (which
    then runs the model), else a CPU with avx512_bf16 or amx_bf16. Elsewhere XLA:CPU
    emulates bf16 dots, which is slower than fp32 (measured 130 against 173 GFLOP/s on
    an AVX-512 Xeon without avx512_bf16).
    """
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        return bool(capability and tuple(capability) >= (8, 0))
    flags = _cpu_flags() if cpu_flags is None else set(cpu_flags)
    return any(flag in flags for flag in _BF16_CPU_FLAGS)


def resolve_matmul_dtype(dtype):
    """"auto" -> "bfloat16" on bf16 hardware (native_bf16) else "float32"; others as given."""
    if dtype not in MATMUL_DTYPE_CHOICES:
        raise ValueError(f"matmul dtype {dtype!r}: use one of {MATMUL_DTYPE_CHOICES}")
    if dtype == "auto":
        return "bfloat16" if native_bf16() else "float32"
    return dtype


_matmul_dtype = os.environ.get("SKETCHSTYLE_MATMUL_DTYPE", "float32")
if _matmul_dtype not in MATMUL_DTYPE_CHOICES:
    raise ValueError(f"SKETCHSTYLE_MATMUL_DTYPE={_matmul_dtype!r}: use one of "
                     f"{MATMUL_DTYPE_CHOICES}")


def set_matmul_dtype(dtype):
    """Operand dtype of the cells' and MDN head's matmuls: "float32", "bfloat16" or "auto".

    bfloat16 rounds both operands to bf16 and accumulates in fp32 (fp32 result); states,
    gates and losses stay fp32. "auto" picks bfloat16 only where the hardware has bf16
    matmuls (see native_bf16). It is read when a function is traced, so set it before
    building tf.functions. The default comes from $SKETCHSTYLE_MATMUL_DTYPE (float32).
    Returns the dtype now in use.
    """
    global _matmul_dtype
    _matmul_dtype = resolve_matmul_dtype(dtype)
    return _matmul_dtype


def get_matmul_dtype():
    """The current matmul operand dtype, "float32" or "bfloat16" (see set_matmul_dtype)."""
    global _matmul_dtype
    if _matmul_dtype == "auto":  # From the environment; resolved on first use.
        _matmul_dtype = resolve_matmul_dtype("auto")
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
    if get_matmul_dtype() == "float32" or x.dtype not in (tf.float32, tf.bfloat16):
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
    if get_matmul_dtype() == "float32" and a.dtype == b.dtype:
        return tf.linalg.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    return _bf16_matmul(a, b, transpose_a, transpose_b)


def _bf16_matmul(a, b, transpose_a, transpose_b):
    """bf16 x bf16 -> fp32 matmul whose gradients are bf16 matmuls too.

    (TF's own gradient of a bf16 x bf16 -> fp32 matmul multiplies the fp32 gradient by
    the bf16 operand, which falls back to the slow SparseMatMul kernel.)
    """

    @tf.custom_gradient
    def mm(a, b):
        a16, ta = matmul_operand(a, transpose_a)
        b16, tb = matmul_operand(b, transpose_b)
        if _in_xla():
            out = tf.linalg.matmul(a16, b16, transpose_a=ta, transpose_b=tb,
                                   output_type=tf.float32)
        else:
            out = tf.cast(tf.linalg.matmul(a16, b16, transpose_a=ta, transpose_b=tb),
                          tf.float32)

        def grad(dy):
            if transpose_a:  # da = (dy @ op(b)^T)^T
                da = matmul(b, dy, transpose_a=transpose_b, transpose_b=True)
            else:
                da = matmul(dy, b, transpose_b=not transpose_b)
            if transpose_b:  # db = (op(a)^T @ dy)^T
                db = matmul(dy, a, transpose_a=True, transpose_b=transpose_a)
            else:
                db = matmul(a, dy, transpose_a=not transpose_a)
            return tf.cast(da, a.dtype), tf.cast(db, b.dtype)

        return out, grad

    return mm(a, b)


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
    """dtype of the activations saved for the backward pass (pre, c, h) and of dpre.

    bf16 (with bf16 matmuls) is kept as its uint16 bits: XLA:CPU otherwise converts the
    whole bf16 buffer to fp32 and back around every per-step dynamic-update-slice.
    """
    return tf.uint16 if get_matmul_dtype() == "bfloat16" else tf.float32


def _matmul_tf_dtype():
    return tf.bfloat16 if get_matmul_dtype() == "bfloat16" else tf.float32


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


def _u32(value):
    return tf.constant(value, tf.uint32)


def _fmix32(x):
    """murmur3's 32-bit finaliser: a bijective, avalanching mix of uint32 values."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(16))) * _u32(0x85EBCA6B)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(13))) * _u32(0xC2B2AE35)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(16)))


def hashed_keep_mask(seed, batch, units, keep_prob):
    """Recurrent-dropout masks made one step at a time from a counter-based hash.

    keep(t) is a bool (batch, units) mask whose entries are kept with probability
    keep_prob (to 2^-32): bits = fmix32(fmix32(index * golden + key_t) ^ key) with
    key_t = fmix32(key + t * golden'), compared with keep_prob * 2^32. The same seed and t
    give the same mask in eager, graph and XLA code, so the backward pass re-derives each
    step's mask instead of storing a (T, B, H) one. Under XLA the hash fuses into the
    step's elementwise work; a Philox draw of the whole mask cost about 10% of the
    `default()` training step on CPU.

    Args:
        seed: int32 or uint32 tensor of shape (2,), e.g. from a keras SeedGenerator.
        batch, units: the mask's shape (batch may be a scalar tensor).
        keep_prob: keep probability in (0, 1].

    Returns:
        keep(t) -> bool (batch, units), for an int32 scalar t.
    """
    seed = tf.convert_to_tensor(seed)
    if seed.dtype != tf.uint32:
        seed = tf.bitcast(tf.cast(seed, tf.int32), tf.uint32)
    key = _fmix32(seed[0] * _u32(0x9E3779B9) + _fmix32(seed[1] + _u32(0x7F4A7C15)))
    n = tf.cast(batch, tf.int32) * units
    index = tf.reshape(tf.bitcast(tf.range(n, dtype=tf.int32), tf.uint32),
                       tf.stack([tf.cast(batch, tf.int32), units]))  # (B, H)
    threshold = _u32(min(int(round(keep_prob * 2.0 ** 32)), 2 ** 32 - 1))

    def keep(t):
        t = tf.bitcast(tf.cast(t, tf.int32), tf.uint32)
        step_key = _fmix32(key + t * _u32(0x85EBCA77))
        bits = _fmix32(tf.bitwise.bitwise_xor(_fmix32(index * _u32(0x9E3779B9) + step_key),
                                              key))
        return bits < threshold if keep_prob < 1.0 else tf.ones_like(bits, tf.bool)

    return keep


def _chunk_size(steps, limit=32):
    """Largest divisor of a static step count that is <= limit (None when unknown)."""
    if steps is None:
        return None
    return max(d for d in range(1, min(steps, limit) + 1) if steps % d == 0)


def recurrent_scan(pointwise, x, w_x, xp_seq, w_h, h0, c0, params=(), keep_mask=None,
                   keep_prob=1.0, lengths=None, return_sequence=True, recompute=False):
    """Runs an LSTM-type recurrence over time with a hand-written backward pass.

    Per step: pre_t = x_t @ w_x + xp_seq + h_{t-1} @ w_h and (h_t, c_t) = pointwise(pre_t,
    c_{t-1}, keep_t, params). Only the recurrent matmul uses the matmul dtype; the small
    input matmul (X is 5 for strokes) stays fp32.

    The backward loop only propagates dh, dc: one dpre @ w_h^T per step, the pointwise
    part re-derived by autodiff from the saved pre_t. dw_h is accumulated in chunks of
    steps, one large (H, C*B) @ (C*B, 4H) matmul per chunk, instead of T small ones or
    one that needs every dpre_t in memory. The states saved for the backward pass (pre_t
    unless recompute, c_t, and h_t when not returned) are kept in the matmul dtype.

    Args:
        pointwise: f(pre (B, 4H), c (B, H), keep (B, H) or None, params) -> (h, c).
        x: (T, B, X) time-major step inputs.
        w_x: (X, 4H) input kernel.
        xp_seq: (B, 4H) per-sequence part of pre (constant inputs' projection and bias).
        w_h: (H, 4H) recurrent kernel.
        h0, c0: (B, H) initial state.
        params: tuple of small parameter tensors for pointwise.
        keep_mask: None, a bool (T, B, H) recurrent-dropout mask of g (no gradient), or a
            function t -> bool (B, H) mask of step t (e.g. hashed_keep_mask), called again
            for the same t in the backward pass.
        keep_prob: keep probability; kept g are scaled by 1 / keep_prob.
        lengths: optional (B,) int steps per sequence: h_last, c_last are the state after
            step lengths - 1 (h0, c0 for 0). None: after the last step.
        return_sequence: also return hs, the h after every step.
        recompute: do not save pre_t; the backward pass recomputes it (one more
            h @ w_h per step, 4H fewer saved values per step and sequence).

    Returns:
        (hs (T, B, H) or None, h_last (B, H), c_last (B, H)).
    """
    params = tuple(tf.convert_to_tensor(p) for p in params)
    store = _storage_dtype()
    if lengths is not None:
        lengths = tf.cast(lengths, tf.int32)

    @tf.custom_gradient
    def scan(x, w_x, xp_seq, w_h, h0, c0, *params):
        steps = tf.shape(x)[0]
        # (B, 1) index of each sequence's last step (-1 for none); None: all end at T - 1.
        last = None if lengths is None else (lengths - 1)[:, None]
        xs = _array(x)
        if keep_mask is None or callable(keep_mask):
            keep_at = keep_mask
        else:
            keep_at = _array(keep_mask).read
        wh, wh_t = matmul_operand(w_h)
        h_store = h0.dtype if return_sequence else store

        def new_array(dtype, shape, size=steps):
            return tf.TensorArray(dtype, size=size, element_shape=shape, clear_after_read=False)

        def body(t, h, c, h_last, c_last, pres, hs, cs):
            pre = (tf.linalg.matmul(xs.read(t), w_x) + xp_seq
                   + matmul(h, wh, transpose_b=wh_t))  # (B, 4H)
            keep = None if keep_at is None else _keep_multiplier(keep_at(t), keep_prob, c.dtype)
            h, c = pointwise(pre, c, keep, params)
            if lengths is None:
                h_last, c_last = h, c
            else:
                h_last = tf.where(last == t, h, h_last)
                c_last = tf.where(last == t, c, c_last)
            hs = hs.write(t, h if return_sequence else _to_storage(h))
            if not recompute:
                pres = pres.write(t, _to_storage(pre))
            return t + 1, h, c, h_last, c_last, pres, hs, cs.write(t, _to_storage(c))

        init = (tf.constant(0), h0, c0, h0, c0, new_array(store, xp_seq.shape),
                new_array(h_store, h0.shape), new_array(store, c0.shape))
        _, _, _, h_last, c_last, pres, hs, cs = tf.while_loop(
            lambda t, *_: t < steps, body, init, maximum_iterations=steps)
        hs = hs.stack()  # (T, B, H)

        def grad(*upstream):
            if return_sequence:
                dhs, dh_last, dc_last = upstream
            else:
                (dh_last, dc_last), dhs = upstream, None
            dh_last = tf.zeros_like(h0) if dh_last is None else dh_last
            dc_last = tf.zeros_like(c0) if dc_last is None else dc_last
            dh_a = None if dhs is None else _array(dhs)
            w_back, w_back_t = matmul_operand(w_h, transpose=True)
            units = tf.shape(h0)[-1]
            chunk = _chunk_size(x.shape[0])
            h_a = _array(hs)

            def step_back(t, dh_next, dc_next, dparams):
                """One backward step: returns dpre_t and the carried gradients."""
                if recompute:
                    hp = tf.where(t > 0, _from_storage(h_a.read(tf.maximum(t - 1, 0)), h0.dtype),
                                  h0)  # h_{t-1}
                    pre = (tf.linalg.matmul(xs.read(t), w_x) + xp_seq
                           + matmul(hp, wh, transpose_b=wh_t))  # (B, 4H)
                else:
                    pre = _from_storage(pres.read(t), xp_seq.dtype)
                cp = tf.where(t > 0, _from_storage(cs.read(tf.maximum(t - 1, 0)), c0.dtype),
                              c0)  # c_{t-1}
                keep = (None if keep_at is None
                        else _keep_multiplier(keep_at(t), keep_prob, cp.dtype))
                dh = dh_next if lengths is None else dh_next + tf.where(last == t, dh_last, 0.0)
                if dh_a is not None:
                    dh = dh + dh_a.read(t)
                dc = dc_next if lengths is None else dc_next + tf.where(last == t, dc_last, 0.0)
                with tf.GradientTape() as tape:
                    tape.watch([pre, cp] + list(params))
                    h, c = pointwise(pre, cp, keep, params)
                out = tape.gradient([h, c], [pre, cp] + list(params), output_gradients=[dh, dc],
                                    unconnected_gradients=tf.UnconnectedGradients.ZERO)
                dpre, dcp = out[0], out[1]  # (B, 4H), (B, H)
                dparams = [a + b for a, b in zip(dparams, out[2:])]
                dh_prev = matmul(dpre, w_back, transpose_b=w_back_t)  # (B, H)
                return dpre, dh_prev, dcp, dparams

            def h_prev_rows(start, size):
                """h_{t-1} for t in [start, start + size), h0 for t = 0: (size * B, H)."""
                idx = start - 1 + tf.range(size)
                rows = _from_storage(h_a.gather(tf.maximum(idx, 0)), _matmul_tf_dtype())
                rows = tf.where((idx >= 0)[:, None, None], rows,
                                tf.cast(h0, rows.dtype)[None])  # (size, B, H)
                return tf.reshape(rows, (-1, units))

            def weight_grads(start, size, dpres):
                """dw_h, dw_x, dxp and dx (size, B, X) of steps [start, start + size)."""
                dp = tf.reshape(_from_storage(dpres, _matmul_tf_dtype()), (-1, 4 * units))
                dw_h = matmul(h_prev_rows(start, size), dp, transpose_a=True)  # (H, 4H)
                dp = tf.cast(dp, x.dtype)  # (size * B, 4H)
                x_rows = tf.reshape(xs.gather(start + tf.range(size)), (-1, x.shape[-1]))
                dw_x = tf.linalg.matmul(x_rows, dp, transpose_a=True)  # (X, 4H)
                dx = tf.linalg.matmul(dp, w_x, transpose_b=True)  # (size * B, X)
                dxp = tf.reduce_sum(tf.reshape(dp, (size, -1, 4 * units)), 0)  # (B, 4H)
                return dw_h, dw_x, dxp, tf.reshape(dx, (size, -1, x.shape[-1]))  # (size, B, X)

            if lengths is None:  # Every sequence ends at the last step, where backward starts.
                carry0 = (dh_last, dc_last, [tf.zeros_like(p) for p in params])
            else:
                carry0 = (tf.zeros_like(h0), tf.zeros_like(c0), [tf.zeros_like(p) for p in params])
            if chunk is None:  # Unknown length: keep every dpre_t, one weight-gradient pass.
                def back(i, carry, dpres):
                    t = steps - 1 - i
                    dpre, *carry = step_back(t, *carry)
                    return i + 1, tuple(carry), dpres.write(t, _to_storage(dpre))

                _, carry, dpres = tf.while_loop(
                    lambda i, *_: i < steps, back,
                    (tf.constant(0), carry0, new_array(store, xp_seq.shape)),
                    maximum_iterations=steps)
                dw_h, dw_x, dxp, dx = weight_grads(0, steps, dpres.stack())
            else:
                def chunk_back(k, carry, grads, dxs):
                    start = k * chunk

                    def back(j, carry, dpres):
                        t = start + chunk - 1 - j
                        dpre, *carry = step_back(t, *carry)
                        return j + 1, tuple(carry), dpres.write(chunk - 1 - j, _to_storage(dpre))

                    _, carry, dpres = tf.while_loop(
                        lambda j, *_: j < chunk, back,
                        (tf.constant(0), carry, new_array(store, xp_seq.shape, chunk)),
                        maximum_iterations=chunk)
                    *new, dx = weight_grads(start, chunk, dpres.stack())
                    grads = tuple(g + n for g, n in zip(grads, new))
                    return k - 1, carry, grads, dxs.write(k, dx)

                n_chunks = x.shape[0] // chunk
                grads0 = (tf.zeros_like(w_h), tf.zeros_like(w_x), tf.zeros_like(xp_seq))
                _, carry, (dw_h, dw_x, dxp), dxs = tf.while_loop(
                    lambda k, *_: k >= 0, chunk_back,
                    (tf.constant(n_chunks - 1), carry0, grads0,
                     new_array(x.dtype, (chunk,) + tuple(x.shape[1:]), n_chunks)),
                    maximum_iterations=n_chunks)
                dx = tf.reshape(dxs.stack(), tf.shape(x))  # (T, B, X)
            dh0, dc0, dparams = carry
            if lengths is not None:
                dh0 = dh0 + tf.where(last < 0, dh_last, 0.0)
                dc0 = dc0 + tf.where(last < 0, dc_last, 0.0)
            return [dx, dw_x, dxp, dw_h, dh0, dc0] + list(dparams)

        outputs = (hs, h_last, c_last) if return_sequence else (h_last, c_last)
        return outputs, grad

    out = scan(x, w_x, xp_seq, w_h, h0, c0, *params)
    return tuple(out) if return_sequence else (None,) + tuple(out)


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

    def _keep_fn(self, batch, training):
        """None, or a hashed_keep_mask function (t -> bool (B, H)) when training with dropout."""
        if not (training and self.recurrent_dropout_keep < 1.0):
            return None
        return hashed_keep_mask(self.seed_generator.next(), batch, self.units,
                                self.recurrent_dropout_keep)

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
        w_h, w_h_t = matmul_operand(kernel[x_rows:])
        return kernel[:n_in], xp_seq, w_h, w_h_t

    def fast_step(self, inputs, context, states):
        """One inference step (no dropout) on the per-step inputs only; see step_context."""
        w_x, xp_seq, w_h, w_h_t = context
        h, c = states
        pre = (tf.linalg.matmul(ops.cast(inputs, self.compute_dtype), w_x) + xp_seq
               + matmul(h, w_h, transpose_b=w_h_t))  # (B, 4H)
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
                                  recompute)
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
