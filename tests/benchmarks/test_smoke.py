"""Smoke runs of the benchmark scripts on small sizes: they run and print JSON figures."""

import json

import pytest

from benchmarks import roofline
from benchmarks import train_wae
from benchmarks import wae_pipeline
from benchmarks import wae_transfer
from tests.support.precision import inject_decision


def _records(out):
    return {r["name"]: r for r in (json.loads(l) for l in out.splitlines() if l.startswith("{"))}


def test_train_wae_prints_figures(capsys):
    train_wae.main(["--config", "testing", "--reps", "2", "--warmup", "0"])
    recs = _records(capsys.readouterr().out)
    r = recs["wae_train_testing_s_per_step"]
    assert r["reps"] == 2 and 0 < r["min"] <= r["median"] <= r["max"]
    assert r["batch_size"] == 4 and r["peak_rss_mb"] > 0
    assert recs["wae_train_testing_images_per_s"]["median"] > 0


def test_wae_pipeline_prints_load_and_batch_rates(capsys, tmp_path):
    from PIL import Image
    import numpy as np
    for i in range(12):  # >= 10, so the eval split is not the whole folder again.
        Image.fromarray(np.full((80, 96, 3), 20 * i, np.uint8)).save(tmp_path / f"{i}.png")
    wae_pipeline.main(["--data_dir", str(tmp_path), "--data_dir", "builtin", "--batch_size", "4",
                       "--batches", "2", "--reps", "1", "--image_crop", "center"])
    recs = _records(capsys.readouterr().out)
    assert recs["wae_pipeline_load_images_per_s"]["images"] == 12 + 2 * 512
    assert recs["wae_pipeline_load_images_per_s"]["sources"] == 2
    assert recs["wae_pipeline_batches_images_per_s"]["median"] > 0


def test_wae_transfer_prints_figures_and_flops(capsys):
    wae_transfer.main(["--config", "testing", "--batch", "2", "--reps", "1", "--warmup", "0",
                       "--no_roofline", "--skip_gatys", "--override", "content_dim=16"])
    recs = _records(capsys.readouterr().out)
    assert recs["wae_transfer_batch2_ms_per_image"]["median"] > 0
    assert recs["wae_transfer_batch2_ms_per_image"]["content_dim"] == 16
    assert recs["wae_transfer_batch2_ms_per_image"]["vgg_weights"] == "random"
    assert recs["wae_transfer_gflop_per_image"]["median"] > 0.1  # The VGG alone is ~0.9.


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_wae_transfer_times_the_asked_precision(precision):
    import tensorflow as tf
    from wae_style import configs
    from wae_style import train
    config = configs.get_config("testing").replace_from_strings(["content_dim=16"])
    model, _, _, _ = train.build(config, tf.distribute.get_strategy())
    fn = wae_transfer.transfer_fn(model, config.image_size, precision, jit_compile=False)
    convs = {op.get_attr("T") for op in fn.graph.get_operations() if op.type == "Conv2D"}
    assert convs == {tf.as_dtype(precision)}
    x = tf.random.uniform((2, config.image_size, config.image_size, 3))
    out = fn(x, x)
    assert out.dtype == tf.float32 and out.shape == x.shape
    # The model's own layers are back on their float32 policy afterwards.
    assert model.decoder.dense.compute_dtype == "float32"


def test_roofline_prints_limits_and_recurrent_rate(capsys, monkeypatch):
    inject_decision(monkeypatch, "bfloat16")  # "auto" is measured; here it is injected.
    roofline.main(["--size", "64", "--reps", "1", "--recurrent_steps", "2",
                   "--s_per_step", "default=3.0"])
    recs = _records(capsys.readouterr().out)
    cpu = recs["roofline_cpu"]
    assert cpu["auto_matmul_dtype"] == "bfloat16" and isinstance(cpu["native_bf16"], bool)
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


def test_train_sketch_rnn_prints_figures(capsys):
    from benchmarks import train_sketch_rnn
    train_sketch_rnn.main(["--config", "small", "--batch_size", "2", "--max_seq_len", "8",
                           "--reps", "2", "--warmup", "0", "--jit_compile", "false",
                           "--override", "enc_rnn_size=8", "--override", "dec_rnn_size=16"])
    recs = _records(capsys.readouterr().out)
    r = recs["train_small_s_per_step"]
    assert r["reps"] == 2 and r["batch_size"] == 2 and r["max_seq_len"] == 8
    assert r["peak_rss_mb"] > 0 and "gpu_peak_mb" not in r  # No GPU here.
    assert recs["train_small_sketches_per_s"]["median"] > 0


def test_max_batch_fits_a_line_through_the_probes():
    from benchmarks import max_batch
    # 50 MB per sketch over 1000 MB fixed; 90% of 10000 MB leaves 8000 MB: 160 sketches.
    batch, slope, fixed = max_batch.predict_max_batch([(100, 6000.0), (20, 2000.0)], 10000)
    assert (batch, round(slope, 6), round(fixed, 6)) == (160, 50.0, 1000.0)
    assert max_batch.predict_max_batch([(100, 6000.0), (20, 2000.0)], 10000, fill=1.0,
                                       multiple=64)[0] == 128
    with pytest.raises(ValueError, match="two batch sizes"):
        max_batch.predict_max_batch([(100, 6000.0), (100, 6100.0)], 10000)
    with pytest.raises(ValueError, match="does not grow"):
        max_batch.predict_max_batch([(100, 6000.0), (200, 6000.0)], 10000)
    with pytest.raises(ValueError, match="no room"):
        max_batch.predict_max_batch([(100, 6000.0), (20, 2000.0)], 1000)


def test_max_batch_needs_a_gpu(capsys):
    from benchmarks import max_batch
    with pytest.raises(SystemExit):
        max_batch.main(["--config", "small"])
    assert "no GPU" in capsys.readouterr().err


def test_max_batch_retries_smaller_after_out_of_memory(monkeypatch, capsys):
    from benchmarks import max_batch
    tried = []

    def fake_child(config, batch, extra, timeout):
        tried.append(batch)
        peak = 1000.0 + 10.0 * batch
        if batch in (100, 400):
            return [{"name": "train_paper_s_per_step", "unit": "s/step",
                     "gpu_peak_mb": peak}], False, ""
        if batch > 600:
            return [], True, "RESOURCE_EXHAUSTED: out of memory"
        return [{"name": "train_paper_sketches_per_s", "unit": "sketches/s", "median": 42.0,
                 "gpu_peak_mb": peak, "gpu": "fake"}], False, ""

    monkeypatch.setattr(max_batch, "run_child", fake_child)
    monkeypatch.setattr("tensorflow.config.list_physical_devices", lambda kind=None: ["gpu"])
    max_batch.main(["--config", "paper", "--capacity_mb", "10000"])
    # Fit: 10 MB per sketch over 1000 MB; 9000 - 1000 MB -> 800; OOM; 0.8 * 800 = 640; OOM; 512.
    assert tried == [100, 400, 800, 640, 512]
    rec = _records(capsys.readouterr().out)["max_batch_paper"]
    assert rec["value"] == 512 and rec["sketches_per_s"] == 42.0 and rec["mb_per_sketch"] == 10.0


def test_train_and_evaluate_times_the_real_trainer_and_the_isolated_step(capsys):
    from benchmarks import train_and_evaluate
    train_and_evaluate.main(["--config", "testing", "--data", "builtin", "--steps", "3",
                             "--warmup_steps", "1", "--interval", "1", "--eval_every", "3",
                             "--save_every", "3", "--quiet"])
    recs = _records(capsys.readouterr().out)
    r = recs["train_and_evaluate_testing_sketches_per_s"]
    # Steps 1-2 and 2-3, each paired with one isolated step; evaluation and save at step 3.
    assert r["reps"] == 2 and r["steps"] == 3 and r["batch_size"] == 4 and r["median"] > 0
    assert r["data"] == "builtin" and r["isolated"] == "paired" and r["eval_every"] == 3
    assert recs["train_and_evaluate_testing_isolated_sketches_per_s"]["reps"] == 2
    assert recs["train_and_evaluate_testing_ratio"]["reps"] == 2
    assert recs["train_and_evaluate_testing_window_sketches_per_s"]["reps"] == 1
    assert recs["train_and_evaluate_testing_cpu_s_per_step"]["median"] > 0
    assert "train_and_evaluate_testing_eval_save_s" not in recs  # None inside the window.


def test_train_and_evaluate_summary_pairs_blocks_and_leaves_out_evaluations():
    import types
    from benchmarks import train_and_evaluate
    config = types.SimpleNamespace(batch_size=10, num_steps=6, eval_every=4, save_every=100)
    wall = {1: 0.0, 2: 1.0, 3: 4.0, 4: 5.0, 5: 13.0, 6: 14.0}  # Evaluation after step 4: 5 s.
    run = {"stamps": {s: (t, t) for s, t in wall.items()},
           "resumed": {2: (3.0, 3.0), 4: (7.0, 7.0)},  # Isolated blocks of 2 s at 2 and 4.
           "blocks": [(2, (2.0, 2.0)), (4, (2.0, 2.0))]}
    out = train_and_evaluate.summarize(config, run, warmup_steps=2, interval=2)
    assert out["steady"] == [10.0] and out["isolated"] == [10.0] and out["ratio"] == [1.0]
    assert out["cpu"] == [1.0] and out["cpu_ratio"] == [1.0]  # (4, 6] holds the evaluation.
    assert out["window"] == [40 / 9] and out["eval_save"] == [5.0]


def test_wae_bf16_prints_speed_and_loss_change(capsys, tmp_path):
    from PIL import Image
    import numpy as np
    from benchmarks import wae_bf16
    from tests.support.models import make_wae_workdir
    from wae_style import configs
    from wae_style import export
    model = make_wae_workdir(tmp_path / "w")
    export.export(model, configs.WAEConfig.testing(), tmp_path / "w" / "export")
    files = []
    for i in range(2):
        files.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(np.full((64, 64, 3), 100 * i, np.uint8)).save(files[-1])
    wae_bf16.main(["--workdir", str(tmp_path / "w"), "--content", files[0], "--style", files[1],
                   "--batch", "2", "--reps", "1"])
    recs = _records(capsys.readouterr().out)
    for policy in ("float32", "bfloat16"):
        assert recs[f"wae_transfer_{policy}_batch2_ms_per_image"]["median"] > 0
        assert recs[f"wae_transfer_{policy}_style_loss"]["pairs"] == 1
    change = recs["wae_transfer_bf16_change"]
    assert 0 < change["max_pixel_diff"] < 0.1  # bf16 rounding, not another model.
    assert set(change["speedup"]) == {"2"}


def test_train_wae_step_flops_match_the_hand_count():
    from wae_style import configs

    config = configs.WAEConfig(decoder_channels=(512, 256, 128, 64, 32), num_res_blocks=2,
                               batch_size=1)
    parts = train_wae.step_flops(config)
    conv = lambda side, k, cin, cout: 2 * side * side * k * k * cin * cout  # noqa: E731
    vgg = [conv(64, 3, 3, 64), conv(64, 3, 64, 64), conv(32, 3, 64, 128), conv(32, 3, 128, 128),
           conv(16, 3, 128, 256)]
    assert parts["vgg_inputs_forward"] == sum(vgg)
    assert parts["vgg_recon_forward_backward"] == 2 * sum(vgg) - vgg[0]
    dec = (2 * 320 * 16 * 512 + conv(4, 3, 512, 1024) + 4 * conv(8, 3, 256, 256)
           + conv(8, 3, 256, 512) + conv(16, 3, 128, 256) + conv(32, 3, 64, 128)
           + conv(64, 5, 32, 3))
    assert parts["decoder"] == 3 * dec
    assert parts["grams_inputs_and_recon"] == 3 * 3 * 2 * 4096 * 64 * 64  # Same P C^2 per layer.
    assert parts["total"] == sum(v for k, v in parts.items() if k != "total")
    assert 6.1e9 < parts["total"] < 6.3e9  # About 6.2 GFLOP per image.


def test_train_wae_compare_prints_before_after_and_curves(capsys, tmp_path):
    curves = tmp_path / "curves.json"
    out = train_wae.main(["--compare", "--config", "testing", "--rounds", "2", "--steps", "1",
                          "--before_override=precision=float32",
                          "--after_override=precision=bfloat16",
                          "--curves", str(curves), "--curve_steps", "3"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == out
    for side in ("before", "after"):
        assert out[side]["images_per_s"] > 0 and out[side]["gflops"] > 0
    assert out["speedup"] > 0 and set(out["conv_roofline_gflops"]) == {"float32", "bfloat16"}
    saved = json.loads(curves.read_text())
    assert len(saved["before"]["loss"]) == 3 and len(saved["after"]["loss"]) == 3
    assert saved["max_rel_diff_smoothed"]["loss"] < 0.1


def test_sample_sketch_rnn_prints_the_weights_bound(capsys):
    from benchmarks import sample_sketch_rnn
    sample_sketch_rnn.main(["--config", "small", "--batch", "1", "--max_len", "20", "--reps", "1",
                            "--warmup", "0", "--no_completion", "--matmul_dtype", "float32"])
    recs = _records(capsys.readouterr().out)
    bound = recs["sample_batch1_bound_ms"]
    # small(): H 128, M 20: W_hh (128, 512) + W_x (5, 512) fp32, head (128, 123) fp32.
    assert bound["bytes_per_step"] == (128 * 512 + 5 * 512) * 4 + 128 * 123 * 4
    assert bound["median"] > 0 and bound["gb_per_s"] > 0
    over = recs["sample_batch1_over_bound"]
    sample = recs["sample_batch1_ms_per_sketch"]
    assert over["median"] == pytest.approx(sample["median"] / bound["median"])


def test_weights_bound_is_only_for_lstm_shaped_decoders():
    import dataclasses
    from benchmarks import sample_sketch_rnn
    from sketch_rnn import configs
    hyper = dataclasses.replace(configs.SketchRNNConfig.testing(), dec_model="hyper")
    assert sample_sketch_rnn.weights_bound(hyper, 5) is None
