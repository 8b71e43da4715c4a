"""Curves from TensorBoard events: several runs, reference lines, clear errors."""

import subprocess
import sys

import pytest
import tensorflow as tf

from common.errors import DataError
from common.training import metrics_plot


def _run(workdir, values):
    for split, scale in (("train", 1.0), ("valid", 1.1)):
        writer = tf.summary.create_file_writer(str(workdir / "events" / split))
        with writer.as_default():
            for step, v in enumerate(values, 1):
                tf.summary.scalar("nll_offsets", v * scale, step=step * 100)
        writer.close()
    return workdir


def test_reads_and_plots_several_runs_with_references(tmp_path):
    a = _run(tmp_path / "a", [0.9, 0.5, 0.3])
    b = _run(tmp_path / "b", [0.4, 0.2])
    steps, values = metrics_plot.read_scalars(a / "events" / "valid")["nll_offsets"]
    assert list(steps) == [100, 200, 300] and values[-1] == pytest.approx(0.33)
    out = metrics_plot.plot_run([a, b], tmp_path / "c.png", tags=["nll_offsets", "nope"],
                                references=["Google=0.479", ("other", 0.2)])
    assert out.stat().st_size > 1000
    with pytest.raises(DataError, match="LABEL=NUMBER"):
        metrics_plot.plot_run([a], tmp_path / "d.png", references=["Google"])
    with pytest.raises(DataError, match="none of the tags"):
        metrics_plot.plot_run([a], tmp_path / "d.png", tags=["nope"])
    with pytest.raises(DataError, match="no train or valid logs"):
        metrics_plot.plot_run([tmp_path], tmp_path / "d.png")


def test_tagged_references_go_to_their_panel_only():
    refs = [("Google", 0.5), ("nll_pen:Google pen", 0.2), ("a:b", 0.1)]
    tags = ["nll_offsets", "nll_pen"]
    assert metrics_plot.panel_references(refs, "nll_offsets", tags) == [("Google", 0.5),
                                                                        ("a:b", 0.1)]
    assert metrics_plot.panel_references(refs, "nll_pen", tags) == [
        ("Google", 0.5), ("Google pen", 0.2), ("a:b", 0.1)]


def test_script_takes_several_workdirs_and_references(tmp_path):
    a = _run(tmp_path / "a", [0.9, 0.5])
    b = _run(tmp_path / "b", [0.4, 0.2])
    out = subprocess.run(
        [sys.executable, "-m", "scripts.plot_metrics", f"--workdir={a}", f"--workdir={b}",
         "--tags=nll_offsets", "--split=valid", "--reference=Google=0.479",
         f"--out={tmp_path}/c.png"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "c.png").is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "scripts.plot_metrics", f"--workdir={a}", "--reference=x=y",
         f"--out={tmp_path}/d.png"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "x=y" in bad.stderr
