"""The Sketch RNN model: bidirectional RNN encoder, z -> state, autoregressive MDN decoder."""

import keras
import tensorflow as tf
from keras import ops

from sketch_rnn.cells import make_cell
from sketch_rnn.configs import SketchRNNConfig
from sketch_rnn.mdn import MixtureDensityHead, split_mixture_params

NUM_INPUTS = 5  # stroke-5.


def lengths_to_mask(lengths, max_len):
    """(B,) int lengths -> (B, max_len) bool mask, True on the first `length` steps."""
    steps = ops.arange(max_len, dtype="int32")
    return steps[None, :] < ops.cast(lengths, "int32")[:, None]  # (B, T)


@keras.saving.register_keras_serializable(package="sketchstyle")
class SketchRNN(keras.Model):
    """Sketch RNN VAE over stroke-5 sequences (or a decoder only when not conditional).

    Inputs are `strokes` (B, T+1, 5) with S0 at index 0 and `lengths` (B,) real points.
    The decoder reads strokes[:, :-1] (with z appended at every step when conditional) and
    predicts strokes[:, 1:]; the encoder reads strokes[:, 1:] masked by `lengths`, so the
    backward direction starts at each sketch's real end.

    The encoder and decoder run through each cell's `run_sequence` (input projections for
    all steps in one matmul, z projected once per sequence, a fused scan); the
    keras.layers.RNN wrappers only own the cells' weights. `decoder_step` uses the cell.

    Outputs (dict): pi_logits, mu_x, mu_y, log_sigma_x, log_sigma_y, rho (tanh applied), each
    (B, T, M); pen_logits (B, T, 3); and, when conditional, mu, presig (sigma_hat), z (B, N_z).
    z = mu + exp(presig / 2) * eps when training, z = mu otherwise.

    Args:
        config: SketchRNNConfig or its dict.
        **kwargs: keras.Model arguments (name, dtype, ...).

    Reference:
        Ha & Eck 2017, "A Neural Representation of Sketch Drawings" (arXiv 1704.03477);
        magenta/models/sketch_rnn/model.py.
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = SketchRNNConfig.from_dict(config)
        self.config = config
        c = config
        # The config's (resolved) matmul dtype goes to every cell.
        cell_kwargs = dict(
            matmul_dtype=c.matmul_dtype,
            forget_bias=c.forget_bias, recurrent_dropout_keep=c.recurrent_dropout_keep,
            hyper_num_units=c.hyper_num_units, hyper_embedding_size=c.hyper_embedding_size,
            use_layer_norm=c.hyper_use_layer_norm,
            hyper_use_recurrent_dropout=c.hyper_use_recurrent_dropout)
        init = keras.initializers.RandomNormal(stddev=c.init_stddev)
        if c.conditional:
            self.enc_fw = keras.layers.RNN(
                make_cell(c.enc_model, c.enc_rnn_size, seed=c.seed + 11, name="enc_fw_cell",
                          **cell_kwargs),
                return_state=True, name="enc_fw")
            self.enc_bw = keras.layers.RNN(
                make_cell(c.enc_model, c.enc_rnn_size, seed=c.seed + 13, name="enc_bw_cell",
                          **cell_kwargs),
                return_state=True, go_backwards=True, name="enc_bw")
            self.enc_mu = keras.layers.Dense(c.z_size, kernel_initializer=init, name="enc_mu")
            self.enc_presig = keras.layers.Dense(
                c.z_size, kernel_initializer=init, name="enc_presig")
        dec_cell = make_cell(c.dec_model, c.dec_rnn_size, seed=c.seed + 17, name="dec_cell",
                             **cell_kwargs)
        self.dec_rnn = keras.layers.RNN(
            dec_cell, return_sequences=True, return_state=True, name="dec_rnn")
        self.state_sizes = list(dec_cell.state_size)
        if c.conditional:
            self.init_state = keras.layers.Dense(
                sum(self.state_sizes), kernel_initializer=init, name="init_state")
            self.eps_seed = keras.random.SeedGenerator(c.seed + 19, name="eps_seed")
        # The head always multiplies in fp32: its outputs are the mixture means and log
        # sigmas, and bf16's 8-bit mantissa there doubles the offsets NLL of Google's sheep
        # on aaron_sheep's test split (0.479 -> 1.009 nats; docs/sketch_rnn.md, "Precision").
        # It is about 6% of a default() step's matmul FLOPs.
        self.head = MixtureDensityHead(c.num_mixture, matmul_dtype="float32", name="mdn_head")
        self.build()

    def build(self, input_shape=None):
        c = self.config
        seq = (None, c.max_seq_len, NUM_INPUTS)
        dec_in = NUM_INPUTS + (c.z_size if c.conditional else 0)
        if c.conditional:
            self.enc_fw.build(seq)
            self.enc_bw.build(seq)
            self.enc_mu.build((None, 2 * c.enc_rnn_size))
            self.enc_presig.build((None, 2 * c.enc_rnn_size))
            self.init_state.build((None, c.z_size))
        self.dec_rnn.build((None, c.max_seq_len, dec_in))
        self.head.build((None, c.dec_rnn_size))
        self.built = True

    @property
    def dec_cell(self):
        """The decoder cell (state order: its `state_size`)."""
        return self.dec_rnn.cell

    # ------------------------------------------------------------------ encoder

    def encode(self, strokes, lengths, training=False):
        """Encodes S_1..S_N.

        Args:
            strokes: (B, T, 5) stroke-5 WITHOUT S0; rows past `lengths` are ignored.
            lengths: (B,) number of real points.
            training: enables recurrent dropout.

        Returns:
            (mu, presig), each (B, N_z).
        """
        if not self.config.conditional:
            raise ValueError("encode() needs a conditional model (config.conditional=True)")
        strokes = ops.cast(strokes, self.compute_dtype)
        lengths = ops.cast(lengths, "int32")
        batch = ops.shape(strokes)[0]
        zeros = [ops.zeros((batch, n), self.compute_dtype) for n in self.enc_fw.cell.state_size]
        x_fw = ops.transpose(strokes, (1, 0, 2))  # (T, B, 5)
        # The backward direction reads each sketch reversed from its real end. Only the
        # final h is kept; the encoder recomputes its gates in the backward pass to save
        # memory (its matmuls are a quarter of the decoder's).
        x_bw = tf.reverse_sequence(x_fw, lengths, seq_axis=0, batch_axis=1)  # (T, B, 5)
        run = dict(training=training, lengths=lengths, return_sequence=False, recompute=True)
        h_fw = self.enc_fw.cell.run_sequence(x_fw, zeros, **run)[1][0]  # (B, He)
        h_bw = self.enc_bw.cell.run_sequence(x_bw, zeros, **run)[1][0]  # (B, He)
        h = ops.concatenate([h_fw, h_bw], axis=-1)  # (B, 2He)
        return self.enc_mu(h), self.enc_presig(h)

    def sample_z(self, mu, presig, training=False):
        """z = mu + exp(presig / 2) * eps (eq. 1) when training, mu otherwise."""
        if not training:
            return mu
        eps = keras.random.normal(ops.shape(mu), dtype=mu.dtype, seed=self.eps_seed)
        return mu + ops.exp(presig / 2.0) * eps

    # ------------------------------------------------------------------ decoder

    def initial_state(self, z_or_batch_size):
        """Decoder initial state, a list in the cell's `state_size` order.

        Args:
            z_or_batch_size: z (B, N_z) -> tanh(Dense(z)) split into the state parts
                (conditional); or a batch size (int or scalar tensor) -> zeros
                (unconditional). An unconditional model given z uses zeros of z's batch.
        """
        arg = z_or_batch_size
        is_z = hasattr(arg, "shape") and len(arg.shape) == 2
        if is_z and self.config.conditional:
            state = ops.tanh(self.init_state(ops.cast(arg, self.compute_dtype)))
            bounds = []
            for n in self.state_sizes[:-1]:
                bounds.append(n + (bounds[-1] if bounds else 0))
            return list(ops.split(state, bounds, axis=-1))
        if self.config.conditional:
            raise ValueError("a conditional model needs z (B, N_z) for its initial state")
        batch = ops.shape(arg)[0] if is_z else arg
        return [ops.zeros((batch, n), dtype=self.compute_dtype) for n in self.state_sizes]

    def _params(self, hidden):
        return split_mixture_params(self.head(hidden), self.config.num_mixture)

    def decoder_step(self, x_t, z, states, training=False):
        """One decoder step.

        Args:
            x_t: (B, 5) previous point S_{i-1}.
            z: (B, N_z), or None for an unconditional model.
            states: list of state tensors (see initial_state).
            training: enables recurrent dropout.

        Returns:
            (params, new_states): params as in call() but (B, M) / (B, 3).
        """
        x_t = ops.cast(x_t, self.compute_dtype)
        if self.config.conditional:
            x_t = ops.concatenate([x_t, ops.cast(z, self.compute_dtype)], axis=-1)  # (B, 5+Nz)
        hidden, new_states = self.dec_cell(x_t, list(states), training=training)
        return self._params(hidden), list(new_states)

    def decoder_stepper(self, z, batch):
        """A decoder step for many calls with the same z (sampling loops).

        z's part of the input projection (and the matmul operand casts) are computed
        once here instead of at every step. Same results as decoder_step.

        Args:
            z: (B, N_z), or None for an unconditional model.
            batch: B.

        Returns:
            step(x_t (B, 5), states) -> (params, new_states), without dropout.
        """
        cell = self.dec_cell
        context = cell.step_context(z if self.config.conditional else None, NUM_INPUTS, batch)

        def step(x_t, states):
            hidden, new_states = cell.fast_step(x_t, context, list(states))
            return self._params(hidden), list(new_states)

        return step

    def decode_sequence(self, x, z, states=None, training=False, lengths=None):
        """Runs the decoder over x with teacher forcing (or over a completion prefix).

        Args:
            x: (B, T, 5) decoder inputs S_0..S_{T-1}.
            z: (B, N_z), or None for an unconditional model.
            states: initial state list; None -> initial_state(z or batch).
            training: enables recurrent dropout.
            lengths: optional (B,) steps to run per sequence; the state is held after
                that, so final_states is each sequence's state after x[:, lengths - 1].

        Returns:
            (params, final_states): params as in call() with (B, T, ...) shapes.
        """
        c = self.config
        x = ops.cast(x, self.compute_dtype)
        if states is None:
            states = self.initial_state(z if c.conditional else ops.shape(x)[0])
        states = [ops.cast(st, self.compute_dtype) for st in states]
        x_tm = ops.transpose(x, (1, 0, 2))  # (T, B, 5)
        hidden, final_states = self.dec_cell.run_sequence(
            x_tm, states, training=training, constants=z if c.conditional else None,
            lengths=lengths)
        raw = ops.transpose(self.head(hidden), (1, 0, 2))  # (B, T, 6M+3)
        return split_mixture_params(raw, c.num_mixture), final_states

    # ------------------------------------------------------------------ model

    def call(self, inputs, training=False):
        strokes = ops.cast(inputs["strokes"], self.compute_dtype)
        x_in, target = strokes[:, :-1], strokes[:, 1:]  # (B, T, 5) each
        if not self.config.conditional:
            params, _ = self.decode_sequence(x_in, None, training=training)
            return params
        mu, presig = self.encode(target, inputs["lengths"], training=training)
        z = self.sample_z(mu, presig, training=training)
        params, _ = self.decode_sequence(x_in, z, training=training)
        return dict(params, mu=mu, presig=presig, z=z)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "dtype": keras.dtype_policies.serialize(self.dtype_policy),
                "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "dtype" in config and isinstance(config["dtype"], dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
