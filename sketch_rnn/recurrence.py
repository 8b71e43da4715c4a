"""The fused LSTM-type recurrence with a hand-written backward pass, and its dropout masks."""

import tensorflow as tf

from sketch_rnn.precision import (
    from_storage, matmul, matmul_operand, storage_dtype, tf_dtype, to_storage)


def time_array(x):
    """A TensorArray holding the rows of x (T, ...) for per-step reads in a while loop."""
    return tf.TensorArray(x.dtype, size=tf.shape(x)[0], element_shape=x.shape[1:],
                          clear_after_read=False).unstack(x)


def keep_multiplier(mask, keep_prob, dtype):
    """None for no mask, else the multipliers of g: 0 where dropped, 1 / keep_prob where kept."""
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
                   keep_prob=1.0, lengths=None, return_sequence=True, recompute=False,
                   matmul_dtype="float32"):
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
        matmul_dtype: operand dtype of the recurrent matmuls, "float32" or "bfloat16"
            (see sketch_rnn.precision).

    Returns:
        (hs (T, B, H) or None, h_last (B, H), c_last (B, H)).
    """
    params = tuple(tf.convert_to_tensor(p) for p in params)
    store = storage_dtype(matmul_dtype)
    if lengths is not None:
        lengths = tf.cast(lengths, tf.int32)

    @tf.custom_gradient
    def scan(x, w_x, xp_seq, w_h, h0, c0, *params):
        steps = tf.shape(x)[0]
        # (B, 1) index of each sequence's last step (-1 for none); None: all end at T - 1.
        last = None if lengths is None else (lengths - 1)[:, None]
        xs = time_array(x)
        if keep_mask is None or callable(keep_mask):
            keep_at = keep_mask
        else:
            keep_at = time_array(keep_mask).read
        wh, wh_t = matmul_operand(w_h, matmul_dtype)
        h_store = h0.dtype if return_sequence else store

        def new_array(dtype, shape, size=steps):
            return tf.TensorArray(dtype, size=size, element_shape=shape, clear_after_read=False)

        def body(t, h, c, h_last, c_last, pres, hs, cs):
            pre = (tf.linalg.matmul(xs.read(t), w_x) + xp_seq
                   + matmul(h, wh, matmul_dtype, transpose_b=wh_t))  # (B, 4H)
            keep = None if keep_at is None else keep_multiplier(keep_at(t), keep_prob, c.dtype)
            h, c = pointwise(pre, c, keep, params)
            if lengths is None:
                h_last, c_last = h, c
            else:
                h_last = tf.where(last == t, h, h_last)
                c_last = tf.where(last == t, c, c_last)
            hs = hs.write(t, h if return_sequence else to_storage(h, matmul_dtype))
            if not recompute:
                pres = pres.write(t, to_storage(pre, matmul_dtype))
            cs = cs.write(t, to_storage(c, matmul_dtype))
            return t + 1, h, c, h_last, c_last, pres, hs, cs

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
            dh_a = None if dhs is None else time_array(dhs)
            w_back, w_back_t = matmul_operand(w_h, matmul_dtype, transpose=True)
            units = tf.shape(h0)[-1]
            chunk = _chunk_size(x.shape[0])
            h_a = time_array(hs)

            def step_back(t, dh_next, dc_next, dparams):
                """One backward step: returns dpre_t and the carried gradients."""
                if recompute:
                    hp = tf.where(t > 0,
                                  from_storage(h_a.read(tf.maximum(t - 1, 0)), h0.dtype),
                                  h0)  # h_{t-1}
                    pre = (tf.linalg.matmul(xs.read(t), w_x) + xp_seq
                           + matmul(hp, wh, matmul_dtype, transpose_b=wh_t))  # (B, 4H)
                else:
                    pre = from_storage(pres.read(t), xp_seq.dtype)
                cp = tf.where(t > 0, from_storage(cs.read(tf.maximum(t - 1, 0)), c0.dtype),
                              c0)  # c_{t-1}
                keep = (None if keep_at is None
                        else keep_multiplier(keep_at(t), keep_prob, cp.dtype))
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
                dh_prev = matmul(dpre, w_back, matmul_dtype, transpose_b=w_back_t)  # (B, H)
                return dpre, dh_prev, dcp, dparams

            def h_prev_rows(start, size):
                """h_{t-1} for t in [start, start + size), h0 for t = 0: (size * B, H)."""
                idx = start - 1 + tf.range(size)
                rows = from_storage(h_a.gather(tf.maximum(idx, 0)), tf_dtype(matmul_dtype))
                rows = tf.where((idx >= 0)[:, None, None], rows,
                                tf.cast(h0, rows.dtype)[None])  # (size, B, H)
                return tf.reshape(rows, (-1, units))

            def weight_grads(start, size, dpres):
                """dw_h, dw_x, dxp and dx (size, B, X) of steps [start, start + size)."""
                dp = tf.reshape(from_storage(dpres, tf_dtype(matmul_dtype)), (-1, 4 * units))
                dw_h = matmul(h_prev_rows(start, size), dp, matmul_dtype,
                              transpose_a=True)  # (H, 4H)
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
                    return i + 1, tuple(carry), dpres.write(t, to_storage(dpre, matmul_dtype))

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
                        dpres = dpres.write(chunk - 1 - j, to_storage(dpre, matmul_dtype))
                        return j + 1, tuple(carry), dpres

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


def project_inputs(inputs, kernel, bias=None, constants=None, matmul_dtype="float32"):
    """Input projections of every step in one matmul: inputs @ W_x (+ constants @ W_c + b).

    Args:
        inputs: (T, B, Xi) time-major inputs; they use kernel rows [0, Xi).
        kernel: (>= Xi + Xc, N); rows past Xi + Xc (e.g. W_hh) are ignored.
        bias: optional (N,).
        constants: optional (B, Xc) inputs that are the same at every step (e.g. z); they
            use kernel rows [Xi, Xi + Xc) and are projected once per sequence.
        matmul_dtype: operand dtype of the matmuls, "float32" or "bfloat16".

    Returns:
        (T, B, N).
    """
    n_in = inputs.shape[-1]
    out = matmul(inputs, kernel[:n_in], matmul_dtype)  # (T, B, N)
    per_seq = None
    if constants is not None:
        per_seq = matmul(constants, kernel[n_in:n_in + constants.shape[-1]],
                         matmul_dtype)  # (B, N)
    if bias is not None:
        per_seq = bias if per_seq is None else per_seq + bias
    return out if per_seq is None else out + per_seq[None]
