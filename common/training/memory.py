"""Returns freed heap to the OS while XLA compiles, so peak RSS is the step's, not compile's plus the step's.

An XLA compile frees a few hundred MB of small allocations, which glibc keeps in its
arenas; the first step's buffers then come on top (measured for Sketch RNN default():
peak RSS 1.57 GB, of which about 200 MB was freed compiler heap; 1.37 GB with trimming).
"""

import contextlib
import ctypes
import ctypes.util
import threading


def _load_malloc_trim():
    """glibc's malloc_trim(pad), or None where the C library has none (musl, macOS)."""
    try:
        fn = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


_MALLOC_TRIM = _load_malloc_trim()


def rss_mb():
    """This process's resident set size now, in MiB (Linux /proc); nan if it reports none."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def trim_heap():
    """Gives free heap pages back to the OS (glibc malloc_trim); False where unsupported."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True


@contextlib.contextmanager
def trimming(interval=0.5):
    """Trims the heap every `interval` seconds while the block runs, and once at its end.

    Wrap the first (compiling) call of a jit-compiled function: the compiler's freed heap
    is returned before the step's own buffers are allocated. A no-op without glibc.

    Args:
        interval: seconds between trims (> 0).
    """
    if interval <= 0:
        raise ValueError(f"interval={interval} must be > 0")
    if _MALLOC_TRIM is None:
        yield
        return
    stop = threading.Event()

    def loop():
        while not stop.wait(interval):
            _MALLOC_TRIM(0)

    thread = threading.Thread(target=loop, name="malloc-trim", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        _MALLOC_TRIM(0)
