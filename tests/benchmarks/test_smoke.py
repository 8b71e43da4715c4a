"""Smoke runs of the WAE benchmark scripts on testing() sizes: they run and print JSON figures."""

import json

from benchmarks import train_wae
from benchmarks import wae_transfer


def _records(out):
    return {r["name"]: r for r in (json.loads(l) for l in out.splitlines() if l.startswith("{"))}


def test_train_wae_prints_figures(capsys):
    train_wae.main(["--config", "testing", "--reps", "2", "--warmup", "0"])
    recs = _records(capsys.readouterr().out)
    r = recs["wae_train_testing_s_per_step"]
    assert r["reps"] == 2 and 0 < r["min"] <= r["median"] <= r["max"]
    assert r["batch_size"] == 4 and r["peak_rss_mb"] > 0
    assert recs["wae_train_testing_images_per_s"]["median"] > 0


def test_wae_transfer_prints_figures_and_flops(capsys):
    wae_transfer.main(["--config", "testing", "--batch", "2", "--reps", "1", "--warmup", "0",
                       "--no_roofline", "--skip_gatys"])
    recs = _records(capsys.readouterr().out)
    assert recs["wae_transfer_batch2_ms_per_image"]["median"] > 0
    assert recs["wae_transfer_gflop_per_image"]["median"] > 0.1  # The VGG alone is ~0.9.
