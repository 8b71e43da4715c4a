"""Helpers the absl entry points share: config building from flag values, and a clean error exit."""

import dataclasses
import sys

from absl import flags
from absl import logging

from common.errors import SketchStyleError


def build_config(config_class, name, overrides=(), **fields):
    """Preset `name` of config_class -> "field=value" overrides -> explicit values (None = keep).

    Resolved once, at the end: an "auto" is decided for the final fields, and one that
    was overridden is never measured.
    """
    config = config_class.preset(name, resolve=False)
    if overrides:
        config = config.replace_from_strings(list(overrides))
    explicit = {k: v for k, v in fields.items() if v is not None}
    if explicit:
        config = dataclasses.replace(config, **explicit)
    return config.resolved()


def _one_line(e):
    """An error's message on one line; an OSError with a file as "FILE: reason"."""
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        message = f"{e.filename}: {e.strerror}"
    else:
        message = str(e)
    return " ".join(message.split()) or type(e).__name__


def exit_on_error(fn, *args, **kwargs):
    """Runs fn; the package's own errors, bad values and Ctrl-C end the process with one line."""
    try:
        return fn(*args, **kwargs)
    except (SketchStyleError, ValueError, OSError) as e:  # OSError: e.g. a full disk.
        print(f"error: {_one_line(e)}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt as e:  # Ctrl-C: every write is atomic, so nothing half-written is left.
        exit_code = getattr(e, "exit_code", None)
        if exit_code is not None:  # A trainer stopped by a signal after saving its step.
            print(f"stopped: {e}", file=sys.stderr, flush=True)
            sys.exit(exit_code)
        print("interrupted; files already written are kept whole (a trainer resumes from its "
              "last checkpoint when the same command is rerun)", file=sys.stderr, flush=True)
        sys.exit(130)


def quiet_logging():
    """INFO chatter from TF's Python side is hidden unless --verbosity was given."""
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
