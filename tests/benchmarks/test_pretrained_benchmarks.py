"""Smoke runs of the pretrained-model benchmarks: latency, and parity (needs Node.js)."""

import json
import shutil

import pytest

from tests.support import shared_file


def _records(out):
    return {r["name"]: r for r in (json.loads(l) for l in out.splitlines() if l.startswith("{"))}


@pytest.mark.slow
def test_pretrained_latency_prints_four_figures(shared_data, capsys):
    from benchmarks import pretrained_latency
    model = shared_file("pretrained_sketch_rnn", "key.gen.json")
    drawing = shared_file("sketches", "quickdraw_exupery_raw_more", "key.ndjson")
    pretrained_latency.main([f"--model_file={model}", f"--drawing={drawing}", "--prefix=10",
                             "--reps=2", "--warmup=1"])
    recs = _records(capsys.readouterr().out)
    assert set(recs) == {"pretrained_sample_export_ms", "pretrained_sample_http_ms",
                         "pretrained_complete_export_ms", "pretrained_complete_http_ms"}
    for r in recs.values():
        assert r["reps"] == 2 and 0 < r["p50"] <= r["p99"] and r["mean_points"] > 0
    assert recs["pretrained_complete_http_ms"]["prefix"] == 10


@pytest.mark.slow
def test_pretrained_parity_prints_a_small_difference(shared_data, capsys):
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for @magenta/sketch")
    from benchmarks import pretrained_parity
    models = shared_file("pretrained_sketch_rnn", "key.gen.json").parent
    drawings = shared_file("sketches", "quickdraw_lamnguyen_simplified", "key.ndjson").parent
    pretrained_parity.main(["--model=key", f"--models={models}", f"--drawings={drawings}"])
    r = _records(capsys.readouterr().out)["pretrained_parity_key"]
    assert r["value"] < 1e-4 and r["parameters_per_step"] == 123 and r["steps"] > 10
