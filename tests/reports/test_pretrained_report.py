"""The pretrained-models report: one-line errors for bad arguments, its tables, a tiny real run."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from common.errors import DataError
from reports.pretrained import figures as F
from reports.pretrained import inputs as I
from reports.pretrained import markdown as MD
from reports.pretrained import measures as M
from reports.pretrained import report as R
from tests.support import shared_file

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _one_line_error(fn, *args, match, **kwargs):
    with pytest.raises(DataError, match=match) as err:
        fn(*args, **kwargs)
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.fixture
def folders(tmp_path):
    """A models folder with one (fake) model and a sketches folder with its raw class file."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "sheep.gen.json").write_text("[]")
    sketches = tmp_path / "sketches"
    (sketches / "quickdraw_exupery_raw_more").mkdir(parents=True)
    (sketches / "quickdraw_exupery_raw_more" / "sheep.ndjson").write_text("")
    return models, sketches


def test_bad_folders_give_one_line_errors(folders, tmp_path):
    models, sketches = folders
    missing = tmp_path / "nowhere"
    assert str(missing) in _one_line_error(I.find_models, missing, match="no such folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(I.find_models, empty, match="no .gen.json files")
    _one_line_error(I.find_models, models, ["sheep", "cat"], match="no cat.gen.json.*has sheep")
    assert list(I.find_models(models)) == ["sheep"]

    _one_line_error(I.find_class_files, missing, ["sheep"], match="no such folder")
    _one_line_error(I.find_class_files, empty, ["sheep"], match="quickdraw_exupery_raw/ or")
    _one_line_error(I.find_class_files, sketches, ["sheep", "cat", "dog"],
                    match="no raw drawings for cat, dog")
    assert I.find_class_files(sketches, ["sheep"])["sheep"].name == "sheep.ndjson"
    _one_line_error(I.aaron_sheep_file, sketches, match="aaron_sheep.npz.*--noaaron_sheep")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    _one_line_error(I.check_out, a_file, match="not a folder")


@pytest.mark.parametrize("kwargs, match", [
    ({"samples_shown": 0}, "--samples_shown=0"),
    ({"completion_n": 0}, "--completion_n=0"),
    ({"cell": 4}, "--cell=4"),
    ({"model_names": ["cat"]}, "no cat.gen.json"),
    ({"classes": ["sheep", "cat"]}, "no raw drawings for cat"),
    ({}, "aaron_sheep.npz"),  # aaron_sheep is on by default and the file is missing.
])
def test_run_checks_everything_before_any_work(folders, tmp_path, kwargs, match):
    models, sketches = folders
    out = tmp_path / "out"
    _one_line_error(R.run, models, sketches, out, match=match, **kwargs)
    assert not out.exists()


def test_aaron_sheep_part_needs_the_sheep_model(folders, tmp_path):
    models, sketches = folders
    (models / "sheep.gen.json").rename(models / "key.gen.json")
    (sketches / "quickdraw_exupery_raw_more" / "key.ndjson").write_text("")
    (sketches / "hardmaru_sketch-rnn-datasets").mkdir()
    (sketches / "hardmaru_sketch-rnn-datasets" / "aaron_sheep.npz").write_bytes(b"")
    _one_line_error(R.run, models, sketches, tmp_path / "out", match="needs the sheep model")


def test_script_exits_with_a_one_line_error(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-m", "scripts.report_pretrained",
                           f"--models={tmp_path / 'nowhere'}", f"--out={tmp_path / 'out'}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: --models={tmp_path / 'nowhere'}: no such folder"]
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_tables_rank_and_mark_the_lowest(tmp_path):
    models, classes = ["a", "b", "c"], ["a", "b", "c", "d"]
    matrix = np.array([[1.0, 2.0, 0.5, 3.0],
                       [2.0, 1.5, 0.7, 1.0],
                       [3.0, 1.0, 0.6, 2.0]])
    r = M.ranking(matrix, models, classes)
    assert r["best_model"] == {"a": "a", "b": "c", "c": "a", "d": "b"}
    assert r["own_rank"] == {"a": 1, "b": 2, "c": 2, "d": None}
    assert (r["matched"], r["scored"]) == (1, 3)
    md = MD.confusion_markdown(matrix, models, classes).splitlines()
    assert md[0] == "| model \\ drawings | a | b | c | d |"
    assert md[2] == "| a | **1.00** | 2.00 | **0.50** | 3.00 |"
    assert md[3] == "| b | 2.00 | 1.50 | 0.70 | **1.00** |"
    path = F.confusion_heatmap(matrix, models, classes, tmp_path / "h.png", "t")
    from PIL import Image
    assert Image.open(path).size[0] > 300
    scores = {m: {c: {"mean_nll_offsets": matrix[i, j]} for j, c in enumerate(classes)}
              for i, m in enumerate(models)}
    np.testing.assert_array_equal(M.confusion_matrix(scores, models, classes), matrix)


def test_nan_counts_as_worst_and_weak_files_are_set_apart(tmp_path):
    models = classes = ["a", "b", "c", "d", "e"]
    matrix = np.array([[1.0, 2.0, 1.5, 1.2, 1.1],
                       [1.3, 1.0, 1.6, 1.4, 1.5],
                       [np.nan, 900.0, 50.0, np.nan, 700.0],  # A broken file.
                       [1.1, 1.9, 1.2, 1.0, 1.3],
                       [1.2, 1.8, 1.7, 1.1, 1.4]])
    r = M.ranking(matrix, models, classes)
    assert r["best_model"] == {"a": "a", "b": "b", "c": "d", "d": "d", "e": "a"}
    assert r["own_rank"]["a"] == 1 and r["own_rank"]["c"] == 5 and r["matched"] == 3
    assert MD.confusion_markdown(matrix, models, classes).splitlines()[4] == (
        "| c | nan | 900 | 50.0 | nan | 700 |")
    assert M.weak_models(matrix, models) == ["c"]
    sub, rows, cols = M.subset(matrix, models, classes, ["a", "b", "d", "e"])
    assert sub.shape == (4, 4) and rows == cols == ["a", "b", "d", "e"]
    assert M.ranking(sub, rows, cols)["matched"] == 3  # e loses to a.
    F.confusion_heatmap(matrix, models, classes, tmp_path / "nan.png", "with NaN")


def test_aaron_sheep_views_of_the_nll():
    nll = {"nll_offsets": np.array([1.0, 0.5]), "nll_pen": np.array([0.2, 0.4]),
           "nll": np.array([1.2, 0.9])}
    got = M.aaron_sheep_scores(nll, [10, 30])
    assert got["nll_offsets_mean"] == pytest.approx(0.75)
    assert got["nll_offsets_weighted"] == pytest.approx((10 + 15) / 40)
    assert got["L_s"] == pytest.approx(25 / (2 * 250))
    assert got["nll_pen_weighted"] == pytest.approx((0.2 * 11 + 0.4 * 31) / 42)
    assert got["L_p"] == pytest.approx((0.2 * 11 + 0.4 * 31) / 500)


def test_tiny_real_run_and_a_cheap_rerun(shared_data, tmp_path):
    """One model (key) x two classes; the rerun keeps the import (same sha256). About 18 s."""
    models = shared_file("pretrained_sketch_rnn", "key.gen.json").parent
    sketches = shared_file("sketches", "quickdraw_exupery_raw_more", "key.ndjson").parents[1]
    out = tmp_path / "out"
    kwargs = dict(model_names=["key"], classes=["key", "sheep"], samples_shown=2,
                  samples_stats=2, sample_temperatures=(0.5,), completion_drawings=1,
                  completion_n=1, aaron_sheep=False, sweep_classes=("key",), log=lambda *a: None)
    report = R.run(models, sketches, out, **kwargs)
    assert report["imports"]["key"]["skipped"] is False
    assert set(report["confusion"]["scores"]["key"]) == {"key", "sheep"}
    assert report["confusion"]["ranking_offsets"]["scored"] == 1
    assert report["confusion"]["normaliser"] > 10  # 256-pixel units.
    for name in ("samples", "completions", "confusion", "sweep"):
        assert os.path.getsize(report["figures"][name]) > 1000
    saved = json.loads((out / "report.json").read_text())
    assert saved["models"] == ["key"]
    assert "## Likelihood confusion" in (out / "report.md").read_text()
    again = R.run(models, sketches, out, **kwargs)
    assert again["imports"]["key"]["skipped"] is True
    assert again["confusion"]["scores"] == report["confusion"]["scores"]
