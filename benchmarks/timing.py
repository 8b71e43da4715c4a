"""Shared benchmark helpers: warm-up, timed repetitions, median/min/max, peak RSS and JSON lines."""

import json
import resource
import statistics
import sys
import time

from common import hardware


def peak_rss_mb():
    """Peak resident set size of this process so far, in MiB (Linux ru_maxrss is in KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / (1024.0 * 1024.0) if sys.platform == "darwin" else kib / 1024.0


def machine():
    """What the figures were measured on (common.hardware.describe): CPU, flags, cores, load, TF."""
    return hardware.describe()


def recurrent_weight_scale(units):
    """Std of the (H, 4H) kernel in the timed recurrent loops h <- (h @ W)[:, :H].

    1/sqrt(H) keeps h's scale over any number of steps, so neither library meets denormal
    floats (a smaller scale shrinks h towards zero step by step, and a CPU without
    flush-to-zero then slows down by 10-20x).
    """
    return units ** -0.5


def gpu_memory_mb(device="GPU:0"):
    """Peak and current bytes of TF's allocator on `device`, in MiB; {} without a GPU."""
    import tensorflow as tf
    if not tf.config.list_physical_devices("GPU"):
        return {}
    info = tf.config.experimental.get_memory_info(device)
    return {"gpu_peak_mb": round(info["peak"] / 2**20, 1),
            "gpu_current_mb": round(info["current"] / 2**20, 1)}


def cpu_seconds():
    """User + system CPU seconds used by this process (all threads) so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Timer:
    """Wall and process-CPU seconds of each timed call (CPU time is less sensitive to load)."""

    def __init__(self):
        self.wall, self.cpu = [], []

    def __call__(self, fn):
        c0, t0 = cpu_seconds(), time.perf_counter()
        fn()
        self.wall.append(time.perf_counter() - t0)
        self.cpu.append(cpu_seconds() - c0)


def time_reps(fn, reps=5, warmup=1, timer=None):
    """Calls fn() `warmup` times untimed, then `reps` times; returns the seconds of each timed call.

    fn must block until its work is done (e.g. call .numpy() on a result). Pass a Timer to
    also collect the process CPU seconds of each call.
    """
    if reps < 1:
        raise ValueError(f"reps={reps} must be >= 1")
    for _ in range(warmup):
        fn()
    timer = timer if timer is not None else Timer()
    for _ in range(reps):
        timer(fn)
    return timer.wall[-reps:]


def summary(values):
    """{median, min, max} of a list of numbers."""
    return {"median": float(statistics.median(values)), "min": float(min(values)),
            "max": float(max(values))}


def emit(name, unit, values, stream=None, **extra):
    """Prints one JSON line: name, unit, median/min/max of `values`, reps, peak RSS and extras."""
    record = {"name": name, "unit": unit, **summary(values), "reps": len(values),
              "peak_rss_mb": round(peak_rss_mb(), 1)}
    record.update(extra)
    print(json.dumps(record), file=stream or sys.stdout, flush=True)
    return record


def rates(times, items):
    """items / t for each time t (e.g. sketches/s from seconds per step)."""
    return [items / t for t in times]
