"""A run's workdir layout: the names of config.json, data.json, checkpoints/, best/, export/, events/; reading them back.

TensorFlow-free, so configs can use it; finding checkpoints is in common.training.checkpoints.
"""

import json
import pathlib

from common.errors import DataError

CONFIG = "config.json"  # The resolved config (ConfigBase.to_dict), plus optional sections.
DATA = "data.json"  # What the data was: normaliser, class names, split sizes.
CHECKPOINTS = "checkpoints"  # The latest checkpoints (tf.train.CheckpointManager).
BEST = "best"  # The best checkpoint on validation.
EXPORT = "export"  # The SavedModel of the latest save.
EVENTS = "events"  # TensorBoard.
SOURCE = "source"  # config.json section of an imported model: its file, sha256 and info.


def read_json(path, what):
    """A JSON object from `path`; DataError naming the file and `what` it should hold."""
    path = pathlib.Path(path)
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read the run's {what} ({' '.join(str(e).split())})") from None
    if not isinstance(value, dict):
        raise DataError(f"{path}: the run's {what} is not a JSON object")
    return value


def read_config(workdir, config_cls, kind):
    """(config, its "source" section or None) from a workdir's config.json.

    Args:
      workdir: the run.
      config_cls: a ConfigBase subclass.
      kind: the model's name for messages ("Sketch RNN", "WAE").
    """
    path = pathlib.Path(workdir) / CONFIG
    raw = read_json(path, "config")
    source = raw.pop(SOURCE, None)
    try:
        return config_cls.from_dict(raw), source
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: not a {kind} config ({e})") from None


def read_data_info(workdir):
    """The run's data.json as a dict."""
    return read_json(pathlib.Path(workdir) / DATA, "data info")


def has_export(workdir):
    """True when workdir/export holds a SavedModel."""
    return (pathlib.Path(workdir) / EXPORT / "saved_model.pb").is_file()
