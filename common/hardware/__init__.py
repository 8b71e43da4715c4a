"""What this machine's processors are and can do: model name, feature flags, native bf16."""

_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


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
