"""Keras RNN cells of magenta's sketch_rnn (LSTM, LayerNorm LSTM) and the mixture density head."""

import keras
from keras import ops

LN_EPSILON = 1e-3  # magenta rnn.py layer_norm / layer_norm_all epsilon.


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


class _DropoutCellMixin:
    """Recurrent dropout on the candidate g (magenta: tf.nn.dropout(tanh(j), keep))."""

    def _make_seed_generator(self):
        if self.recurrent_dropout_keep < 1.0:
            self.seed_generator = keras.random.SeedGenerator(self.seed)

    def _dropout_g(self, g, training):
        if training and self.recurrent_dropout_keep < 1.0:
            g = keras.random.dropout(
                g, 1.0 - self.recurrent_dropout_keep, seed=self.seed_generator)
        return g

    def get_initial_state(self, batch_size=None):
        """Zeros for every state part, in `state_size` order."""
        return [ops.zeros((batch_size, n), dtype=self.compute_dtype) for n in self.state_size]


def _check_cell_args(units, recurrent_dropout_keep):
    if units < 1:
        raise ValueError(f"units={units} must be positive")
    if not 0 < recurrent_dropout_keep <= 1:
        raise ValueError(f"recurrent_dropout_keep={recurrent_dropout_keep} must be in (0, 1]")


@keras.saving.register_keras_serializable(package="sketchstyle")
class LSTMCell(_DropoutCellMixin, keras.layers.Layer):
    """magenta's vanilla LSTM cell with orthogonal recurrent init and recurrent dropout on g.

    [i, j, f, o] = [x; h] @ W + b with W = [W_xh; W_hh] one fused (X + H, 4H) kernel,
    g = dropout(tanh(j)),
    c' = c * sigmoid(f + forget_bias) + sigmoid(i) * g, h' = tanh(c') * sigmoid(o).

    State order: [h, c] (`state_size` = [units, units]).

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

    def call(self, inputs, states, training=None):
        h, c = states
        gates = ops.matmul(ops.concatenate([inputs, h], axis=-1), self.kernel) + self.bias  # (B, 4H)
        i, j, f, o = ops.split(gates, 4, axis=-1)
        g = self._dropout_g(ops.tanh(j), training)
        new_c = c * ops.sigmoid(f + self.forget_bias) + ops.sigmoid(i) * g
        new_h = ops.tanh(new_c) * ops.sigmoid(o)
        return new_h, [new_h, new_c]

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, forget_bias=self.forget_bias,
                      recurrent_dropout_keep=self.recurrent_dropout_keep, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="sketchstyle")
class LayerNormLSTMCell(_DropoutCellMixin, keras.layers.Layer):
    """magenta's LayerNorm LSTM: no gate bias, layer norm on each gate block and on c.

    [i, j, f, o] = LN_4([x; h] @ W) with W = [W_xh; W_hh] one fused (X + H, 4H) kernel,
    g = dropout(tanh(j)),
    c' = c * sigmoid(f + forget_bias) + sigmoid(i) * g, h' = tanh(LN(c')) * sigmoid(o).

    State order: [h, c] (`state_size` = [units, units]).

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

    def call(self, inputs, states, training=None):
        h, c = states
        gates = ops.matmul(ops.concatenate([inputs, h], axis=-1), self.kernel)  # (B, 4H)
        gates = layer_norm_blocks(gates, 4, self.ln_gamma, self.ln_beta)
        i, j, f, o = ops.split(gates, 4, axis=-1)
        g = self._dropout_g(ops.tanh(j), training)
        new_c = c * ops.sigmoid(f + self.forget_bias) + ops.sigmoid(i) * g
        ln_c = layer_norm_blocks(new_c, 1, self.ln_c_gamma, self.ln_c_beta)
        new_h = ops.tanh(ln_c) * ops.sigmoid(o)
        return new_h, [new_h, new_c]

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
        return ops.matmul(inputs, self.kernel) + self.bias

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (mdn_output_size(self.num_mixture),)

    def get_config(self):
        config = super().get_config()
        config.update(num_mixture=self.num_mixture)
        return config
