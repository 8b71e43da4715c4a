"""What this machine's processors are and can do: model name, feature flags, cores, native bf16."""

import importlib.metadata
import os
import platform
import sys

_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# The flags that change how fast (and, for int8 kernels, what) the models compute.
REPORTED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


def _cpuinfo(prefixes, path):
    """The value of the first line of `path` starting with one of `prefixes`, or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(prefixes):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags(path="/proc/cpuinfo"):
    """The CPU feature flags of the first processor in `path` (empty where unreadable)."""
    return set((_cpuinfo(("flags", "Features"), path) or "").split())


def cpu_model(path="/proc/cpuinfo", default="unknown"):
    """The "model name" of the first processor in `path` (`default` where it has none)."""
    return _cpuinfo(("model name",), path) or default


def native_bf16(flags=None):
    """True where bf16 matmuls run natively.

    A GPU of compute capability >= 8.0 (which then runs the model), else a CPU with
    avx512_bf16 or amx_bf16. Elsewhere XLA:CPU emulates bf16 dots, which is slower than
    fp32 (measured 130 against 173 GFLOP/s on an AVX-512 Xeon without avx512_bf16).

    Args:
        flags: CPU flags to judge instead of this machine's (then GPUs are not asked).
    """
    if flags is None:
        import tensorflow as tf  # Only when the GPUs must be asked.

        for gpu in tf.config.list_physical_devices("GPU"):
            capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
            return bool(capability and tuple(capability) >= (8, 0))
        flags = cpu_flags()
    return any(flag in set(flags) for flag in _BF16_CPU_FLAGS)


def cores():
    """The processors this process may run on (its affinity mask; all of them off Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # Not Linux.
        return os.cpu_count() or 1


def describe(flags=None, model=None):
    """What a measurement ran on, for reports and benchmark JSON.

    Args:
        flags, model: CPU flags and model name to report instead of this machine's (tests).

    Returns:
        {"cpu", "cpu_flags" (those of REPORTED_FLAGS it has, in that order), "cores",
        "load_avg_1m", "tensorflow" (installed version, or None)}, plus "gpu" (the first
        GPU's name) where TensorFlow is already imported and sees one.
    """
    flags = cpu_flags() if flags is None else set(flags)
    info = {"cpu": cpu_model(default=platform.processor() or platform.machine())
            if model is None else model,
            "cpu_flags": [f for f in REPORTED_FLAGS if f in flags], "cores": cores()}
    try:
        info["load_avg_1m"] = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # Not Unix.
        info["load_avg_1m"] = None
    try:
        info["tensorflow"] = importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        info["tensorflow"] = None
    tf = sys.modules.get("tensorflow")  # Never imported here: a load generator has no need.
    if tf is not None and model is None:
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            info["gpu"] = tf.config.experimental.get_device_details(gpus[0]).get("device_name")
    return info
