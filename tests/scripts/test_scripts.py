"""The absl entry points: the demo end to end (quick mode), and clear errors for bad flags and files."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(args, cwd, timeout=600, quiet_tf=True):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    if not quiet_tf:  # As a user runs it: the scripts set TF's log level themselves.
        env.pop("TF_CPP_MIN_LOG_LEVEL")
    return subprocess.run([sys.executable, "-m"] + args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_demo_quick_builds_gallery_from_exports(tmp_path):
    out = tmp_path / "demo"
    res = _run(["scripts.demo", "--quick", "--sketch_steps=1", "--wae_steps=1", f"--out={out}"],
               REPO, quiet_tf=False)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    gallery = out / "gallery"
    for name in ("samples_tau_0.1", "samples_tau_0.5", "samples_tau_0.9", "reconstructions",
                 "completions", "interpolation_linear", "interpolation_slerp"):
        assert (gallery / f"{name}.png").stat().st_size > 0
        assert "<svg" in (gallery / f"{name}.svg").read_text()
    for name in ("wae_transfer_grid", "wae_reconstructions", "wae_strength"):
        assert (gallery / f"{name}.png").stat().st_size > 0
    index = (gallery / "index.html").read_text()
    assert "completions.png" in index and "wae_transfer_grid.png" in index
    for model in ("sketch_rnn", "wae_style"):
        assert (out / model / "export" / "saved_model.pb").exists()
        assert list((out / model / "events").rglob("events.out.tfevents.*"))
    assert "Gallery:" in res.stdout
    # The shape check: its report, its lines in the output and its sentence in the captions.
    check = json.loads((out / "sketch_rnn" / "shape_check.json").read_text())
    assert sorted(check["samples"]) == ["0.1", "0.3", "0.5", "0.9"]
    assert check["held_out_drawings"]["n"] > 0 and check["random_scribbles"]["n"] > 0
    assert "samples at tau 0.1:" in res.stdout and "random scribbles (control)" in res.stdout
    assert "shape check:" in index and (out / "sketch_rnn" / "shape_scorer" / "export").exists()
    # Exports load through the clients: no TF warnings about unsaved gradients, no CUDA probing.
    log = res.stdout + res.stderr
    for noise in ("custom gradients", "cuInit", "cuda", "oneDNN"):
        assert noise not in log, noise
    # The wrong kind of export: one line naming both kinds, no traceback.
    image = out / "gallery" / "wae_strength.png"
    res = _run(["scripts.stylize", f"--model={out / 'sketch_rnn'}", f"--content={image}",
                f"--style={image}", f"--out={tmp_path / 'o.png'}"], REPO, timeout=300)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "a 'sketch_rnn' export, expected 'wae_style'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


@pytest.mark.parametrize("args, needle", [
    (["scripts.train_sketch_rnn", "--config=testing", "--dataset=/nonexistent/cat.npz"],
     "/nonexistent/cat.npz"),
    (["scripts.train_sketch_rnn", "--config=testing", "--override=dec_rnn_size=big"],
     "dec_rnn_size"),
    (["scripts.train_sketch_rnn", "--config=testing", "--override=no_such_field=1"],
     "no_such_field"),
    (["scripts.train_wae_style", "--config=testing", "--data_dir=/nonexistent/photos"],
     "/nonexistent/photos"),
    (["scripts.train_wae_style", "--config=testing", "--mix=1,x"], "x"),
])
def test_trainers_reject_bad_input_clearly(tmp_path, args, needle):
    res = _run(args + [f"--workdir={tmp_path / 'w'}"], REPO, timeout=300)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "error:" in res.stderr and needle in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "w" / "config.json").exists()


def test_stylize_rejects_unreadable_image(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    res = _run(["scripts.stylize", f"--model={tmp_path}", f"--content={bad}", f"--style={bad}"],
               REPO, timeout=300)
    assert res.returncode == 2
    assert "error:" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize("script, cell, low", [
    ("sample", 0, 8), ("reconstruct", 4, 8), ("complete", 100_000, 8),
    ("interpolate", 1025, 8), ("report_pretrained", 8, 16)])
def test_drawing_scripts_refuse_absurd_cells_before_any_work(tmp_path, script, cell, low):
    model = f"--models={tmp_path}" if script == "report_pretrained" else f"--model={tmp_path}"
    res = _run([f"scripts.{script}", model, f"--cell={cell}"], REPO, timeout=300)
    assert res.returncode == 1, res.stderr[-2000:]
    assert f"flag --cell={cell}: {cell} is not an integer in the range [{low}, 1024]" in res.stderr
    assert "Unknown command line flag" not in res.stderr and "Traceback" not in res.stderr
