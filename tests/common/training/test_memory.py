"""Heap trimming: freed small allocations go back to the OS, during a block and after it."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from common.training import memory

REPO = pathlib.Path(__file__).resolve().parents[3]
glibc = pytest.mark.skipif(memory._MALLOC_TRIM is None or not sys.platform.startswith("linux"),
                           reason="needs glibc malloc_trim, mallinfo2 and /proc")

# Runs in a fresh interpreter that does only the measured thing, so no other thread allocates
# or trims. It frees 190 of 200 MB held in 100 kB blocks (below glibc's mmap threshold): glibc
# keeps the freed blocks in its arena (mallinfo2's fordblks) and resident until a trim.
PROBE = r"""
import ctypes, json, sys, threading
from common.training import memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks",
                                               "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
out = {}

def fragmented_then_freed():
    keep, drop = [], []
    for i in range(2000):
        (keep if i % 20 == 0 else drop).append(bytearray(100_000))
    out["rss_full"] = memory.rss_mb()
    drop.clear()
    out["free_heap"] = libc.mallinfo2().fordblks / 2**20  # Freed, kept by the allocator.
    return keep

if sys.argv[1] == "trim_heap":
    keep = fragmented_then_freed()
    out["rss_freed"] = memory.rss_mb()
    out["trimmed"] = memory.trim_heap()
    out["rss_trimmed"] = memory.rss_mb()
else:
    # Counts the thread's completed trims, to wait for one begun after the free.
    real, done = memory._MALLOC_TRIM, threading.Condition()
    calls = [0]
    def counted(pad):
        result = real(pad)
        with done:
            calls[0] += 1
            done.notify_all()
        return result
    memory._MALLOC_TRIM = counted
    with memory.trimming(interval=0.05):
        keep = fragmented_then_freed()
        with done:
            n = calls[0]
            out["thread_trimmed"] = done.wait_for(lambda: calls[0] >= n + 2, timeout=60)
        out["rss_trimmed"] = memory.rss_mb()
    out["threads_after"] = [t.name for t in threading.enumerate()]
print(json.dumps(out))
"""


def _probe(mode):
    """Runs PROBE in a fresh interpreter; returns its figures (MiB)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    # The premise: after the free the allocator still holds the freed heap, resident.
    assert out["free_heap"] > 150, out
    return out


@glibc
def test_trim_heap_returns_freed_heap():
    out = _probe("trim_heap")
    assert out["rss_freed"] > out["rss_full"] - 0.25 * out["free_heap"], out  # Still resident.
    assert out["trimmed"] is True
    assert out["rss_trimmed"] < out["rss_full"] - 0.5 * out["free_heap"], out


@glibc
def test_trimming_trims_while_the_block_runs():
    out = _probe("trimming")
    assert out["thread_trimmed"], out
    # Trimmed by the thread, before the block ends.
    assert out["rss_trimmed"] < out["rss_full"] - 0.5 * out["free_heap"], out
    assert "malloc-trim" not in out["threads_after"], out


def test_trimming_rejects_a_bad_interval():
    with pytest.raises(ValueError, match="interval"):
        with memory.trimming(interval=0):
            pass


def test_trimming_is_a_no_op_without_malloc_trim(monkeypatch):
    monkeypatch.setattr(memory, "_MALLOC_TRIM", None)
    assert memory.trim_heap() is False
    with memory.trimming():
        pass
