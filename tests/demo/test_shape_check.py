"""The demo's shape check: scribble negatives, the recognised count, the report and its text."""

import json

import numpy as np
import pytest

from common.strokes import dataset as stroke_data
from demo import shape_check


class FakeScorer:
    """Scores sketch i with the i-th row of `probs`."""

    def __init__(self, class_names, probs):
        self.class_names = list(class_names)
        self.probs = np.asarray(probs, np.float64)

    def score(self, sketches):
        return self.probs[:len(sketches)], None


def test_measure_counts_real_classes_above_the_threshold():
    names = ["circle", "square", shape_check.NOT_A_SHAPE]
    probs = [[0.9, 0.1, 0.0],   # circle, recognised
             [0.5, 0.5, 0.0],   # not confident
             [0.0, 0.05, 0.95],  # confidently not a shape
             [0.1, 0.85, 0.05],  # square, recognised
             [0.8, 0.2, 0.0]]   # circle, exactly at the threshold
    r = shape_check.measure(FakeScorer(names, probs), [np.zeros((2, 3))] * 5, threshold=0.8)
    assert r["n"] == 5 and r["recognised"] == 3 and r["share"] == pytest.approx(0.6)
    assert r["classes"] == {"circle": 2, "square": 1}
    assert [name for name, _ in r["top"]] == ["circle", "circle", shape_check.NOT_A_SHAPE,
                                             "square", "circle"]


def test_scribbles_are_valid_and_seeded():
    a = shape_check.scribbles(50, np.random.default_rng(3))
    b = shape_check.scribbles(50, np.random.default_rng(3))
    assert len(a) == 50 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert all(s.ndim == 2 and s.shape[1] == 3 and s[-1, 2] == 1 and np.isfinite(s).all()
               for s in a)
    assert {len(s) for s in a} & {1, 2} and max(len(s) for s in a) >= 16  # Dots and walks.


def test_negatives_load_as_one_class(tmp_path):
    path = shape_check.write_negatives(tmp_path / f"{shape_check.NOT_A_SHAPE}.npz", seed=0,
                                       n_train=30, n_valid=5, n_test=5)
    splits = stroke_data.load_strokes([str(path)], max_seq_len=64)
    assert splits.class_names == [shape_check.NOT_A_SHAPE]
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (30, 5, 5)


def test_summary_and_caption():
    report = {"threshold": 0.8, "classes": ["circle", "square"],
              "samples": {"0.1": {"n": 4, "recognised": 3, "share": 0.75,
                                  "classes": {"circle": 2, "square": 1}}},
              "held_out_drawings": {"n": 4, "recognised": 4, "share": 1.0},
              "random_scribbles": {"n": 4, "recognised": 0, "share": 0.0}}
    text = "\n".join(shape_check.summary(report))
    assert "tau 0.1: 3/4 recognised (75%): circle 2, square 1" in text
    assert "held-out drawings (control): 4/4 (100%)" in text
    assert "random scribbles (control): 0/4 (0%)" in text
    assert "3/4 samples" in shape_check.caption(report, 0.1)
    assert shape_check.caption(report, 0.9) == "" and shape_check.caption(None, 0.1) == ""
    assert "skipped" in shape_check.summary(None)[0]
    json.dumps(report)  # The report is plain JSON.
