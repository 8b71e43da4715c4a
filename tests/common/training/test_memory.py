"""Heap trimming: freed small allocations go back to the OS, during a block and after it."""

import contextlib
import sys
import threading
import time

import pytest

from common.training import memory

glibc = pytest.mark.skipif(memory._MALLOC_TRIM is None or not sys.platform.startswith("linux"),
                           reason="needs glibc malloc_trim and /proc")


def _fragmented_heap(mb=200):
    """Allocates `mb` MB in 100 kB blocks (below glibc's mmap threshold); returns (keep, drop)."""
    keep, drop = [], []
    for i in range(mb * 10):
        (keep if i % 20 == 0 else drop).append(bytearray(100_000))
    return keep, drop


@glibc
def test_trim_heap_returns_freed_heap():
    keep, drop = _fragmented_heap()
    drop.clear()
    before = memory.rss_mb()  # Freed, but still resident: glibc keeps it in the arena.
    assert memory.trim_heap() is True
    assert memory.rss_mb() < before - 100
    del keep


@glibc
def test_trimming_trims_while_the_block_runs():
    with memory.trimming(interval=0.05):
        keep, drop = _fragmented_heap()
        # Measured before the free: the thread may trim between the free and a later reading.
        before = memory.rss_mb()
        drop.clear()
        deadline = time.monotonic() + 5
        while memory.rss_mb() > before - 100 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert memory.rss_mb() < before - 100  # Trimmed by the thread, before the block ends.
    assert not any(t.name == "malloc-trim" for t in threading.enumerate())
    del keep


def test_trimming_rejects_a_bad_interval():
    with pytest.raises(ValueError, match="interval"):
        with memory.trimming(interval=0):
            pass


def test_trimming_is_a_no_op_without_malloc_trim(monkeypatch):
    monkeypatch.setattr(memory, "_MALLOC_TRIM", None)
    assert memory.trim_heap() is False
    with memory.trimming():
        pass


def test_training_loop_trims_only_the_first_step_eval_and_save(tmp_path, monkeypatch):
    from tests.common.training import test_loop as test_training
    blocks = []

    @contextlib.contextmanager
    def spy(interval=0.5):
        blocks.append(interval)
        yield

    monkeypatch.setattr(memory, "trimming", spy)
    test_training._toy_run(tmp_path, 4)  # Evaluates and saves at steps 2 and 4.
    assert len(blocks) == 3  # The first step, the first evaluation, the first save.
