"""Tests of sketch_rnn.data: the evaluated subset of a large split."""

import dataclasses
import json
import types

import numpy as np

from common.training import workdir as workdir_lib
from sketch_rnn import data, train
from sketch_rnn.configs import SketchRNNConfig


def test_eval_subset_is_all_or_a_fixed_sorted_draw():
    np.testing.assert_array_equal(data.eval_subset(5, 0, seed=1), np.arange(5))
    np.testing.assert_array_equal(data.eval_subset(5, 9, seed=1), np.arange(5))
    a = data.eval_subset(1000, 100, seed=1)
    assert len(a) == len(set(a)) == 100 and np.all(np.diff(a) > 0) and a.max() < 1000
    np.testing.assert_array_equal(a, data.eval_subset(1000, 100, seed=1))  # The same each time.
    assert not np.array_equal(a, data.eval_subset(1000, 100, seed=2))


def _splits(per_class=200, classes=3):
    rng = np.random.default_rng(0)
    sketches = [np.c_[rng.normal(size=(6, 2)), np.r_[np.zeros(5), 1.0]].astype(np.float32)
                for _ in range(per_class * classes)]
    labels = np.repeat(np.arange(classes), per_class).astype(np.int32)  # Sorted by class.
    return types.SimpleNamespace(train=sketches, train_labels=labels, valid=sketches,
                                 valid_labels=labels, test=[], test_labels=labels[:0])


def test_eval_pipeline_scores_at_most_eval_max_sketches_with_every_class():
    splits = _splits()
    config = SketchRNNConfig.testing()
    assert len(data.eval_pipeline(splits, config).sketches) == 600  # 0: the whole split.
    capped = dataclasses.replace(config, eval_max_sketches=60)
    pipeline = data.eval_pipeline(splits, capped)
    assert len(pipeline.sketches) == 60
    assert set(np.bincount(pipeline.labels)) <= set(range(10, 31))  # Every class, not class 0.
    keep = data.eval_subset(600, 60, capped.seed)
    np.testing.assert_array_equal(pipeline.sketches[3], splits.valid[keep[3]])
    # An empty split falls back to train, capped too.
    assert len(data.eval_pipeline(splits, capped, "test").sketches) == 60


def test_eval_max_sketches_may_change_when_a_run_resumes(tmp_path):
    config = SketchRNNConfig.testing()
    args = (train.RESUMABLE_FIELDS, False, SketchRNNConfig().to_dict())  # As the trainer.
    assert not workdir_lib.check_or_write_config(tmp_path, config.to_dict(), *args)
    changed = dataclasses.replace(config, eval_max_sketches=500).to_dict()
    assert workdir_lib.check_or_write_config(tmp_path, changed, *args)
    # A config.json written before the field existed resumes, with or without a cap.
    old = json.loads((tmp_path / "config.json").read_text())
    del old["eval_max_sketches"]
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert workdir_lib.check_or_write_config(tmp_path, config.to_dict(), *args)
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert workdir_lib.check_or_write_config(tmp_path, changed, *args)
