"""make_cell: the Sketch RNN cells (LSTM, LayerNorm LSTM, HyperLSTM) by kind name."""

from sketch_rnn.configs import CELL_KINDS
from sketch_rnn.hyper_lstm import HyperLSTMCell
from sketch_rnn.lstm import LayerNormLSTMCell, LSTMCell


def make_cell(kind, units, *, forget_bias=1.0, recurrent_dropout_keep=1.0, seed=None,
              hyper_num_units=256, hyper_embedding_size=32, use_layer_norm=True,
              hyper_use_recurrent_dropout=False, matmul_dtype="float32", name=None):
    """Builds an RNN cell by kind: "lstm", "layer_norm" or "hyper".

    The hyper_* and use_layer_norm arguments only apply to "hyper"; matmul_dtype
    ("float32", "bfloat16" or "auto") is the cell's matmul precision.
    """
    if kind == "lstm":
        return LSTMCell(units, forget_bias=forget_bias,
                        recurrent_dropout_keep=recurrent_dropout_keep, seed=seed,
                        matmul_dtype=matmul_dtype, name=name)
    if kind == "layer_norm":
        return LayerNormLSTMCell(units, forget_bias=forget_bias,
                                 recurrent_dropout_keep=recurrent_dropout_keep, seed=seed,
                                 matmul_dtype=matmul_dtype, name=name)
    if kind == "hyper":
        return HyperLSTMCell(units, hyper_num_units=hyper_num_units,
                             hyper_embedding_size=hyper_embedding_size,
                             forget_bias=forget_bias,
                             recurrent_dropout_keep=recurrent_dropout_keep,
                             use_layer_norm=use_layer_norm,
                             hyper_use_recurrent_dropout=hyper_use_recurrent_dropout,
                             seed=seed, matmul_dtype=matmul_dtype, name=name)
    raise ValueError(f"unknown cell kind {kind!r}; choose from {', '.join(CELL_KINDS)}")
