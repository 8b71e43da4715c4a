"""Shared trainer checks: a run's artefacts, exact resume, refusals, exports that load without us."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from common.errors import WorkdirError
from tests.support.isolation import BLOCK_PACKAGE

# The trainer CLIs at their testing configs (the reliability suite's reference runs and kills).
REFERENCE_STEPS = 4
TRAINERS = {
    "sketch_rnn": ["scripts.train_sketch_rnn", "--config=testing", "--dataset=builtin"],
    "wae_style": ["scripts.train_wae_style", "--config=testing", "--data_dir=builtin",
                  "--vgg_weights=random"],
}


def checkpoint_values(workdir, folder="checkpoints", prefix=None):
    """Every value of the latest checkpoint in workdir/folder, by name (optionally only names
    starting with `prefix`), without the object graph and the save counter."""
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(workdir / folder)))
    names = sorted(n for n in reader.get_variable_to_shape_map()
                   if n != "_CHECKPOINTABLE_OBJECT_GRAPH" and not n.startswith("save_counter")
                   and (prefix is None or n.startswith(prefix)))
    return {n: reader.get_tensor(n) for n in names}


def summary_tags(workdir, split):
    """The TensorBoard tags written under workdir/events/split."""
    files = list((workdir / "events" / split).glob("events.out.tfevents.*"))
    assert files, f"no event file in {workdir / 'events' / split}"
    return {v.tag for f in files for e in tf.compat.v1.train.summary_iterator(str(f))
            for v in e.summary.value}


def check_run_artefacts(workdir, config, best=False):
    """A finished run left a checkpoint, train/valid events, the export, config.json equal
    to the config, and no lock; `best`: a best-on-validation checkpoint too."""
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    if best:
        assert tf.train.latest_checkpoint(str(workdir / "best"))
    for split in ("train", "valid"):
        assert list((workdir / "events" / split).glob("events.out.tfevents.*")), split
    assert (workdir / "export" / "saved_model.pb").exists()
    assert (workdir / "export" / "metadata.json").exists()
    assert json.loads((workdir / "config.json").read_text()) == config.to_dict()
    assert not (workdir / ".lock").exists()


def check_resume_equals_uninterrupted(train, make_config, tmp_path, steps, prefix=None, **kw):
    """`steps` steps in one run equal steps - 1, then a resumed run to `steps` (every
    checkpointed value, to float tolerance). Returns the values of the uninterrupted run."""
    train(make_config(num_steps=steps, save_every=steps, **kw), tmp_path / "full")
    train(make_config(num_steps=steps - 1, save_every=1, **kw), tmp_path / "split")
    train(make_config(num_steps=steps, save_every=1, **kw), tmp_path / "split")
    a = checkpoint_values(tmp_path / "full", prefix=prefix)
    b = checkpoint_values(tmp_path / "split", prefix=prefix)
    assert a.keys() == b.keys() and a
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)
    return a


def skip_exports(monkeypatch, export_lib):
    """Trainers save without writing SavedModels (an empty export/): for tests of checkpoints
    and resume, where the export, tested on its own, would take most of the time."""
    monkeypatch.setattr(export_lib, "export", lambda *args, **kwargs: None)


def check_incompatible_config_refused(train, config, workdir, **change):
    """Another config in the same workdir is refused with a clear WorkdirError."""
    with pytest.raises(WorkdirError, match="different config"):
        train(dataclasses.replace(config, **change), workdir)


def run_export_without_package(export_dir, body, cwd):
    """Runs `body` (Python; `m` is the loaded export) where this package cannot be imported;
    returns its stdout."""
    code = BLOCK_PACKAGE + "import json\nimport numpy as np\nimport tensorflow as tf\n" + (
        f"m = tf.saved_model.load({str(export_dir)!r})\n") + textwrap.dedent(body)
    env = dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def one_step_run(train, config, tmp_path_factory, name):
    """A finished 1-step run of `config` in a fresh folder: (config, workdir, last metrics)."""
    workdir = tmp_path_factory.mktemp(name)
    config = dataclasses.replace(config, num_steps=1)
    return config, workdir, train(config, workdir)
