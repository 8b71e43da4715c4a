"""Finding and loading exported SavedModels by kind, with the metadata check done before loading."""

import json
import logging
import pathlib

from common import limits
from common.errors import DataError


def resolve_export(path):
    """A SavedModel folder from an export folder or a workdir holding export/ (imports no
    TensorFlow, so command lines can check their paths before loading it)."""
    path = pathlib.Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: no such folder")
    if (path / "export" / "saved_model.pb").is_file():
        path = path / "export"
    if not (path / "saved_model.pb").is_file():
        raise DataError(f"{path} is not a SavedModel folder or a workdir with export/")
    return path


def is_export(path):
    """True where `path` is a SavedModel folder or a workdir holding export/ (resolve_export)."""
    path = pathlib.Path(path)
    return any((p / "saved_model.pb").is_file() for p in (path / "export", path))


def side_metadata(export_dir):
    """The metadata.json written beside a SavedModel folder, as a dict; None when it is
    absent, unreadable or not an object. Imports no TensorFlow."""
    try:
        meta = json.loads((pathlib.Path(export_dir) / "metadata.json").read_text())
    except (ValueError, OSError):  # Absent or unreadable.
        return None
    return meta if isinstance(meta, dict) else None


def load_export(path, kind):
    """Loads an export of `kind` ("sketch_rnn", "wae_style", "alexnet"); returns (path, model, meta).

    The metadata.json written beside the export is read first, so the wrong kind is refused
    before any graph is loaded. Only load exports you trust: a SavedModel is code.

    Raises:
        DataError: no SavedModel there, the wrong kind, or no readable metadata signature.
    """
    import tensorflow as tf  # Here, so resolve_export works without it.
    path = resolve_export(path)
    side = side_metadata(path)
    if side is not None and side.get("model") != kind:
        raise DataError(f"{path}: a {side.get('model')!r} export, expected {kind!r}")
    # Inference exports drop the fused recurrence's custom gradients on purpose (see
    # sketch_rnn/export.py); TF warns once per function about that. Hide just those.
    loggers = [tf.get_logger(), logging.getLogger("absl")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        model = tf.saved_model.load(str(path))
    except (OSError, ValueError, tf.errors.OpError) as e:
        raise DataError(f"{path}: cannot load the SavedModel ({type(e).__name__}: {e})") from None
    finally:
        for log, level in zip(loggers, levels):
            log.setLevel(level)
    try:
        meta = json.loads(model.metadata()["json"].numpy())
    except (AttributeError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path}: no readable metadata signature ({e})") from None
    if not isinstance(meta, dict) or meta.get("model") != kind:
        found = meta.get("model") if isinstance(meta, dict) else meta
        raise DataError(f"{path}: a {found!r:.80} export, expected {kind!r}")
    # The clients size their calls from these: bound them before any call allocates.
    limits.check_fields(meta, f"{path}: metadata")
    if isinstance(meta.get("config"), dict):
        limits.check_fields(meta["config"], f"{path}: metadata config")
    return path, model, meta
