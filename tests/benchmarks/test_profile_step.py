"""The per-thunk profile of a training step: event kinds, self times, idle time, a real trace."""

import json
import subprocess
import sys

import pytest

from benchmarks import profile_step


@pytest.mark.parametrize("name,kind", [
    ("MatMul.107", "dot"), ("MatMul_1.68", "dot"), ("dot.3", "dot"),
    ("add_divide_fusion.8", "fusion"), ("bitcast_dynamic-update-slice_fusion.6",
                                        "dynamic-update-slice"),
    ("copy.4", "copy"), ("transpose.1", "copy"), ("wrapped_broadcast.4", "other thunk"),
    ("ThunkExecutor::Execute", "executor"), ("SlinkyThreadPool::Await", "executor")])
def test_kind_of_each_event_name(name, kind):
    assert profile_step.kind(name) == kind


def test_self_times_subtract_nested_events():
    events = [(0.0, 10.0, "ThunkExecutor::Execute"), (1.0, 3.0, "MatMul.1"),
              (4.0, 9.0, "ThunkExecutor::Execute"), (5.0, 6.0, "fusion.2"),
              (12.0, 13.0, "fusion.2")]
    got = profile_step.self_times(events)
    assert got == {"ThunkExecutor::Execute": 10.0 - 2.0 - 5.0 + 5.0 - 1.0,
                   "MatMul.1": 2.0, "fusion.2": 2.0}
    assert sum(got.values()) == 10.0 + 1.0  # The union of the intervals.


def test_breakdown_adds_up_to_threads_times_wall():
    threads = [[(0.0, 0.4, "MatMul.1"), (0.5, 0.6, "fusion.1")],
               [(0.0, 0.2, "ThunkExecutor::Execute"), (0.05, 0.15, "MatMul.1")]]
    kinds, names, thunks, shares = profile_step.breakdown(threads, wall=1.0, steps=2)
    assert kinds["dot"] == pytest.approx(250.0) and kinds["fusion"] == pytest.approx(50.0)
    assert kinds["executor"] == pytest.approx(50.0)
    assert kinds["idle"] == pytest.approx(650.0)  # (1.0 - 0.5) + (1.0 - 0.2) s over 2 steps
    assert sum(kinds.values()) == pytest.approx(2 * 1.0 * 1000.0 / 2)
    assert names[0] == ("MatMul.1", pytest.approx(250.0)) and thunks == 1.5
    assert shares == [pytest.approx(0.5), pytest.approx(0.2)]


def test_steps_out_of_range_is_one_line():
    with pytest.raises(SystemExit, match=r"--steps=0: expected 1 to 50"):
        profile_step.main(["--steps", "0"])


def test_a_real_trace_of_a_tiny_step(tmp_path):
    # Its own process: XLA reads XLA_FLAGS once, before the first compiled function.
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.profile_step", "--config", "small",
         "--batch_size", "2", "--max_seq_len", "8", "--override", "enc_rnn_size=8",
         "--override", "dec_rnn_size=16", "--override", "matmul_dtype=float32",
         "--steps", "1", "--top", "3"],
        capture_output=True, text=True, timeout=300, check=True).stdout
    recs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    by_name = {}
    for r in recs:
        by_name.setdefault(r["name"], []).append(r)
    step = by_name["profile_step_ms"][0]
    assert step["median"] > 0 and step["thunks_per_step"] > 0 and step["threads"] >= 1
    kinds = {n: rs[0]["median"] for n, rs in by_name.items() if n.endswith("_ms")
             and n not in ("profile_step_ms", "profile_thunk_ms")}
    assert len(kinds) == len(profile_step.KINDS) and kinds["profile_dot_ms"] > 0
    assert sum(kinds.values()) == pytest.approx(step["threads"] * step["median"], rel=1e-6)
    assert 1 <= len(by_name["profile_thunk_ms"]) <= 3


def test_a_step_without_xla_is_one_line():
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.profile_step", "--config", "small",
         "--batch_size", "2", "--max_seq_len", "8", "--override", "enc_rnn_size=8",
         "--override", "dec_rnn_size=16", "--override", "matmul_dtype=float32",
         "--override", "jit_compile=False", "--steps", "1"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and not out.stdout.strip()
    assert out.stderr.strip().splitlines()[-1] == (
        "benchmarks/profile_step.py: the trace has no XLA:CPU thunk events "
        "(a step not compiled with XLA?)")
