"""bf16 or float32: whichever runs given matmuls and convs faster here, measured and cached."""

import dataclasses
import hashlib
import json
import math
import os
import pathlib
import threading
import time

from common import files, hardware

DTYPES = ("float32", "bfloat16")
# bfloat16 must be at least this much faster (summed over the shapes) to be picked: a tie
# or noise keeps float32, which is exact and never emulated.
MARGIN = 0.05
# ...and by at least this many seconds per call in all: below it the difference is the
# call's overhead and noise (tiny shapes), where float32 loses nothing.
MIN_SAVING_S = 5e-5
# A shape heavier than this (FLOPs per call) is timed on fewer rows of its leading
# (batch) dimension, so that one probe stays within about 3 s on 2 cores.
PROBE_FLOPS = 2e9
REPEATS = 5  # Best of at most this many timed calls per shape and dtype...
REPEAT_BUDGET_S = 0.25  # ...or fewer once these seconds are spent (at least 2).
# Bumped when the way of timing changes, so that older cached decisions are ignored.
PROBE_VERSION = 1
CACHE_ENV = "SKETCHSTYLE_CACHE_DIR"
NO_FLAG = "no avx512_bf16/amx_bf16 flag"

# The one mutable state: this process's decisions by key (disk cache entries included).
_MEMO = {}
_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Decision:
    """A precision and why: `why` reads e.g. "1.9 ms vs 2.6 ms float32 on ..., measured"."""

    dtype: str
    why: str

    @property
    def reason(self):
        """"<dtype>: <why>", e.g. "bfloat16: 1.9 ms vs 2.6 ms float32 on ..., measured"."""
        return f"{self.dtype}: {self.why}"


def matmul_label(shape):
    """"(M, K)x(K, N)" for a matmul shape (M, K, N)."""
    m, k, n = shape
    return f"({m}, {k})x({k}, {n})"


def conv_label(shape):
    """"conv3x3 (B, H, W, Cin)->Cout" for a conv shape (B, H, W, Cin, Cout)."""
    b, h, w, cin, cout = shape
    return f"conv3x3 ({b}, {h}, {w}, {cin})->{cout}"


def _ms(seconds):
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def _valid(t):
    return isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t > 0


def decide(float32_s, bfloat16_s, labels=()):
    """The faster dtype for timings (seconds per call) of the same shapes in each dtype.

    bfloat16 only where the sum of its times is at least MARGIN and MIN_SAVING_S below
    float32's; a tie, a smaller gain, or a missing, NaN or non-positive timing gives float32.

    Args:
      float32_s, bfloat16_s: seconds per call, one per shape, in the same order.
      labels: the shapes' labels (matmul_label, conv_label), for the reason.

    Returns:
      A Decision.
    """
    on = f" on {' + '.join(labels)}" if labels else ""
    f32, b16 = list(float32_s), list(bfloat16_s)
    if not f32 or len(f32) != len(b16) or not all(_valid(t) for t in f32 + b16):
        return Decision("float32", f"timings incomplete{on} (float32 {f32}, bfloat16 {b16})")
    t32, t16 = sum(f32), sum(b16)
    if t16 <= (1.0 - MARGIN) * t32 and t32 - t16 >= MIN_SAVING_S:
        return Decision("bfloat16", f"{_ms(t16)} vs {_ms(t32)} float32{on}")
    short = ""
    if t16 < t32:
        short = (f", bfloat16 not {MARGIN:.0%} faster" if t16 > (1.0 - MARGIN) * t32
                 else f", bfloat16 saves under {_ms(MIN_SAVING_S)}")
    return Decision("float32", f"{_ms(t32)} vs {_ms(t16)} bfloat16{on}{short}")


def cache_dir():
    """$SKETCHSTYLE_CACHE_DIR, else $XDG_CACHE_HOME/sketchstyle, else ~/.cache/sketchstyle."""
    if os.environ.get(CACHE_ENV):
        return pathlib.Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "sketchstyle"


def _gpus(flags):
    """This machine's GPUs; none when judging injected CPU flags."""
    if flags is not None:
        return []
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def cache_key(matmuls=(), convs=(), jit_compile=True, flags=None):
    """What a decision depends on: processor, TensorFlow, threads, shapes and the probe.

    Args:
      matmuls, convs, jit_compile, flags: as for probe().
    """
    import tensorflow as tf

    device = "cpu"
    for gpu in _gpus(flags):  # The model runs on the first GPU.
        device = tf.config.experimental.get_device_details(gpu).get("device_name", "gpu")
        break
    flags = sorted(hardware.cpu_flags() if flags is None else flags)
    return {"cpu": hardware.cpu_model(), "flags": hashlib.sha256(" ".join(flags).encode()).hexdigest()[:16],
            "device": device, "tensorflow": tf.__version__, "threads": hardware.cores(),
            "jit_compile": bool(jit_compile), "matmuls": [[int(n) for n in s] for s in matmuls],
            "convs": [[int(n) for n in s] for s in convs], "probe": PROBE_VERSION}


def _cache_file(key):
    text = json.dumps(key, sort_keys=True)
    return cache_dir() / f"precision-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"


def _read_cache(path, key):
    """The Decision stored in `path` for `key`, or None (missing, unreadable, corrupt, other key)."""
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):  # ValueError: bad JSON or bad UTF-8.
        return None
    if (not isinstance(record, dict) or record.get("key") != key
            or record.get("dtype") not in DTYPES or not isinstance(record.get("why"), str)):
        return None
    return Decision(record["dtype"], record["why"])


def _write_cache(path, key, decision, float32_s, bfloat16_s):
    """Stores a measured decision atomically; an unwritable cache folder just skips it."""
    record = {"key": key, "dtype": decision.dtype, "why": decision.why,
              "float32_s": float32_s, "bfloat16_s": bfloat16_s}
    try:
        files.atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    except OSError:
        pass


def _capped(shape, flops_per_row):
    """`shape` with its leading dimension cut so that a call costs at most PROBE_FLOPS."""
    rows = max(1, min(shape[0], int(PROBE_FLOPS // flops_per_row)))
    return (rows,) + tuple(shape[1:])


def time_call(kind, shape, dtype, jit_compile=True):
    """Seconds per call (best of the repeats after a warm-up) of one op in one precision.

    bfloat16 runs as the models run it: a matmul of bf16 operands (the weight cast once
    outside, as sketch_rnn.precision.matmul_operand hoists it) with float32 results, and a
    conv of bf16 activations with a float32 kernel cast on use and a bf16 output (Keras'
    mixed_bfloat16 policy).

    Args:
      kind: "matmul" (shape (M, K, N)) or "conv" (shape (B, H, W, Cin, Cout), 3x3, stride
        1, "same").
      shape: the op's shape; a leading dimension over PROBE_FLOPS is cut (_capped).
      dtype: "float32" or "bfloat16".
      jit_compile: compile with XLA.

    Raises:
      ValueError: an unknown kind.
    """
    import tensorflow as tf

    with tf.init_scope():  # Eagerly, even when a config is built inside a tf.function.
        return _time_eagerly(tf, kind, shape, dtype == "bfloat16", jit_compile)


def _time_eagerly(tf, kind, shape, low, jit_compile):
    """time_call's work; low: bfloat16."""
    if kind == "matmul":
        m, k, n = _capped(shape, 2 * shape[1] * shape[2])
        a = tf.random.stateless_normal((m, k), seed=(1, 2))
        b = tf.random.stateless_normal((k, n), seed=(3, 4)) * 0.05
        args = (a, tf.cast(b, tf.bfloat16) if low else b)

        def op(a, b):
            if not low:
                return tf.linalg.matmul(a, b)
            a = tf.cast(a, tf.bfloat16)
            if jit_compile:  # XLA's bf16 x bf16 -> fp32 dot.
                return tf.linalg.matmul(a, b, output_type=tf.float32)
            return tf.cast(tf.linalg.matmul(a, b), tf.float32)  # oneDNN's bf16 matmul.
    elif kind == "conv":
        batch, h, w, cin, cout = _capped(shape, 18 * shape[1] * shape[2] * shape[3] * shape[4])
        x = tf.random.stateless_uniform((batch, h, w, cin), seed=(5, 6))
        kernel = tf.random.stateless_normal((3, 3, cin, cout), seed=(7, 8)) * 0.05
        args = (tf.cast(x, tf.bfloat16) if low else x, kernel)

        def op(x, kernel):
            return tf.nn.conv2d(x, tf.cast(kernel, x.dtype), 1, "SAME")
    else:
        raise ValueError(f"kind={kind!r}: use 'matmul' or 'conv'")
    fn = tf.function(op, jit_compile=jit_compile)

    def once():
        start = time.perf_counter()
        out = fn(*args)  # On a CPU the call returns when done.
        if "GPU" in out.device:  # A GPU runs asynchronously: wait for it.
            float(tf.reduce_sum(tf.cast(out[:1, :1], tf.float32)))
        return time.perf_counter() - start

    once(), once()  # Compiles, then warms the caches.
    times, spent = [], 0.0
    while len(times) < REPEATS and (len(times) < 2 or spent < REPEAT_BUDGET_S):
        times.append(once())
        spent += times[-1]
    return min(times)


def _measure(matmuls, convs, jit_compile, timer):
    """(Decision, float32 seconds, bfloat16 seconds): both dtypes of each shape, in turn."""
    jobs = [("matmul", s, matmul_label(s)) for s in matmuls]
    jobs += [("conv", s, conv_label(s)) for s in convs]
    times, errors = {dtype: [] for dtype in DTYPES}, []
    for kind, shape, label in jobs:
        for dtype in DTYPES:
            try:
                times[dtype].append(float(timer(kind, tuple(shape), dtype, jit_compile)))
            except Exception as e:  # noqa: BLE001 - a probe must never stop a run.
                times[dtype].append(float("nan"))
                errors.append(f"{label} in {dtype} failed: {type(e).__name__}: {e}")
    decision = decide(times["float32"], times["bfloat16"], [label for _, _, label in jobs])
    if errors:
        decision = Decision(decision.dtype, f"{decision.why}; {'; '.join(errors)}")
    return decision, times["float32"], times["bfloat16"]


def probe(matmuls=(), convs=(), jit_compile=True, flags=None, timer=None):
    """float32 or bfloat16 for these shapes on this machine, and why.

    Without native bf16 (no avx512_bf16 / amx_bf16 CPU flag, or a GPU below compute
    capability 8.0) bf16 is emulated and always slower: float32, nothing timed. Elsewhere
    both precisions are timed (time_call) and decide() picks; the result is kept for this
    process and, once measured, in a JSON file in cache_dir() keyed by cache_key(). A
    corrupt cache file is measured again; an unwritable cache folder is not used.

    Args:
      matmuls: (M, K, N) shapes: (M, K) @ (K, N) as the model's matmuls run them.
      convs: (B, H, W, Cin, Cout) shapes of 3x3 convolutions.
      jit_compile: time under XLA (as a jit-compiled training step runs) or not.
      flags: CPU flags to judge instead of this machine's (then GPUs are not asked).
      timer: (kind, shape, dtype, jit_compile) -> seconds per call; None: time_call.

    Returns:
      A Decision; its `why` ends in "measured" or "cached (<file>)" when timed.
    """
    if not matmuls and not convs:
        raise ValueError("probe: give at least one matmul or conv shape")
    key = cache_key(matmuls, convs, jit_compile, flags)
    memo_key = json.dumps(key, sort_keys=True)
    with _LOCK:  # One probe at a time: two at once would time each other.
        if memo_key in _MEMO:
            return _MEMO[memo_key]
        if not hardware.native_bf16(flags):
            why = "GPU compute capability below 8.0" if _gpus(flags) else NO_FLAG
            decision = Decision("float32", f"no native bf16 ({why})")
        else:
            path = _cache_file(key)
            cached = _read_cache(path, key)
            if cached is not None:
                decision = Decision(cached.dtype, f"{cached.why}, cached ({path})")
            else:
                measured, f32, b16 = _measure(matmuls, convs, jit_compile, timer or time_call)
                if all(_valid(t) for t in f32 + b16):  # A failed timing is tried again next time.
                    _write_cache(path, key, measured, f32, b16)
                decision = Decision(measured.dtype, f"{measured.why}, measured")
        _MEMO[memo_key] = decision
        return decision


def last_decision(matmuls=(), convs=(), jit_compile=True, flags=None):
    """The Decision probe() gave for these arguments in this process, or None (not asked)."""
    return _MEMO.get(json.dumps(cache_key(matmuls, convs, jit_compile, flags), sort_keys=True))
