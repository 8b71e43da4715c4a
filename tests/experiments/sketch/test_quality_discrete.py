"""measure_sketch_models under several discrete temperatures: the default report as before, one
row per (model, τ, setting), and old exports refused in one line."""

import json

import numpy as np
import pytest

from commands import inputs
from common.errors import DataError
from common.strokes import render
from common.strokes import safe_npz
from experiments.sketch import quality
from sketch_rnn import client as client_lib
from sketch_rnn import export as export_lib
from sketch_rnn.client import SketchModel
from tests.support.models import seeded_sketch_rnn

KW = dict(normaliser="10", n=8, seed=3, max_len=40, shown=3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(export, data file): a seeded testing() model (conditional, fp32) and 10 test drawings."""
    model = seeded_sketch_rnn()
    root = tmp_path_factory.mktemp("tiny")
    path = export_lib.export(model, model.config, {"scale_factor": 10.0, "class_names": ["x"]},
                             root / "tiny" / "export")
    rng = np.random.default_rng(7)

    def sketch():
        s = np.zeros((int(rng.integers(6, 25)), 3), np.int16)
        s[:, :2] = rng.integers(-12, 13, size=(len(s), 2))
        s[:, 2] = rng.random(len(s)) < 0.2
        s[-1, 2] = 1
        return s

    data = root / "tiny.npz"
    safe_npz.write_npz(data, {k: [sketch() for _ in range(m)]
                              for k, m in (("train", 20), ("valid", 4), ("test", 10))})
    return path, data


def _grid_labels(monkeypatch):
    """The labels each samples.png is drawn with, as they are drawn."""
    seen = []
    real = render.sketch_grid

    def spy(cells, *args, labels=None, **kw):
        seen.append(list(labels))
        return real(cells, *args, labels=labels, **kw)

    monkeypatch.setattr(render, "sketch_grid", spy)
    return seen


def _stats(n, points, strokes, ended):
    return {"n": n, "mean_points": points, "mean_strokes": strokes, "ended": ended}


# Written by quality.measure before the discrete temperature existed (commit 663cfc2), on the
# `tiny` fixture with KW: the samples' and reconstructions' figures, the NLLs, the table.
PINNED_SAMPLES = {"0.1": _stats(8, 40.0, 12.375, 0.0), "0.4": _stats(8, 40.0, 15.625, 0.0),
                  "0.7": _stats(8, 30.25, 13.5, 0.25)}
PINNED_RECONSTRUCTIONS = {"0.1": _stats(8, 40.0, 6.25, 0.0), "0.4": _stats(8, 40.0, 11.875, 0.0),
                          "0.7": _stats(8, 30.25, 11.375, 0.25)}
PINNED_NLL = {"mean_nll_offsets": 3.0712817668914796, "mean_nll_pen": 0.8255292117595673,
              "mean_nll": 3.8968109607696535, "mean_nll_offsets_discrete": 7.675713689070808,
              "mean_nll_discrete": 8.501242900830377,
              "mean_nll_offsets_dequantised": 3.0677153348922728}
PINNED_TABLE = """\
| model | test nll_offsets | dequantised | whole pixels | nll_pen | τ | ended | mean points | mean strokes |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
| (10 test drawings) | | | | | | | 18.7 | 5.50 |
| tiny | 3.0713 | 3.0677 | 7.6757 | 0.8255 | 0.1 | 0% | 40.0 | 12.38 |
| | | | | | 0.4 | 0% | 40.0 | 15.62 |
| | | | | | 0.7 | 25% | 30.2 | 13.50 |
| tiny: reconstructions of the first 8 (17.6 points, 5.12 strokes) | | | | | 0.1 | 0% | 40.0 | 6.25 |
| | | | | | 0.4 | 0% | 40.0 | 11.88 |
| | | | | | 0.7 | 25% | 30.2 | 11.38 |"""
PINNED_LABELS = (["test data", "", ""] + [f"tiny t={t}" if i == 0 else "" for t in ("0.1", "0.4", "0.7")
                                         for i in range(3)]
                 + [f"tiny recon t={t}" if i == 0 else "" for t in ("0.1", "0.4", "0.7")
                    for i in range(3)])


def test_the_default_report_is_the_one_written_before(tiny, tmp_path, monkeypatch):
    """The flag's default ("paper", as the script parses it): same keys, rows, figures, grid
    labels and table as before the setting existed, for the same seed."""
    path, data = tiny
    labels = _grid_labels(monkeypatch)
    default = inputs.parse_discrete_temperatures(["paper"])
    report = quality.measure([path], data, out=tmp_path, discrete_temperatures=default, **KW)
    written = json.loads((tmp_path / "report.json").read_text())
    assert written == json.loads(json.dumps(report))
    assert list(report) == ["data", "normaliser", "max_len", "n_samples", "seed", "split_name",
                            "split", "models"]
    row = report["models"]["tiny"]
    assert list(row) == ["path", "mean_nll_offsets", "mean_nll_pen", "mean_nll",
                         "mean_nll_offsets_discrete", "mean_nll_discrete", "samples",
                         "mean_nll_offsets_dequantised", "reconstructed", "reconstructions"]
    assert row["samples"] == PINNED_SAMPLES and list(row["samples"]) == ["0.1", "0.4", "0.7"]
    assert row["reconstructions"] == PINNED_RECONSTRUCTIONS
    assert {k: row[k] for k in PINNED_NLL} == pytest.approx(PINNED_NLL, rel=1e-4)
    assert report["split"] == {"n": 10, "mean_points": pytest.approx(18.7), "mean_strokes": 5.5}
    # The table, its NLL cells to the pinned figures (a CPU may round the 4th decimal apart).
    lines = (tmp_path / "report.md").read_text().splitlines()
    assert lines[0] == ("Data: " + report["data"] + "; normaliser 10; 8 samples per row, at "
                        "most 40 points.")
    table, want = lines[2:], PINNED_TABLE.splitlines()
    assert len(table) == len(want)
    for got, pinned in zip(table, want):
        if got.startswith("| tiny | "):
            cells, pins = got.split(" | ")[1:5], pinned.split(" | ")[1:5]
            assert [float(c) for c in cells] == pytest.approx([float(p) for p in pins], abs=2e-4)
            got, pinned = got.split(" | ", 5)[5], pinned.split(" | ", 5)[5]
        assert got == pinned
    assert labels == [PINNED_LABELS]


def test_one_row_per_model_temperature_and_discrete_temperature(tiny, tmp_path, monkeypatch):
    path, data = tiny
    labels = _grid_labels(monkeypatch)
    assert inputs.parse_discrete_temperatures(["paper", "WEB", "0.80"]) == ["paper", "web", "0.8"]
    assert quality.row_key(0.1, "0.8") == "0.1/0.8" and quality.split_key("0.1/0.8") == ("0.1", "0.8")
    kw = {**KW, "temperatures": (0.1, 0.7)}
    report = quality.measure([path], data, out=tmp_path, discrete_temperatures=["web", "paper"],
                             **kw)
    assert report["discrete_temperatures"] == ["web", "paper"]
    row = report["models"]["tiny"]
    keys = ["0.1/web", "0.1", "0.7/web", "0.7"]
    assert list(row["samples"]) == keys and list(row["reconstructions"]) == keys
    # The paper's rows are the ones the default gives; the others are the client's samples
    # at that setting, for the same seed.
    assert row["samples"]["0.1"] == PINNED_SAMPLES["0.1"]
    assert row["reconstructions"]["0.7"] == PINNED_RECONSTRUCTIONS["0.7"]
    model = SketchModel(path)
    z = model.encode(quality.sketch_files.read_sketches(str(data), "test")[0][:8])
    for t in (0.1, 0.7):
        got = model.sample(8, t, 3, 40, discrete_temperature="web")
        assert row["samples"][quality.row_key(t, "web")] == quality.sample_stats(got, 40)
        got = model.decode(z, t, 3, 40, discrete_temperature="web")
        assert row["reconstructions"][f"{t}/web"] == quality.sample_stats(got, 40)
    assert row["samples"]["0.1/web"] != row["samples"]["0.1"]
    # The table: a discrete τ column, one row per (τ, setting), one width.
    text = (tmp_path / "report.md").read_text()
    lines = text.splitlines()[2:]
    assert "| nll_pen | τ | discrete τ | ended |" in lines[0]
    assert len({line.count("|") for line in lines}) == 1, lines
    assert lines[2].startswith("| (10 test drawings) ") and len(lines) == 3 + 2 * len(keys)
    web = row["samples"]["0.7/web"]
    assert (f"| | | | | | 0.7 | web | {web['ended']:.0%} | {web['mean_points']:.1f} | "
            f"{web['mean_strokes']:.2f} |") in lines
    assert text.count("| 0.7 | web |") == 2 and text.count("| 0.1 | paper |") == 2
    assert json.loads((tmp_path / "report.json").read_text())["models"]["tiny"]["samples"] == \
        json.loads(json.dumps(row["samples"]))
    # The grid: one row of `shown` per (τ, setting), samples then reconstructions.
    (drawn,) = labels
    heads = [label for label in drawn if label]
    assert heads == (["test data"] + [f"tiny t={k.replace('/', ' d=')}" for k in keys]
                     + [f"tiny recon t={k.replace('/', ' d=')}" for k in keys])
    assert len(drawn) == 3 * (1 + 2 * len(keys))


@pytest.mark.parametrize("values, needle", [
    (["paper", "warm"], "--discrete_temperature='warm': use 'paper'"),
    (["-1"], "--discrete_temperature='-1'"),
    (["web", "Web"], "--discrete_temperature: 'Web' is given twice"),
    ([], "--discrete_temperature: give at least one setting"),
])
def test_bad_settings_are_one_line_naming_them(values, needle):
    with pytest.raises(DataError) as err:
        inputs.parse_discrete_temperatures(values)
    assert needle in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(DataError, match="discrete_temperature"):  # Before any data is read.
        quality.measure(["no/such/model"], "no/such/data.npz", discrete_temperatures=values)


def test_an_old_export_is_refused_in_one_line_naming_it(tiny, monkeypatch):
    """An export written before the input existed (as SketchModel sees one) measures 'paper'
    only; asked for another setting it names the model and says to re-export, up front."""
    path, data = tiny
    monkeypatch.setattr(client_lib, "_takes", lambda function, name: False)
    monkeypatch.setattr(SketchModel, "log_likelihood",
                        lambda *a, **k: pytest.fail("measured before refusing"))
    with pytest.raises(DataError) as err:
        quality.measure([path], data, discrete_temperatures=["paper", "web"], **KW)
    message = str(err.value)
    assert "\n" not in message and message.startswith("model tiny (")
    assert "re-export" in message and "--discrete_temperature=web" in message
