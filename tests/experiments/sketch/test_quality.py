"""Model measures: stroke counts, sample ending, normalisers, whole-pixel and dequantised NLL, a real report."""

import json

import numpy as np
import pytest

from common.errors import DataError
from common.strokes import formats as S
from sketch_rnn import configs
from experiments.sketch import quality
from commands import sketch_files
from sketch_rnn import train
from sketch_rnn.client import SketchModel
from tests.support import trainers

AARON = "sketches/hardmaru_sketch-rnn-datasets/aaron_sheep.npz"


def test_strokes_and_ending():
    a = np.array([[1, 0, 0], [1, 0, 1], [0, 1, 0], [0, 1, 1]], np.float32)  # Two strokes.
    b = np.array([[1, 0, 0], [1, 0, 1], [0, 1, 0]], np.float32)  # The last one unlifted.
    assert quality.num_strokes(a) == 2 and quality.num_strokes(b) == 2
    stats = quality.sample_stats([a, b, np.zeros((5, 3), np.float32)], max_len=5)
    assert stats == {"n": 3, "mean_points": 4.0, "mean_strokes": pytest.approx(5 / 3),
                     "ended": pytest.approx(2 / 3)}


def test_normaliser_choices(shared_data):
    from common.strokes import formats as S
    from commands import sketch_files
    path = shared_data / AARON
    train_split, _ = sketch_files.read_sketches(str(path), "train")
    assert quality.resolve_normaliser("train", path) == pytest.approx(S.scale_factor(train_split))
    assert quality.resolve_normaliser("own", path) is None
    assert quality.resolve_normaliser("18.5", path) == 18.5
    for bad in ("-1", "big"):
        with pytest.raises(DataError, match="--normaliser"):
            quality.resolve_normaliser(bad, path)


def test_measure_writes_a_report_from_an_export(shared_data, tmp_path_factory):
    config, workdir, _ = trainers.one_step_run(
        train.train_and_evaluate, configs.SketchRNNConfig.testing(), tmp_path_factory, "q")
    del config
    out = tmp_path_factory.mktemp("report")
    report = quality.measure([workdir], shared_data / AARON, n=6, max_len=40, out=out, shown=3)
    row = report["models"][workdir.name]
    assert set(row["samples"]) == {"0.1", "0.4", "0.7"}
    assert all(s["n"] == 6 and 0 <= s["ended"] <= 1 for s in row["samples"].values())
    assert row["mean_nll"] == pytest.approx(row["mean_nll_offsets"] + row["mean_nll_pen"])
    # aaron_sheep's offsets are whole pixels, so the dequantised figure is there: the model
    # scored by hand on the same noise, which moves the figure (a little, after one step).
    model = SketchModel(workdir)
    sketches, _ = sketch_files.read_sketches(str(shared_data / AARON), "test")
    noisy = S.dequantise(sketches, np.random.default_rng(0))
    norm = report["normaliser"]
    want = model.log_likelihood(noisy, norm)["nll_offsets"].mean()
    assert row["mean_nll_offsets_dequantised"] == pytest.approx(want, rel=1e-6)
    assert abs(want - row["mean_nll_offsets"]) > 1e-5
    # And as a probability of whole pixels, the client's figure; the dequantised figure
    # bounds it from above (Jensen), up to the quadrature's accuracy.
    discrete = model.log_likelihood(sketches, norm, pixel=1.0)["nll_offsets_discrete"].mean()
    assert row["mean_nll_offsets_discrete"] == pytest.approx(discrete, rel=1e-6)
    assert row["mean_nll_offsets_discrete"] <= want + 2 * np.log(norm) + 1e-3
    assert report["split"]["n"] == 300 and report["max_len"] == 40
    assert json.loads((out / "report.json").read_text())["models"][workdir.name]["path"]
    assert "| 0.4 |" in (out / "report.md").read_text() and (out / "samples.png").stat().st_size
    # testing() is conditional: the split's first n drawings are reconstructed too.
    assert set(row["reconstructions"]) == {"0.1", "0.4", "0.7"}
    assert all(s["n"] == 6 and 0 <= s["ended"] <= 1 and s["mean_points"] <= 40
               for s in row["reconstructions"].values())
    assert row["reconstructed"]["n"] == 6 and row["reconstructed"]["mean_points"] > 0
    text = (out / "report.md").read_text()
    assert "reconstructions of the first 6" in text and text.count("| 0.4 |") == 2
    assert "| model | test nll_offsets | dequantised | whole pixels | nll_pen |" in text
    assert "(300 test drawings) | | | | | | |" in text
    assert len({line.count("|") for line in text.splitlines()[2:]}) == 1  # One table width.
    assert (f"| {row['mean_nll_offsets_dequantised']:.4f} | "
            f"{row['mean_nll_offsets_discrete']:.4f} |") in text
    with pytest.raises(DataError, match="no split 'nope'"):
        quality.measure([workdir], shared_data / AARON, split="nope")


def test_markdown_of_an_unconditional_model_has_no_reconstruction_rows():
    stats = {"n": 4, "mean_points": 10.0, "mean_strokes": 2.0, "ended": 0.5}
    report = {"normaliser": 18.5, "split": stats, "data": "x.npz [test]", "n_samples": 4,
              "max_len": 20, "models": {"m": {"mean_nll_offsets": 0.1, "mean_nll_pen": 0.2,
                                              "samples": {"0.1": stats, "0.7": stats}}}}
    text = quality.markdown(report)
    assert text.count("| m | 0.1000 | 0.2000 | 0.1 | 50% |") == 1 and "reconstructions" not in text
    # The table names the split it scored.
    text = quality.markdown({**report, "split_name": "valid"})
    assert "| model | valid nll_offsets |" in text and "(4 valid drawings)" in text
    # With a dequantised figure every row gets one more cell; a model without it shows "-".
    deq = {**report["models"]["m"], "mean_nll_offsets_dequantised": 0.9}
    assert "whole pixels" not in quality.markdown({**report, "models": {"m": deq}})
    text = quality.markdown({**report, "models": {"m": deq, "old": report["models"]["m"]}})
    rows = text.splitlines()[2:]
    assert len({row.count("|") for row in rows}) == 1, rows  # One width for the table.
    assert "| m | 0.1000 | 0.9000 | 0.2000 | 0.1 | 50% |" in text
    assert "| old | 0.1000 | - | 0.2000 | 0.1 | 50% |" in text and "| | | | | 0.7 | 50% |" in text
    # An export without the mixture signature has no whole-pixel figure: "-" in its column.
    both = {**deq, "mean_nll_offsets_discrete": 6.5}
    text = quality.markdown({**report, "models": {"new": both, "older": deq}})
    assert "| new | 0.1000 | 0.9000 | 6.5000 | 0.2000 |" in text
    assert "| older | 0.1000 | 0.9000 | - | 0.2000 |" in text
