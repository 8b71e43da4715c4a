"""Smoke runs of the benchmark scripts on small sizes: they run and print JSON figures."""

import json

from benchmarks import roofline
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


def test_roofline_prints_limits_and_recurrent_rate(capsys):
    roofline.main(["--size", "64", "--reps", "1", "--recurrent_steps", "2",
                   "--s_per_step", "default=3.0"])
    recs = _records(capsys.readouterr().out)
    cpu = recs["roofline_cpu"]
    assert cpu["auto_matmul_dtype"] == ("bfloat16" if cpu["native_bf16"] else "float32")
    assert recs["roofline_recurrent_matmul_float32_b100_h512"]["value"] > 0
    d = recs["roofline_default"]
    assert 270 < d["value"] < 280  # GFLOP per default() step.
    assert d["recurrent_shape_limit_s_per_step_float32"] > 0
    assert d["achieved_s_per_step"] == 3.0 and d["fraction_of_float32_limit"] > 0


def test_step_flops_match_the_hand_count():
    from sketch_rnn.configs import SketchRNNConfig
    parts = roofline.step_flops(SketchRNNConfig.default())
    b, t = 100, 250
    # Decoder LSTM 512: per step the 5-wide input and h @ W_hh; z is projected once.
    assert parts["decoder_forward"] == t * 2 * b * (5 + 512) * 2048 + 2 * b * 128 * 2048
    assert parts["total"] == parts["forward"] + parts["backward"]
