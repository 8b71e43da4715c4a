"""Thin absl entry points: parse flags, build the config, call the library."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Keep TF's C++ start-up noise out of the terminal.
