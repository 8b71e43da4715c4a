"""Initialisers of magenta's LSTM kernels: block-orthogonal recurrent weights, fused [W_xh; W_hh]."""

import keras
from keras import ops


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
