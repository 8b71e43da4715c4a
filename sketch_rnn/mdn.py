"""The mixture density head of Sketch RNN: a dense map to 6M + 3 parameters, and their layout."""

import keras
import tensorflow as tf
from keras import ops

from sketch_rnn.configs import resolve_matmul_dtype
from sketch_rnn.precision import matmul


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
        matmul_dtype: operand dtype of the matmul: "float32", "bfloat16" or "auto"
            (resolved here, see sketch_rnn.precision).
        **kwargs: keras.layers.Layer arguments.

    Reference:
        Ha & Eck 2017, "A Neural Representation of Sketch Drawings" (arXiv 1704.03477),
        eqs. 3-5; magenta/models/sketch_rnn/model.py (output_w, output_b).
    """

    def __init__(self, num_mixture, matmul_dtype="float32", **kwargs):
        super().__init__(**kwargs)
        if num_mixture < 1:
            raise ValueError(f"num_mixture={num_mixture} must be positive")
        self.num_mixture = num_mixture
        self.matmul_dtype = resolve_matmul_dtype(matmul_dtype)
        self.supports_masking = True  # Per-step map: a sequence mask passes through.

    def build(self, input_shape):
        n_out = mdn_output_size(self.num_mixture)
        self.kernel = self.add_weight(
            shape=(input_shape[-1], n_out), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(n_out,), initializer="zeros", name="bias")

    def call(self, inputs):
        return matmul(inputs, tf.convert_to_tensor(self.kernel), self.matmul_dtype) + self.bias

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (mdn_output_size(self.num_mixture),)

    def get_config(self):
        config = super().get_config()
        config.update(num_mixture=self.num_mixture, matmul_dtype=self.matmul_dtype)
        return config
