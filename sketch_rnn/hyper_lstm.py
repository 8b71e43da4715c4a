"""magenta's HyperLSTM cell as a Keras RNN cell: a small hyper LSTM scales the main LSTM's gates."""

import keras
import tensorflow as tf
from keras import ops

from sketch_rnn.initializers import BlockOrthogonal
from sketch_rnn.lstm import (
    DropoutCellMixin, LayerNormLSTMCell, LSTMCell, check_cell_args, layer_norm_blocks)
from sketch_rnn.precision import matmul
from sketch_rnn.recurrence import project_inputs, time_array

HYPER_INIT_GAMMA = 0.10  # magenta hyper_norm: alpha starts at 0.1 (recurrent batch norm trick).


@keras.saving.register_keras_serializable(package="sketchstyle")
class HyperLSTMCell(DropoutCellMixin, keras.layers.Layer):
    """HyperLSTM with layer norm and recurrent dropout, exactly as magenta's rnn.py.

    The hyper cell (LayerNorm LSTM, or plain LSTM without layer norm) reads [x; h] and
    outputs h_hat. For each gate block k in (i, j, f, o):
        x_k = alpha_x,k(h_hat) * (W_xh x)_k,  alpha = (h_hat @ Zw + bw) @ A  (no bias),
        h_k = alpha_h,k(h_hat) * (W_hh h)_k + beta_k(h_hat),  beta = (h_hat @ Zb) @ Bt,
        gate_k = x_k + h_k + b_k,
    then layer norm on each gate block (use_layer_norm), g = dropout(tanh(j)),
    c' = c * sigmoid(f + forget_bias) + sigmoid(i) * g, h' = tanh(LN(c')) * sigmoid(o).
    As in magenta, LN(c') is applied even when use_layer_norm is False.

    State order: [h, h_hyper, c, c_hyper]
    (`state_size` = [units, hyper_num_units, units, hyper_num_units]). `run_sequence`
    runs a whole sequence with both input projections hoisted out of the recurrence.

    Args:
        units: hidden size H of the main LSTM.
        hyper_num_units: hidden size of the hyper LSTM.
        hyper_embedding_size: size E of the embeddings the hyper LSTM emits.
        forget_bias: added to the forget gate pre-activation.
        recurrent_dropout_keep: keep probability of g when training (1.0 = off).
        use_layer_norm: layer norm on the main gates, and a LayerNorm hyper cell.
        hyper_use_recurrent_dropout: recurrent dropout inside the hyper cell too.
        seed: int seed of the dropout SeedGenerators.
        matmul_dtype: operand dtype of the matmuls with the recurrent kernels and of the
            hyper cell's: "float32", "bfloat16" or "auto" (resolved here, see
            sketch_rnn.precision).
        **kwargs: keras.layers.Layer arguments.

    Reference:
        Ha, Dai & Le 2016, "HyperNetworks" (arXiv 1609.09106);
        magenta/models/sketch_rnn/rnn.py, HyperLSTMCell.
    """

    def __init__(self, units, hyper_num_units=256, hyper_embedding_size=32, forget_bias=1.0,
                 recurrent_dropout_keep=1.0, use_layer_norm=True,
                 hyper_use_recurrent_dropout=False, seed=None, matmul_dtype="float32",
                 **kwargs):
        super().__init__(**kwargs)
        check_cell_args(units, recurrent_dropout_keep)
        if hyper_num_units < 1 or hyper_embedding_size < 1:
            raise ValueError(f"hyper_num_units={hyper_num_units} and hyper_embedding_size="
                             f"{hyper_embedding_size} must be positive")
        self.units = units
        self.hyper_num_units = hyper_num_units
        self.hyper_embedding_size = hyper_embedding_size
        self.forget_bias = forget_bias
        self.recurrent_dropout_keep = recurrent_dropout_keep
        self.use_layer_norm = use_layer_norm
        self.hyper_use_recurrent_dropout = hyper_use_recurrent_dropout
        self.seed = seed
        self._set_matmul_dtype(matmul_dtype)
        self.state_size = [units, hyper_num_units, units, hyper_num_units]
        self.output_size = units
        self._make_seed_generator()
        hyper_cls = LayerNormLSTMCell if use_layer_norm else LSTMCell
        self.hyper_cell = hyper_cls(
            hyper_num_units,
            recurrent_dropout_keep=recurrent_dropout_keep if hyper_use_recurrent_dropout else 1.0,
            seed=None if seed is None else seed + 1, matmul_dtype=self.matmul_dtype,
            name="hyper_cell")

    def build(self, input_shape):
        x_size = input_shape[-1]
        n, nh, e = self.units, self.hyper_num_units, self.hyper_embedding_size
        self.kernel = self.add_weight(
            shape=(x_size, 4 * n), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(
            shape=(n, 4 * n), initializer=BlockOrthogonal(4), name="recurrent_kernel")
        self.bias = self.add_weight(shape=(4 * n,), initializer="zeros", name="bias")
        self.hyper_cell.build((input_shape[0], x_size + n))
        # Blocks 0-3 scale W_xh x (i, j, f, o), blocks 4-7 scale W_hh h.
        self.zw_kernel = self.add_weight(shape=(nh, 8, e), initializer="zeros", name="zw_kernel")
        self.zw_bias = self.add_weight(shape=(8, e), initializer="ones", name="zw_bias")
        self.alpha_kernel = self.add_weight(
            shape=(8, e, n), initializer=keras.initializers.Constant(HYPER_INIT_GAMMA / e),
            name="alpha_kernel")
        # Dynamic bias for the 4 W_hh h blocks.
        self.zb_kernel = self.add_weight(
            shape=(nh, 4, e), initializer=keras.initializers.RandomNormal(stddev=0.01),
            name="zb_kernel")
        self.beta_kernel = self.add_weight(
            shape=(4, e, n), initializer="zeros", name="beta_kernel")
        if self.use_layer_norm:
            self.ln_gamma = self.add_weight(shape=(4 * n,), initializer="ones", name="ln_gamma")
            self.ln_beta = self.add_weight(shape=(4 * n,), initializer="zeros", name="ln_beta")
        self.ln_c_gamma = self.add_weight(shape=(n,), initializer="ones", name="ln_c_gamma")
        self.ln_c_beta = self.add_weight(shape=(n,), initializer="zeros", name="ln_c_beta")

    def _hyper_bias(self):
        cell = self.hyper_cell
        return tf.convert_to_tensor(cell.bias) if isinstance(cell, LSTMCell) else None

    def _keep_masks(self, shape, training):
        """Dropout multipliers of g for the main and the hyper cell (None when off)."""
        return (self._keep_mask(tuple(shape) + (self.units,), training),
                self.hyper_cell._keep_mask(tuple(shape) + (self.hyper_num_units,), training))

    def _weights(self):
        """The step's weights as tensors, by name (explicit inputs of the custom gradient)."""
        hyper = self.hyper_cell
        hyper_kernel = tf.convert_to_tensor(hyper.kernel)
        x_rows = hyper_kernel.shape[0] - self.units - self.hyper_num_units
        w = {"hyper_recurrent": hyper_kernel[x_rows:]}
        names = ["recurrent_kernel", "zw_kernel", "zw_bias", "alpha_kernel", "zb_kernel",
                 "beta_kernel", "bias", "ln_c_gamma", "ln_c_beta"]
        if self.use_layer_norm:
            names += ["ln_gamma", "ln_beta"]
        w.update({k: tf.convert_to_tensor(getattr(self, k)) for k in names})
        w.update({f"hyper_param_{i}": p for i, p in enumerate(hyper._params())})
        return w

    def _step(self, xh, hyper_xp, states, keep, hyper_keep, w=None):
        """One step from the input projections xh = x @ W_xh (B, 4H), hyper_xp (B, 4Nh).

        w: the weights by name (`_weights()`, the default).
        """
        w = self._weights() if w is None else w
        h, h_hyper, c, c_hyper = states
        n = self.units
        hyper = self.hyper_cell
        n_hyper_params = sum(k.startswith("hyper_param_") for k in w)
        hyper_params = tuple(w[f"hyper_param_{i}"] for i in range(n_hyper_params))
        hyper_pre = hyper_xp + matmul(ops.concatenate([h, h_hyper], axis=-1),
                                      w["hyper_recurrent"], self.matmul_dtype)  # (B, 4Nh)
        hyper_out, new_c_hyper = hyper._pointwise(hyper_pre, c_hyper, hyper_keep, hyper_params)
        new_h_hyper = hyper_out

        xh = ops.reshape(xh, (-1, 4, n))  # (B, 4, H)
        hh = ops.reshape(matmul(h, w["recurrent_kernel"], self.matmul_dtype),
                         (-1, 4, n))  # (B, 4, H)
        zw = ops.einsum("bu,uke->bke", hyper_out, w["zw_kernel"]) + w["zw_bias"]  # (B, 8, E)
        alpha = ops.einsum("bke,ken->bkn", zw, w["alpha_kernel"])  # (B, 8, H)
        zb = ops.einsum("bu,uke->bke", hyper_out, w["zb_kernel"])  # (B, 4, E)
        beta = ops.einsum("bke,ken->bkn", zb, w["beta_kernel"])  # (B, 4, H)
        bias = ops.reshape(w["bias"], (4, n))  # (4, H)
        gates = alpha[:, :4] * xh + alpha[:, 4:] * hh + beta + bias  # (B, 4, H)
        gates = ops.reshape(gates, (-1, 4 * n))  # (B, 4H)
        if self.use_layer_norm:
            gates = layer_norm_blocks(gates, 4, w["ln_gamma"], w["ln_beta"])
        i, j, f, o = ops.split(gates, 4, axis=-1)
        g = ops.tanh(j)
        if keep is not None:
            g = g * keep
        new_c = c * ops.sigmoid(f + self.forget_bias) + ops.sigmoid(i) * g
        ln_c = layer_norm_blocks(new_c, 1, w["ln_c_gamma"], w["ln_c_beta"])
        new_h = ops.tanh(ln_c) * ops.sigmoid(o)
        return new_h, [new_h, new_h_hyper, new_c, new_c_hyper]

    def call(self, inputs, states, training=None):
        xh = matmul(inputs, tf.convert_to_tensor(self.kernel), self.matmul_dtype)  # (B, 4H)
        hyper_xp = project_inputs(inputs[None], tf.convert_to_tensor(self.hyper_cell.kernel),
                                  self._hyper_bias(), None, self.matmul_dtype)[0]  # (B, 4Nh)
        keep, hyper_keep = self._keep_masks(ops.shape(inputs)[:1], training)
        return self._step(xh, hyper_xp, list(states), keep, hyper_keep)

    def step_context(self, constants, n_in, batch):
        """Per-sequence work of `fast_step` (see LSTMCell.step_context)."""
        kernel = tf.convert_to_tensor(self.kernel)
        hyper_kernel = tf.convert_to_tensor(self.hyper_cell.kernel)
        hyper_rows = hyper_kernel.shape[0] - self.units - self.hyper_num_units
        xh_seq = tf.zeros(tf.stack([batch, 4 * self.units]), self.compute_dtype)  # (B, 4H)
        hyper_seq = tf.zeros(tf.stack([batch, 4 * self.hyper_num_units]),
                             self.compute_dtype)  # (B, 4Nh)
        if constants is not None:
            constants = ops.cast(constants, self.compute_dtype)
            xh_seq = xh_seq + tf.linalg.matmul(constants, kernel[n_in:])
            hyper_seq = hyper_seq + tf.linalg.matmul(constants, hyper_kernel[n_in:hyper_rows])
        if self._hyper_bias() is not None:
            hyper_seq = hyper_seq + self._hyper_bias()
        return kernel[:n_in], xh_seq, hyper_kernel[:n_in], hyper_seq

    def fast_step(self, inputs, context, states):
        """One inference step (no dropout) on the per-step inputs only."""
        w_x, xh_seq, hyper_w_x, hyper_seq = context
        inputs = ops.cast(inputs, self.compute_dtype)
        return self._step(tf.linalg.matmul(inputs, w_x) + xh_seq,
                          tf.linalg.matmul(inputs, hyper_w_x) + hyper_seq, list(states),
                          None, None)

    def run_sequence(self, inputs, initial_state, training=False, constants=None,
                     lengths=None, return_sequence=True, recompute=False):
        """Runs the cell over a whole time-major sequence (see LSTMCell.run_sequence).

        The recurrence is one tf.while_loop with a step-checkpointed backward pass (see
        `_scan`); `recompute` is accepted for API compatibility and ignored (every step
        is recomputed in the backward pass anyway).

        Args:
            inputs: (T, B, Xi) time-major inputs.
            initial_state: [h, h_hyper, c, c_hyper].
            training: enables recurrent dropout.
            constants: optional (B, Xc) inputs appended to every step's input.
            lengths: optional (B,) steps per sequence for the returned final state.
            return_sequence: return the outputs of every step (else None).

        Returns:
            (outputs (T, B, H) or None, final states in state order).
        """
        del recompute
        inputs = ops.cast(inputs, self.compute_dtype)
        if constants is not None:
            constants = ops.cast(constants, self.compute_dtype)
        xh = project_inputs(inputs, tf.convert_to_tensor(self.kernel), None, constants,
                            self.matmul_dtype)  # (T, B, 4H)
        hyper_xp = project_inputs(inputs, tf.convert_to_tensor(self.hyper_cell.kernel),
                                  self._hyper_bias(), constants,
                                  self.matmul_dtype)  # (T, B, 4Nh)
        keep, hyper_keep = self._keep_masks(tuple(ops.shape(inputs)[:2]), training)
        states = [ops.cast(s, self.compute_dtype) for s in initial_state]
        last = None if lengths is None else (tf.cast(lengths, tf.int32) - 1)[:, None]  # (B, 1)
        outs, *finals = self._scan(xh, hyper_xp, states, keep, hyper_keep, last)
        return (outs if return_sequence else None), finals

    def _scan(self, xh, hyper_xp, states, keep, hyper_keep, last):
        """The recurrence with a step-checkpointed backward pass.

        The forward loop saves only the four states of every step; the backward loop
        recomputes each step from the states before it and differentiates that one step.
        Memory is O(T * B * (2H + 2Nh)) instead of every intermediate of every step (about
        40 GB for paper() at batch 100 under TF autodiff), for one more forward pass.

        Args:
            xh: (T, B, 4H) and hyper_xp: (T, B, 4Nh) input projections.
            states: [h, h_hyper, c, c_hyper] initial states.
            keep, hyper_keep: (T, B, H) / (T, B, Nh) dropout multipliers or None.
            last: (B, 1) index of each sequence's last step, or None for T - 1.

        Returns:
            [hs (T, B, H), final states in state order].
        """
        w = self._weights()
        names = sorted(w)

        def read(array, t):
            return None if array is None else array.read(t)

        @tf.custom_gradient
        def scan(xh, hyper_xp, *flat):
            states0, flat_w = list(flat[:4]), list(flat[4:])
            weights = dict(zip(names, flat_w))
            steps = tf.shape(xh)[0]
            xs, hxs = time_array(xh), time_array(hyper_xp)
            ks = None if keep is None else time_array(keep)
            hks = None if hyper_keep is None else time_array(hyper_keep)
            saved = [tf.TensorArray(s.dtype, size=steps, element_shape=s.shape,
                                    clear_after_read=False) for s in states0]

            def body(t, st, finals, saved):
                _, st = self._step(xs.read(t), hxs.read(t), st, read(ks, t), read(hks, t),
                                   weights)
                if last is None:
                    finals = st
                else:
                    finals = [tf.where(last == t, s, f) for s, f in zip(st, finals)]
                return t + 1, st, finals, [a.write(t, s) for a, s in zip(saved, st)]

            _, _, finals, saved = tf.while_loop(
                lambda t, *_: t < steps, body, (tf.constant(0), states0, states0, saved),
                maximum_iterations=steps)

            def grad(dhs, *dfinals):
                dfinals = [tf.zeros_like(s) if d is None else d for d, s in zip(dfinals, states0)]
                dhs_a = None if dhs is None else time_array(dhs)

                def back(i, dst, dw, dxs, dhxs):
                    t = steps - 1 - i
                    dst = list(dst)
                    if last is not None:
                        dst = [d + tf.where(last == t, f, 0.0) for d, f in zip(dst, dfinals)]
                    if dhs_a is not None:
                        dst[0] = dst[0] + dhs_a.read(t)
                    prev = [tf.where(t > 0, a.read(tf.maximum(t - 1, 0)), s0)
                            for a, s0 in zip(saved, states0)]  # states after step t - 1
                    x_t, hx_t = xs.read(t), hxs.read(t)
                    with tf.GradientTape() as tape:
                        tape.watch([x_t, hx_t] + prev + flat_w)
                        _, new = self._step(x_t, hx_t, prev, read(ks, t), read(hks, t),
                                            weights)
                    g = tape.gradient(new, [x_t, hx_t] + prev + flat_w, output_gradients=dst,
                                      unconnected_gradients=tf.UnconnectedGradients.ZERO)
                    dw = [a + b for a, b in zip(dw, g[6:])]
                    return i + 1, g[2:6], dw, dxs.write(t, g[0]), dhxs.write(t, g[1])

                carry0 = ([tf.zeros_like(s) for s in states0] if last is not None
                          else list(dfinals))  # Without lengths every sequence ends at T - 1.
                init = (tf.constant(0), carry0, [tf.zeros_like(v) for v in flat_w],
                        tf.TensorArray(xh.dtype, size=steps, element_shape=xh.shape[1:]),
                        tf.TensorArray(hyper_xp.dtype, size=steps,
                                       element_shape=hyper_xp.shape[1:]))
                _, dst, dw, dxs, dhxs = tf.while_loop(lambda i, *_: i < steps, back, init,
                                                      maximum_iterations=steps)
                if last is not None:  # Empty sequences: the final state is the initial one.
                    dst = [d + tf.where(last < 0, f, 0.0) for d, f in zip(dst, dfinals)]
                return [dxs.stack(), dhxs.stack()] + list(dst) + dw

            return [saved[0].stack()] + list(finals), grad

        return scan(xh, hyper_xp, *states, *[w[k] for k in names])

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units, hyper_num_units=self.hyper_num_units,
            hyper_embedding_size=self.hyper_embedding_size, forget_bias=self.forget_bias,
            recurrent_dropout_keep=self.recurrent_dropout_keep,
            use_layer_norm=self.use_layer_norm,
            hyper_use_recurrent_dropout=self.hyper_use_recurrent_dropout, seed=self.seed,
            matmul_dtype=self.matmul_dtype)
        return config
