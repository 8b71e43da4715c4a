"""Tests for common.hardware.probe: the decision, its disk cache and the real timing."""

import json
import math

import pytest

from common import hardware
from common.hardware import probe as probe_lib
from tests.support.precision import BF16_FLAGS, fake_machine

MATMULS = ((100, 645, 2048), (100, 261, 1024))
LABELS = ("(100, 645)x(645, 2048)", "(100, 261)x(261, 1024)")


@pytest.mark.parametrize("f32,b16,want", [
    ((2.6e-3,), (1.9e-3,), "bfloat16"),  # 27% faster.
    ((1.0, 1.0), (0.5, 1.6), "float32"),  # Faster on one shape, slower in sum.
    ((1.0,), (0.96,), "float32"),  # Faster, but by less than MARGIN.
    ((1.0,), (0.95,), "bfloat16"),  # Exactly MARGIN.
    ((1.0,), (1.0,), "float32"),  # A tie.
    ((1.0,), (1.3,), "float32"),
    ((2.2e-4,), (1.6e-4,), "bfloat16"),  # Saves 60 us.
    ((2.09e-4,), (1.88e-4,), "float32"),  # 10% faster, but 21 us is a call's noise.
])
def test_decide_takes_bf16_only_when_faster_by_the_margin(f32, b16, want):
    decision = probe_lib.decide(f32, b16, LABELS[:len(f32)])
    assert decision.dtype == want
    assert decision.reason.startswith(f"{want}: ")
    assert " on " + " + ".join(LABELS[:len(f32)]) in decision.why
    slower = want == "float32" and sum(b16) < sum(f32)
    assert ("not 5% faster" in decision.why or "saves under 0.05 ms" in decision.why) == slower


def test_decide_reason_reads_both_times():
    decision = probe_lib.decide([1.9e-3], [2.6e-3], LABELS[:1])
    assert decision.reason == "float32: 1.9 ms vs 2.6 ms bfloat16 on (100, 645)x(645, 2048)"
    assert probe_lib.decide([1.5], [2.0]).reason == "float32: 1.5 s vs 2 s bfloat16"
    decision = probe_lib.decide([2.6e-3], [1.9e-3], LABELS[:1])
    assert decision.reason == "bfloat16: 1.9 ms vs 2.6 ms float32 on (100, 645)x(645, 2048)"


@pytest.mark.parametrize("f32,b16", [
    ((1.0,), (math.nan,)), ((math.nan,), (0.1,)), ((1.0,), (None,)), ((1.0, 1.0), (0.1,)),
    ((), ()), ((1.0,), (0.0,)), ((1.0,), (-1.0,)), ((1.0,), (math.inf,)), ((True,), (0.1,)),
])
def test_decide_without_every_timing_is_float32(f32, b16):
    decision = probe_lib.decide(f32, b16)
    assert decision.dtype == "float32" and "timings incomplete" in decision.why


def test_no_native_bf16_is_float32_and_never_timed(tmp_path, monkeypatch):
    fake_machine(monkeypatch, tmp_path / "cache", {})

    def timer(*args):
        raise AssertionError("timed on a machine without native bf16")

    decision = probe_lib.probe(MATMULS, flags={"avx2", "avx512f", "avx512_vnni"}, timer=timer)
    assert decision.reason == "float32: no native bf16 (no avx512_bf16/amx_bf16 flag)"
    assert not (tmp_path / "cache").exists()  # Nothing measured, nothing cached.
    # This machine's flags (hardware.cpu_flags) decide the same way.
    fake_machine(monkeypatch, tmp_path / "cache", {}, flags={"avx2"})
    assert probe_lib.probe(MATMULS, timer=timer).dtype == "float32"


def test_measured_then_memo_then_disk(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    calls = fake_machine(monkeypatch, cache, {"float32": 2.6e-3, "bfloat16": 1.3e-3})
    assert probe_lib.last_decision(MATMULS) is None
    first = probe_lib.probe(MATMULS)
    assert first.dtype == "bfloat16" and first.why.endswith(", measured")
    assert first.why.startswith("2.6 ms vs 5.2 ms float32 on " + " + ".join(LABELS))
    assert [c[1:] for c in calls] == [(MATMULS[0], "float32", True),
                                      (MATMULS[0], "bfloat16", True),
                                      (MATMULS[1], "float32", True),
                                      (MATMULS[1], "bfloat16", True)]
    assert probe_lib.last_decision(MATMULS) == first
    (path,) = cache.glob("precision-*.json")
    record = json.loads(path.read_text())
    assert record["key"] == probe_lib.cache_key(MATMULS)
    assert record["dtype"] == "bfloat16" and record["float32_s"] == [2.6e-3, 2.6e-3]
    # The memo: no second timing in this process, even without the file.
    path.rename(tmp_path / "moved.json")
    assert probe_lib.probe(MATMULS) == first and len(calls) == 4
    # A new process (an empty memo) reads the file.
    (tmp_path / "moved.json").rename(path)
    monkeypatch.setattr(probe_lib, "_MEMO", {})
    cached = probe_lib.probe(MATMULS)
    assert cached.dtype == "bfloat16" and len(calls) == 4
    assert cached.why == first.why.replace(", measured", f", cached ({path})")
    # Other shapes, or jit_compile, are another key and are measured.
    assert probe_lib.probe(MATMULS[:1]).why.endswith(", measured") and len(calls) == 6
    assert probe_lib.probe(MATMULS[:1], jit_compile=False).why.endswith(", measured")
    assert calls[-1][3] is False and len(list(cache.glob("precision-*.json"))) == 3


def test_the_key_names_machine_tensorflow_threads_and_shapes(monkeypatch):
    import tensorflow as tf

    key = probe_lib.cache_key(MATMULS, [(64, 32, 32, 128, 256)], True, flags=BF16_FLAGS)
    assert key["cpu"] == hardware.cpu_model() and key["tensorflow"] == tf.__version__
    assert key["threads"] >= 1 and key["device"] == "cpu" and key["jit_compile"] is True
    assert key["matmuls"] == [list(s) for s in MATMULS]
    assert key["convs"] == [[64, 32, 32, 128, 256]]
    other = probe_lib.cache_key(MATMULS, [(64, 32, 32, 128, 256)], True, flags={"avx2"})
    assert other["flags"] != key["flags"] and len(key["flags"]) == 16


def test_cpu_model_reads_model_name(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9B14\nflags\t\t: avx2\n")
    assert hardware.cpu_model(str(info)) == "AMD EPYC 9B14"
    assert hardware.cpu_model(str(tmp_path / "missing")) == "unknown"


@pytest.mark.parametrize("content", ["{not json", "\xff\xfe", "[1, 2]", '{"dtype": "float16"}',
                                     "OTHER_KEY"])
def test_a_corrupt_cache_file_is_measured_again(tmp_path, monkeypatch, content):
    cache = tmp_path / "cache"
    calls = fake_machine(monkeypatch, cache, {"float32": 1.5, "bfloat16": 2.0})
    probe_lib.probe(MATMULS)
    (path,) = cache.glob("precision-*.json")
    if content == "OTHER_KEY":  # Well formed, for another machine.
        record = json.loads(path.read_text())
        record["key"]["cpu"] = "another"
        path.write_text(json.dumps(record))
    else:
        path.write_bytes(content.encode("latin-1"))
    monkeypatch.setattr(probe_lib, "_MEMO", {})
    again = probe_lib.probe(MATMULS)
    assert again.dtype == "float32" and again.why.endswith(", measured") and len(calls) == 8
    assert json.loads(path.read_text())["key"] == probe_lib.cache_key(MATMULS)  # Rewritten.


def test_an_unwritable_cache_folder_is_skipped(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    calls = fake_machine(monkeypatch, blocker / "cache", {"float32": 2.0, "bfloat16": 1.0})
    assert probe_lib.probe(MATMULS).why.endswith(", measured")
    monkeypatch.setattr(probe_lib, "_MEMO", {})
    assert probe_lib.probe(MATMULS).why.endswith(", measured") and len(calls) == 8


def test_a_failed_timing_is_float32_and_not_cached(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    fake_machine(monkeypatch, cache, {})

    def timer(kind, shape, dtype, jit_compile):
        if dtype == "bfloat16":
            raise RuntimeError("no bf16 kernel")
        return 1.0

    decision = probe_lib.probe(MATMULS[:1], timer=timer)
    assert decision.dtype == "float32" and "timings incomplete" in decision.why
    assert "(100, 645)x(645, 2048) in bfloat16 failed: RuntimeError: no bf16 kernel" in decision.why
    assert not list(cache.glob("precision-*.json"))


def test_cache_folder_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SKETCHSTYLE_CACHE_DIR", str(tmp_path / "a"))
    assert probe_lib.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("SKETCHSTYLE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert probe_lib.cache_dir() == tmp_path / "xdg" / "sketchstyle"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert probe_lib.cache_dir() == tmp_path / "home" / ".cache" / "sketchstyle"


def test_the_test_run_never_caches_in_the_users_folder():
    import os
    import pathlib

    cache = probe_lib.cache_dir()
    assert os.environ.get("SKETCHSTYLE_CACHE_DIR") and cache.is_dir()
    assert not cache.is_relative_to(pathlib.Path.home() / ".cache")


def test_a_real_probe_of_tiny_shapes(tmp_path, monkeypatch):
    # Only that it runs and decides: speeds are this machine's (bf16 may be emulated here).
    monkeypatch.setenv("SKETCHSTYLE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(probe_lib, "_MEMO", {})
    for jit in (True, False):
        decision = probe_lib.probe([(8, 16, 32)], [(1, 4, 4, 8, 8)], jit, flags=BF16_FLAGS)
        assert decision.dtype in probe_lib.DTYPES and decision.why.endswith(", measured")
        assert "(8, 16)x(16, 32) + conv3x3 (1, 4, 4, 8)->8" in decision.why
    with pytest.raises(ValueError, match="kind='pool'"):
        probe_lib.time_call("pool", (1, 2, 3), "float32")
    with pytest.raises(ValueError, match="at least one"):
        probe_lib.probe()


def test_a_heavy_shape_is_timed_on_fewer_rows():
    assert probe_lib._capped((100, 645, 2048), 2 * 645 * 2048) == (100, 645, 2048)
    rows = probe_lib._capped((64, 4, 4, 1024, 2048), 2 * 9 * 16 * 1024 * 2048)
    assert rows == (3, 4, 4, 1024, 2048)
