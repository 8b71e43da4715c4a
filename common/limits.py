"""Upper bounds on sizes read from files, exports and requests, checked before anything allocates."""

import numbers

from common.errors import DataError

# Each bound is far above every real model and data set (Google's sketch models: max_seq_len
# <= 250, decoder 2048 units, z 128, 20 mixtures) and far below what would exhaust memory.
MAX_SEQ_LEN = 10_000  # Points of a sketch that a model reads or writes.
MAX_UNITS = 8192  # RNN units, layer widths, channels, kernel sizes.
MAX_LATENT = 4096  # z, content and style latent sizes.
MAX_MIXTURE = 100  # Mixture components.
MAX_BATCH = 100_000  # Examples per step or per call of a SavedModel.
MAX_SAMPLES = 10_000  # Sketches or images asked for in one call.
MAX_CALL_POINTS = 10_000_000  # Sketches x points of one call's padded input or output.
MAX_POINTS = 1_000_000  # Points of one drawing read from a file.
MAX_IMAGE_SIDE = 8192  # A model's image side.
MAX_IMAGE_PIXELS = 64_000_000  # Declared width x height of an image file (about 8000 x 8000).
MAX_LAYERS = 1000  # Repeated blocks of a network.
MAX_STEPS = 10**9  # Training steps, step intervals and example counts.

# Config and metadata fields of any model -> their bound (checked where configs are built).
FIELD_BOUNDS = {
    "max_seq_len": MAX_SEQ_LEN,
    "batch_size": MAX_BATCH,
    "enc_rnn_size": MAX_UNITS, "dec_rnn_size": MAX_UNITS, "hyper_num_units": MAX_UNITS,
    "hyper_embedding_size": MAX_UNITS,
    "encoder_channels": MAX_UNITS, "decoder_channels": MAX_UNITS, "style_hidden": MAX_UNITS,
    "disc_hidden": MAX_UNITS, "conv_channels": MAX_UNITS, "conv_kernels": MAX_UNITS,
    "conv1_stride": MAX_UNITS, "dense_units": MAX_UNITS,
    "z_size": MAX_LATENT, "content_dim": MAX_LATENT, "style_dim_per_layer": MAX_LATENT,
    "num_mixture": MAX_MIXTURE,
    "image_size": MAX_IMAGE_SIDE,
    "num_res_blocks": MAX_LAYERS,
    "num_steps": MAX_STEPS, "save_every": MAX_STEPS, "eval_every": MAX_STEPS,
    "log_every": MAX_STEPS, "tfds_max_examples": MAX_STEPS,
}


def check(value, bound, what):
    """Returns int `value` when it is a whole number in [0, bound]; else a one-line DataError.

    `what` names the value and where it came from, e.g. "sheep.gen.json: info max_seq_len".
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DataError(f"{what} {value!r:.80} is not an integer")
    if not 0 <= value <= bound:
        raise DataError(f"{what} {value} is out of range (at most {bound:,})")
    return int(value)


def check_fields(fields, where):
    """Checks the FIELD_BOUNDS fields of a config or metadata dict (ints or lists of ints)."""
    for name, bound in FIELD_BOUNDS.items():
        if name in fields:
            value = fields[name]
            for v in (value if isinstance(value, (list, tuple)) else [value]):
                check(v, bound, f"{where} {name}")
