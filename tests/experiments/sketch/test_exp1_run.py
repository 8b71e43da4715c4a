"""The Experiment 1 driver: curve points, stopping rules, resume after a stop, one signal to the trainer."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from common.errors import DataError
from experiments.sketch import exp1_run

REPO = pathlib.Path(__file__).resolve().parents[3]


def test_flat_needs_patience_points_without_improvement():
    assert not exp1_run.flat([1, 2, 3], 3, 1)
    assert not exp1_run.flat([1, 2, 3, 4], 3, 1)
    assert exp1_run.flat([5, 2, 3, 4], 3, 1)
    assert exp1_run.flat([1, 5, 5, 5, 5], 3, 1)  # Equal is not better.
    assert not exp1_run.flat([1, 5, 5, 5, 6], 3, 1)
    assert exp1_run.flat([0.5, 0.6, 0.605, 0.6, 0.6], 3, 0.01)


class FakeTrainers:
    """Trainers that only move their step, scripted scorer accuracies and outputs."""

    def __init__(self, plan, accuracies, outputs, fail_at=None):
        self.plan, self.accuracies, self.outputs = plan, list(accuracies), list(outputs)
        self.steps, self.commands, self.fail_at = {}, [], fail_at

    def run_child(self, cmd):
        self.commands.append(cmd)
        if self.fail_at is not None and len(self.commands) == self.fail_at:
            return 143  # Stopped by SIGTERM after saving its step.
        workdir = next(a.split("=", 1)[1] for a in cmd if a.startswith("--workdir="))
        steps = int(next(a.split("=", 1)[1] for a in cmd if a.startswith("--num_steps=")))
        self.steps[workdir] = steps
        if workdir == self.plan.scorer_workdir:
            pathlib.Path(workdir).mkdir(parents=True, exist_ok=True)
            acc = self.accuracies[steps // self.plan.scorer_every - 1]
            (pathlib.Path(workdir) / "test_metrics.json").write_text(json.dumps(
                {"final": {"accuracy": acc, "num_examples": 275}}))
        return 0

    def evaluate(self, model, scorer, sources, out, split, total):
        assert (model, scorer, split, total) == (self.plan.model_workdir,
                                                 self.plan.scorer_workdir, "all", 60)
        assert sources == [str(pathlib.Path(self.plan.real) / "inputs")]
        k = self.steps[model] // self.plan.model_every - 1
        return {"outputs_correct": self.outputs[k], "inputs_correct": 50, "n": 60,
                "table3": {"outputs": {"mean": 0.3}}}


def _fake_split(tmp_path, corpus_classes=("a", "b"), split_classes=("a", "b")):
    (tmp_path / "corpus").mkdir(exist_ok=True)
    for c in corpus_classes:
        (tmp_path / "corpus" / f"{c}.npz").write_bytes(b"")
    for part in ("inputs", "train", "test"):
        (tmp_path / "real" / part).mkdir(parents=True, exist_ok=True)
    (tmp_path / "real" / "split.json").write_text(json.dumps(
        {"classes": {c: {} for c in split_classes}, "classes_without_drawings": []}))


@pytest.fixture
def plan(tmp_path):
    _fake_split(tmp_path)
    return exp1_run.Exp1Plan(corpus=str(tmp_path / "corpus"), real=str(tmp_path / "real"),
                             scorer_workdir=str(tmp_path / "alex"),
                             model_workdir=str(tmp_path / "rnn"), scorer_every=100,
                             scorer_max_steps=1000, model_every=500, model_max_steps=5000)


def _patch(monkeypatch, fake):
    monkeypatch.setattr(exp1_run, "run_child", fake.run_child)
    monkeypatch.setattr(exp1_run, "checkpoint_step",
                        lambda workdir: fake.steps.get(str(workdir), 0))


def test_curves_stop_flat_and_at_the_target(plan, tmp_path, monkeypatch):
    fake = FakeTrainers(plan, [0.5, 0.6, 0.6, 0.6, 0.6, 0.9], [10, 20, 30, 35, 36])
    _patch(monkeypatch, fake)
    record = exp1_run.run(plan, tmp_path / "out", "the command", fake.evaluate)
    assert [r["step"] for r in record["scorer"]] == [100, 200, 300, 400, 500]
    assert record["scorer_done"] == "flat after step 500"
    assert [r["outputs_correct"] for r in record["sketch_rnn"]] == [10, 20, 30, 35]
    assert record["sketch_rnn_done"] == "target 34 met at step 2000"
    scorer_cmd = fake.commands[0]
    assert f"--real_data={plan.real}/train" in scorer_cmd
    assert f"--test_data={plan.real}/test" in scorer_cmd
    assert not any("inputs" in a for a in scorer_cmd)  # The scorer never sees the inputs.
    md = (tmp_path / "out" / exp1_run.RECORD_MD).read_text()
    assert "the command" in md and "| 2,000 | 35/60 | 50/60 |" in md and "target 34 met" in md
    assert (tmp_path / "out" / exp1_run.RECORD_PNG).stat().st_size > 1000
    # Done: a rerun trains nothing.
    fake.commands.clear()
    exp1_run.run(plan, tmp_path / "out", "the command", fake.evaluate)
    assert fake.commands == []


def test_a_stopped_run_resumes_at_its_next_point(plan, tmp_path, monkeypatch):
    fake = FakeTrainers(plan, [0.5] * 10, [10, 12, 20, 21, 21, 21, 21], fail_at=7)
    _patch(monkeypatch, fake)
    with pytest.raises(exp1_run.ChildFailed) as stop:
        exp1_run.run(plan, tmp_path / "out", "cmd", fake.evaluate)
    assert stop.value.code == 143
    record = json.loads((tmp_path / "out" / exp1_run.RECORD).read_text())
    assert len(record["scorer"]) == 4 and len(record["sketch_rnn"]) == 2
    fake.fail_at = None
    fake.commands.clear()
    record = exp1_run.run(plan, tmp_path / "out", "cmd", fake.evaluate)
    assert "--num_steps=1500" in fake.commands[0]
    assert [r["step"] for r in record["sketch_rnn"]][:3] == [500, 1000, 1500]
    # A different plan in the same folder is refused, not mixed in.
    other = exp1_run.Exp1Plan(**{**plan.__dict__, "model_every": 1000})
    with pytest.raises(DataError, match="different plan"):
        exp1_run.run(other, tmp_path / "out", "cmd", fake.evaluate)
    path = tmp_path / "out" / exp1_run.RECORD
    record["sketch_rnn"] = {"not": "a list"}
    path.write_text(json.dumps(record))
    with pytest.raises(DataError, match="damaged record"):
        exp1_run.run(plan, tmp_path / "out", "cmd", fake.evaluate)
    path.write_text("{not json")
    with pytest.raises(DataError, match="unreadable record"):
        exp1_run.run(plan, tmp_path / "out", "cmd", fake.evaluate)


def test_points_of_a_workdir_that_is_gone_are_measured_anew(plan, tmp_path, monkeypatch, capsys):
    fake = FakeTrainers(plan, [0.5, 0.6, 0.6, 0.6, 0.6], [10, 20, 30, 35])
    _patch(monkeypatch, fake)
    exp1_run.run(plan, tmp_path / "out", "cmd", fake.evaluate)
    # A new machine: the record survives in the docs, both workdirs are gone.
    fake.steps.clear()
    fake.commands.clear()
    fake.outputs = [11, 21, 31, 36]
    record = exp1_run.run(plan, tmp_path / "out", "cmd", fake.evaluate)
    assert "--num_steps=100" in fake.commands[0]  # The scorer starts again at its first point.
    assert [r["outputs_correct"] for r in record["sketch_rnn"]] == [11, 21, 31, 36]
    assert [e["curve"] for e in record["earlier"]] == ["scorer", "sketch_rnn"]
    assert [r["outputs_correct"] for r in record["earlier"][1]["points"]] == [10, 20, 30, 35]
    assert "measured on a scorer that is gone" in capsys.readouterr().out
    md = (tmp_path / "out" / exp1_run.RECORD_MD).read_text()
    assert "Earlier sketch_rnn points (4, up to step 2,000)" in md
    # Only the Sketch RNN's workdir gone: the scorer's points stand, the model's start again.
    fake.steps[plan.model_workdir] = 0
    fake.commands.clear()
    record = exp1_run.run(plan, tmp_path / "out", "cmd", fake.evaluate)
    assert all(f"--workdir={plan.model_workdir}" in c for c in fake.commands)
    assert len(record["scorer"]) == 5 and len(record["earlier"]) == 3
    # A damaged "earlier" is refused like any damaged record.
    path = tmp_path / "out" / exp1_run.RECORD
    path.write_text(json.dumps({**record, "earlier": "x"}))
    with pytest.raises(DataError, match="damaged record"):
        exp1_run.run(plan, tmp_path / "out", "cmd", fake.evaluate)


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(DataError, match="make_quickdraw_corpus"):
        exp1_run.Exp1Plan(corpus=str(tmp_path / "c"), real=str(tmp_path / "r"),
                          scorer_workdir="a", model_workdir="b").check()
    (tmp_path / "c").mkdir()
    with pytest.raises(DataError, match="split_real_drawings"):
        exp1_run.Exp1Plan(corpus=str(tmp_path / "c"), real=str(tmp_path / "r"),
                          scorer_workdir="a", model_workdir="b").check()
    with pytest.raises(DataError, match="no point to train"):
        exp1_run.Exp1Plan(corpus="c", real="r", scorer_workdir="a", model_workdir="b",
                          scorer_every=2000, scorer_max_steps=1000).check()
    # A split made while the corpus had fewer classes is refused, naming them.
    _fake_split(tmp_path, corpus_classes=("a", "b", "c"), split_classes=("a",))
    with pytest.raises(DataError, match="other classes.*b, c"):
        exp1_run.Exp1Plan(corpus=str(tmp_path / "corpus"), real=str(tmp_path / "real"),
                          scorer_workdir="a", model_workdir="b").check()


CHILD = """
import signal, sys, time, pathlib
out = pathlib.Path(sys.argv[1])
got = []
for s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(s, lambda s, f: got.append(s))
out.with_suffix(".ready").write_text("1")
t0 = time.time()
while not got and time.time() - t0 < 20:
    time.sleep(0.05)
time.sleep(1.0)  # Any second signal arrives meanwhile.
out.write_text(" ".join(map(str, got)))
sys.exit(128 + got[0] if got else 0)
"""

DRIVER = """
import sys
from experiments.sketch import exp1_run
sys.exit(exp1_run.run_child([sys.executable, "-c", sys.argv[1], sys.argv[2]]))
"""


def _driver(tmp_path):
    flag = tmp_path / "got"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, CHILD, str(flag)], cwd=REPO, env=env,
                            start_new_session=True)
    deadline = time.time() + 60
    while not flag.with_suffix(".ready").exists() and time.time() < deadline:
        time.sleep(0.05)
    return proc, flag


def _wait_for(path, timeout=30):
    deadline = time.time() + timeout
    while not path.exists() and time.time() < deadline:
        time.sleep(0.05)
    return path.read_text()


def test_ctrl_c_reaches_the_trainer_once(tmp_path):
    """A terminal's Ctrl-C goes to the driver's process group; the trainer gets it once."""
    proc, flag = _driver(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)  # What a terminal does.
    assert proc.wait(timeout=30) == 130
    assert _wait_for(flag) == str(int(signal.SIGINT))


def test_a_killed_driver_stops_its_trainer(tmp_path):
    """SIGKILL of the driver: the trainer gets SIGTERM (so it saves its step), not nothing."""
    proc, flag = _driver(tmp_path)
    proc.kill()
    proc.wait(timeout=30)
    assert _wait_for(flag) == str(int(signal.SIGTERM))


@pytest.mark.slow
def test_command_end_to_end_on_tiny_models(sketches_dir, tmp_path):
    """Real trainers (testing presets) on a small corpus, the split, the record, the report."""
    from common.strokes import quickdraw  # noqa: PLC0415
    from common.strokes.safe_npz import write_npz  # noqa: PLC0415

    for c in ("cat", "pig", "sheep"):
        q = quickdraw.load_ndjson(sketches_dir / "quickdraw_exupery_raw" / f"{c}.ndjson")
        s = [x for x in q.sketches if len(x) <= 60]
        write_npz(tmp_path / "corpus" / f"{c}.npz", {"train": s[:20], "valid": s[20:24],
                                                      "test": []})
    py = [sys.executable, "-m"]
    subprocess.run(py + ["scripts.split_real_drawings",
                         f"--data={sketches_dir / 'quickdraw_lamnguyen_simplified'}",
                         f"--classes_from={tmp_path / 'corpus'}", "--num_inputs=6",
                         "--max_seq_len=64", f"--out={tmp_path / 'real'}"], cwd=REPO, check=True)
    args = [f"--corpus={tmp_path / 'corpus'}", f"--real={tmp_path / 'real'}",
            f"--scorer_workdir={tmp_path / 'alex'}", f"--model_workdir={tmp_path / 'rnn'}",
            f"--out={tmp_path / 'out'}", "--scorer_config=testing", "--model_config=testing",
            "--scorer_every=1", "--scorer_max_steps=2", "--model_every=1", "--model_max_steps=2",
            "--num_inputs=6"]
    run = subprocess.run(py + ["scripts.run_experiment1"] + args, cwd=REPO, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    record = json.loads((tmp_path / "out" / exp1_run.RECORD).read_text())
    assert [r["step"] for r in record["scorer"]] == [1, 2]
    assert [r["step"] for r in record["sketch_rnn"]] == [1, 2]
    assert record["sketch_rnn"][-1]["n"] == 6 and "valid_nll_offsets" in record["sketch_rnn"][0]
    assert (tmp_path / "out" / "report.md").is_file() and (tmp_path / "out" / "grid.png").is_file()
    info = json.loads((tmp_path / "alex" / "data.json").read_text())
    assert info["num_real_train"] > 0 and info["num_test"] > 0
    # Other flags on the same record are refused with one line.
    bad = subprocess.run(py + ["scripts.run_experiment1"] + args + ["--patience=5"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "different plan" in bad.stderr
    assert "Traceback" not in bad.stderr
