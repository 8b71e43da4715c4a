"""The sample / complete / reconstruct / interpolate / evaluate_sketch_rnn tools on tiny trained exports."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from common.scorer.configs import AlexNetConfig
from common.errors import DataError
from common.strokes import dataset as stroke_data
from common.strokes import formats
from experiments.sketch import evaluate
from experiments.sketch import paper
from commands import sketch_files
from sketch_rnn.client import SketchModel
from commands import drawing
from commands import inputs
from commands import scoring
from sketch_rnn.configs import SketchRNNConfig


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """A 1-step Sketch RNN and a 1-step AlexNet, both on the built-in doodles."""
    from common.scorer import train as alexnet_train
    from sketch_rnn import train

    sketch = tmp_path_factory.mktemp("tools_sketch")
    train.train_and_evaluate(dataclasses.replace(SketchRNNConfig.testing(), num_steps=1), sketch)
    scorer = tmp_path_factory.mktemp("tools_scorer")
    alexnet_train.train_and_evaluate(
        dataclasses.replace(AlexNetConfig.testing(), num_steps=1, max_seq_len=250), scorer)
    return sketch, scorer


def _png_size(path):
    with Image.open(path) as im:
        return im.size


def test_sample_writes_png_and_svg_grid(exports, tmp_path):
    png, svg, by_temp = drawing.sample(exports[0], tmp_path / "s", n=3,
                                          temperatures=[0.1, 0.9], seed=1, max_len=20, cell=32)
    assert _png_size(png) == (3 * 32, 2 * 32)
    assert open(svg).read().startswith("<svg") and "temp 0.9" in open(svg).read()
    assert sorted(by_temp) == [0.1, 0.9] and all(len(v) == 3 for v in by_temp.values())
    assert all(len(s) <= 20 for v in by_temp.values() for s in v)
    again = drawing.sample(exports[0], tmp_path / "t", n=3, temperatures=[0.1, 0.9], seed=1,
                              max_len=20, cell=32)[2]
    for t in by_temp:  # Same seed, same sketches.
        for x, y in zip(by_temp[t], again[t]):
            np.testing.assert_array_equal(x, y)


def test_tools_take_a_discrete_temperature(exports, sketches_dir, tmp_path):
    kw = dict(n=3, temperatures=[0.1], seed=1, max_len=20, cell=32)
    paper = drawing.sample(exports[0], tmp_path / "p", **kw)[2][0.1]
    web = drawing.sample(exports[0], tmp_path / "w", discrete_temperature="web", **kw)[2][0.1]
    want = SketchModel(exports[0]).sample(3, 0.1, 1, 20, discrete_temperature=0.55)
    for got, w in zip(web, want):
        np.testing.assert_array_equal(got, w)
    assert any(not np.array_equal(a, b) for a, b in zip(paper, web))
    ref = str(sketches_dir / "quickdraw_exupery_raw" / "fork.ndjson") + ":2"
    drawing.complete(exports[0], ref, tmp_path / "c", n=2, temperatures=[0.3], max_len=10,
                     discrete_temperature=0.7)
    drawing.reconstruct(exports[0], [ref], tmp_path / "r", n=2, temperatures=[0.3], max_len=10,
                        discrete_temperature="web")
    assert inputs.parse_discrete_temperature("WEB") == "web"
    with pytest.raises(DataError, match="^--discrete_temperature='x': use 'paper'"):
        inputs.parse_discrete_temperature("x")


def test_complete_draws_prefix_then_continuations(exports, sketches_dir, tmp_path):
    ref = str(sketches_dir / "quickdraw_exupery_raw" / "fork.ndjson") + ":2"
    png, svg = drawing.complete(exports[0], ref, tmp_path / "c", prefix=0.5, n=2,
                                     temperatures=[0.5], max_len=10, cell=32)
    assert _png_size(png) == (4 * 32, 32)
    assert drawing.prefix_points(40, 0.5) == 20
    assert drawing.prefix_points(40, 12) == 12
    assert drawing.prefix_points(40, 1.0) == 40
    for bad in (0, -1, 41, 2.5):
        with pytest.raises(DataError, match="prefix"):
            drawing.prefix_points(40, bad)


def test_reconstruct_draws_each_input_then_its_decodings(exports, sketches_dir, tmp_path):
    refs = [str(sketches_dir / "quickdraw_exupery_raw" / "fork.ndjson") + f":{i}" for i in (0, 1)]
    png, svg = drawing.reconstruct(exports[0], refs, tmp_path / "r", n=2, temperatures=[0.1, 0.9],
                                 max_len=10, cell=32)
    assert _png_size(png) == ((1 + 2 * 2) * 32, 2 * 32)  # input + 2 per temperature; a row each
    assert "temp 0.9" in open(svg).read()
    with pytest.raises(DataError, match="n=0"):
        drawing.reconstruct(exports[0], refs, tmp_path / "r", n=0)
    with pytest.raises(DataError, match="at least one"):
        drawing.reconstruct(exports[0], [], tmp_path / "r")


def test_reconstruct_needs_a_conditional_model(tmp_path, sketches_dir):
    from sketch_rnn import train
    workdir = tmp_path / "uncond"
    train.train_and_evaluate(dataclasses.replace(SketchRNNConfig.testing(), num_steps=1,
                                                 conditional=False), workdir)
    ref = str(sketches_dir / "quickdraw_exupery_raw" / "fork.ndjson")
    with pytest.raises(DataError, match="unconditional"):
        drawing.reconstruct(workdir, [ref], tmp_path / "r")
    assert not (tmp_path / "r.png").exists()


def test_interpolate_strips_and_report(exports, sketches_dir, tmp_path):
    pairs = inputs.parse_pairs([], str(sketches_dir / "quickdraw_exupery_raw"), 0)
    assert [p[0] for p in pairs] == ["fork_to_cloud", "donut_to_moon"]
    results = drawing.interpolate(exports[0], pairs, tmp_path / "i", steps=25,
                                          methods=["linear", "slerp"], temperatures=[0.1],
                                          max_len=12, frames=10, batch_size=7, report=True,
                                          scorer_path=exports[1], cell=32)
    assert len(results) == 4
    for r in results:
        assert _png_size(tmp_path / "i" / r["strip_png"]) == (12 * 32, 32)  # A, 10 frames, B
        assert (tmp_path / "i" / r["strip_files"][1]).read_text().startswith("<svg")
        assert len(r["strip_indices"]) == 10 and r["strip_indices"][-1] == 24
        assert 0 <= r["raster_step_mean"] <= r["raster_step_max"] <= 1
        assert 0 <= r["raster_unchanged_fraction"] <= 1
        assert r["embedding_step_mean"] >= 0 and r["embedding_random_pair"] >= 0
    report = json.loads((tmp_path / "i" / "report.json").read_text())
    assert len(report["results"]) == 4 and "_frames" not in report["results"][0]
    md = (tmp_path / "i" / "report.md").read_text()
    assert "fork_to_cloud" in md and "donut_to_moon" in md and "mean step" in md


def test_continuity_is_batch_independent_and_measures_jumps(exports, sketches_dir):
    model = SketchModel(exports[0])
    a = sketch_files.load_sketch(str(sketches_dir / "quickdraw_exupery_raw" / "donut.ndjson"))
    b = sketch_files.load_sketch(str(sketches_dir / "quickdraw_exupery_raw" / "moon.ndjson") + ":1")
    # Greedy decoding: a frame depends only on its z, so batching cannot change the numbers.
    r1 = paper.continuity(model, a, b, steps=30, temperature=1e-3, max_len=12, batch_size=30)
    calls = []
    r2 = paper.continuity(model, a, b, steps=30, temperature=1e-3, max_len=12, batch_size=4,
                                progress=lambda done, total: calls.append((done, total)))
    assert len(calls) == 8 and calls[-1] == (30, 30)
    assert r1["raster_step_mean"] == pytest.approx(r2["raster_step_mean"], abs=1e-6)
    for x, y in zip(r1["_frames"], r2["_frames"]):
        np.testing.assert_allclose(x, y, atol=1e-5)
    # Identical ends: every frame is the same sketch, so every step is zero.
    flat = paper.continuity(model, a, a, steps=12, temperature=1e-3, max_len=12)
    assert flat["raster_step_max"] == 0 and flat["raster_unchanged_fraction"] == 1



def test_shared_noise_gives_every_row_the_same_draws(exports, sketches_dir):
    model = SketchModel(exports[0])
    a = sketch_files.load_sketch(str(sketches_dir / "quickdraw_exupery_raw" / "donut.ndjson"))
    z = np.repeat(model.encode([a]), 3, axis=0)  # Three identical latents.
    shared = model.decode(z, 1.0, 5, 12, shared_noise=True)
    own = model.decode(z, 1.0, 5, 12)
    assert all(np.array_equal(shared[0], x) for x in shared[1:])
    assert not all(np.array_equal(own[0], x) for x in own[1:])  # Each row its own noise.
    np.testing.assert_allclose(shared[0], own[0], atol=1e-4)  # Row 0 of a batch = a batch of 1.
    # At tau = 1 a path between identical ends is flat only with shared noise.
    flat = paper.continuity(model, a, a, steps=6, temperature=1.0, max_len=12, seed=5)
    assert flat["shared_noise"] and flat["raster_step_max"] == 0
    noisy = paper.continuity(model, a, a, steps=6, temperature=1.0, max_len=12, seed=5,
                                   shared_noise=False)
    assert not noisy["shared_noise"] and noisy["raster_step_max"] > 0
    md = paper.continuity_markdown([dict(noisy, pair="p"), dict(flat, pair="q")])
    assert "| p | linear | 1 (own noise) |" in md and "| q | linear | 1 |" in md
    frames = model.interpolate(a, a, 4, temperature=1.0, seed=5, max_len=12)
    assert all(np.array_equal(frames[0], f) for f in frames[1:])

def test_evaluate_sketch_rnn_report(exports, tmp_path):
    result = evaluate.evaluate(exports[0], exports[1], ["builtin"], tmp_path / "e",
                                          per_class=2, temperatures=[0.2, 0.8], max_seq_len=64)
    n = result["n"]
    assert n == 2 * len({r["class"] for r in result["records"]})
    t2 = result["table2"]
    assert len(t2["inputs"]) == len(t2["outputs"]) == 6
    assert sum(t2["inputs"]) == result["inputs_correct"] <= n
    assert sum(t2["outputs"]) == result["outputs_correct"] <= n
    best = [r["best_true_prob"] for r in result["records"]]
    assert result["table3"]["outputs"]["mean"] == pytest.approx(np.mean(best))
    assert result["table3"]["outputs"]["var"] == pytest.approx(np.var(best))
    assert [p["temperature"] for p in result["per_temperature"]] == [0.2, 0.8]
    # The best output is at least as good as the output at every single temperature.
    per_t_mean = max(p["mean_true_prob"] for p in result["per_temperature"])
    assert np.mean(best) >= per_t_mean - 1e-6
    saved = json.loads((tmp_path / "e" / "report.json").read_text())
    assert saved["table2"] == t2 and "_inputs" not in saved
    md = (tmp_path / "e" / "report.md").read_text()
    assert "Table 2" in md and "Table 3" in md and "0.56" in md  # The seed's figure is quoted.
    assert _png_size(tmp_path / "e" / "grid.png")[0] == 10 * 96


def test_select_inputs_all_and_spread(sketches_dir):
    raw = sketches_dir / "quickdraw_exupery_raw"
    sources = [str(raw / f"{c}.ndjson") for c in ("pig", "fork", "cat")]
    sketches, names, notes = evaluate.select_inputs(sources, ["pig", "fork", "moon"], "all",
                                                 total=5)
    assert names == ["pig"] * 3 + ["fork"] * 2 and len(sketches) == 5
    assert "cat" in notes[-1] and "none of which" in notes[0]
    every = stroke_data.load_strokes(sources[:1], valid_fraction=0.0, test_fraction=0.0)
    np.testing.assert_allclose(sketches[0], formats.denormalize(every.train, every.scale_factor)[0],
                               rtol=1e-5)
    _, names, _ = evaluate.select_inputs(sources, ["pig", "fork"], "test", per_class=1)
    assert names == ["pig", "fork"]


def test_histogram_bins():
    probs = [0.1, 0.5, 0.55, 0.69, 0.7, 0.85, 0.9, 1.0, 0.95]
    correct = [True] * 8 + [False]
    assert paper.histogram(probs, correct) == [1, 2, 1, 1, 1, 2]


@pytest.mark.parametrize("args,needle", [
    (["scripts.sample", "--temperature=0"], "temperature"),
    (["scripts.sample", "--n=0"], "--n=0"),
    (["scripts.sample", "--discrete_temperature=warm"], "--discrete_temperature='warm'"),
    (["scripts.complete", "--discrete_temperature=-1", "--input=x.ndjson"],
     "--discrete_temperature='-1'"),
    (["scripts.interpolate", "--pair=onlyone"], "REF_A,REF_B"),
    (["scripts.interpolate", "--method=cubic"], "cubic"),
    (["scripts.complete", "--input=/nonexistent.ndjson:3"], "/nonexistent.ndjson"),
    (["scripts.reconstruct", "--input=/nonexistent.npz:test:3"], "/nonexistent.npz"),
    (["scripts.reconstruct", "--n=100000000", "--input=/nonexistent.npz:test:3"],
     "--n x inputs 100000000 is out of range"),
])
def test_tools_reject_bad_input_clearly(exports, tmp_path, args, needle):
    cmd = [sys.executable, "-m", args[0], f"--model={exports[0]}", f"--out={tmp_path / 'o'}"]
    proc = subprocess.run(cmd + args[1:], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert needle in proc.stderr


def test_load_sketch_refs(sketches_dir):
    npz = sketches_dir / "hardmaru_sketch-rnn-datasets" / "aaron_sheep.npz"
    s = sketch_files.load_sketch(f"{npz}:valid:3")
    assert s.ndim == 2 and s.shape[1] == 3
    assert sketch_files.parse_sketch_ref(f"{npz}:5") == (str(npz), None, 5)
    with pytest.raises(DataError, match="out of range"):
        sketch_files.load_sketch(f"{npz}:test:100000")
    with pytest.raises(DataError, match="no such file"):
        sketch_files.load_sketch("missing.ndjson:1")


def test_one_drawing_of_an_ndjson_is_read_without_the_rest(tmp_path):
    good = '{"key_id": "%d", "drawing": [[[0, %d], [0, 5]]]}'
    path = tmp_path / "cls.ndjson"
    path.write_text("\n".join([good % (0, 1), good % (1, 2), "{broken"]
                              + [good % (i, 3) for i in range(2, 5)]) + "\n")
    assert np.array_equal(sketch_files.load_sketch(f"{path}:1"),
                          sketch_files.read_sketches(str(path))[0][1])
    with open(path, "a") as f:  # A line that would fail on_error="raise" after the drawing.
        f.write("not json\n")
    assert len(sketch_files.read_sketches(str(path), max_sketches=2)[0]) == 2
    assert sketch_files.load_sketch(f"{path}:-1").shape == (2, 3)  # Negative: the whole file.
    with pytest.raises(DataError, match="holds 5 readable sketches"):
        sketch_files.load_sketch(f"{path}:5")


def test_score_sketches_per_class_json_and_cli(exports, sketches_dir, tmp_path):
    raw = sketches_dir / "quickdraw_exupery_raw"
    out = tmp_path / "scores.json"
    report = scoring.score([exports[0]], [str(raw / "fork.ndjson"), str(raw / "moon.ndjson")],
                         out=out, normaliser="inputs", batch_size=16)
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(report))
    (name, model), = saved["models"].items()
    assert sorted(model["classes"]) == ["fork", "moon"]
    fork = model["classes"]["fork"]
    assert fork["n"] == len(fork["nll"]) == len(sketch_files.read_sketches(str(raw / "fork.ndjson"))[0])
    np.testing.assert_allclose(fork["mean_nll"], fork["mean_nll_offsets"] + fork["mean_nll_pen"],
                               rtol=1e-5)
    assert np.isfinite(fork["nll"]).all() and saved["normaliser"] > 0
    # Another normaliser: the model sees other offsets.
    again = scoring.score([exports[0]], [str(raw / "fork.ndjson")], normaliser=2 * saved["normaliser"])
    assert again["models"][name]["classes"]["fork"]["nll_offsets"] != fork["nll_offsets"]
    first = scoring.score([exports[0]], [str(raw / "fork.ndjson")], normaliser=saved["normaliser"],
                          max_per_file=3)["models"][name]["classes"]["fork"]
    assert first["n"] == 3 and first["nll"] == fork["nll"][:3]
    with pytest.raises(DataError, match="max_per_file=0"):
        scoring.score([exports[0]], [str(raw / "fork.ndjson")], max_per_file=0)
    proc = subprocess.run([sys.executable, "-m", "scripts.score_sketches", f"--model={exports[0]}",
                           f"--input={raw / 'moon.ndjson'}", "--input=nope.npz:test"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "nope.npz" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(DataError, match="SPLIT"):
        inputs.expand_inputs(["a.npz:bogus"])
