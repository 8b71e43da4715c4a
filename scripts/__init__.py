"""Thin absl entry points: parse flags, build the config, call the library."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF's C++ INFO / WARNING lines.


def _import_tensorflow_quietly():
    """Imports TensorFlow and probes its devices with stderr (fd 2) muted.

    TensorFlow's C++ start-up lines (oneDNN notes, CUDA probing on a machine without a GPU)
    are written before its log level applies; a user of the scripts sees only their own
    output. Errors raised here still reach the user once stderr is back.
    """
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


_import_tensorflow_quietly()
