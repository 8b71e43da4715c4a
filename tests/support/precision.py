"""Injected "auto" precision decisions and machines, so no test depends on this machine's speed."""

import tensorflow as tf

from common import hardware
from common.hardware import probe as precision_probe

BF16_FLAGS = frozenset({"avx2", "avx512f", "avx512_bf16"})  # A CPU with native bf16.


def inject_decision(monkeypatch, dtype):
    """precision_probe.probe answers `dtype` without timing; returns the list of its calls.

    Each call is recorded as (matmuls, convs, jit_compile).
    """
    calls = []

    def probe(matmuls=(), convs=(), jit_compile=True, flags=None, timer=None):
        calls.append((tuple(map(tuple, matmuls)), tuple(map(tuple, convs)), jit_compile))
        return precision_probe.Decision(dtype, "injected")

    monkeypatch.setattr(precision_probe, "probe", probe)
    return calls


def fake_machine(monkeypatch, cache, seconds, flags=BF16_FLAGS):
    """This process as a CPU-only machine with `flags` whose timings are `seconds`.

    Args:
      monkeypatch: the test's fixture.
      cache: the cache folder to use (SKETCHSTYLE_CACHE_DIR); the memo starts empty.
      seconds: {dtype: seconds per call} that time_call returns for every shape.
      flags: the CPU flags hardware.cpu_flags returns.

    Returns:
      The list of time_call's calls, (kind, shape, dtype, jit_compile) each.
    """
    calls = []

    def time_call(kind, shape, dtype, jit_compile=True):
        calls.append((kind, tuple(shape), dtype, jit_compile))
        return seconds[dtype]

    monkeypatch.setenv(precision_probe.CACHE_ENV, str(cache))
    monkeypatch.setattr(precision_probe, "_MEMO", {})
    monkeypatch.setattr(precision_probe, "time_call", time_call)
    monkeypatch.setattr(hardware, "cpu_flags", lambda path=None: set(flags))
    real = tf.config.list_physical_devices
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: [] if kind == "GPU" else real(kind))
    return calls
