"""A loader worker in its own process: each case gets a time bound, a memory cap and crash isolation."""

import json
import os
import select
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEMORY_CAP = 4 << 30  # Address-space cap of the worker: a blow-up shows as MemoryError.


def _check_sketch(s, want_int16):
    """Raises AssertionError unless `s` is a valid stroke-3 sketch."""
    import numpy as np  # noqa: PLC0415
    from common.errors import DataError  # noqa: PLC0415
    from common.strokes.formats import validate_stroke3

    assert isinstance(s, np.ndarray) and s.ndim == 2 and s.shape[1] == 3 and len(s) >= 1
    assert s.dtype.kind in "iuf"
    if want_int16:
        assert s.dtype == np.int16
    try:
        validate_stroke3(s)
    except DataError as e:  # A loader returned it: that is a wrong result, not a refusal.
        raise AssertionError(str(e)) from None


def _load(req):
    """Runs the loader; returns its result."""
    if req["kind"] == "npz":
        from common.strokes.safe_npz import load_npz
        return load_npz(req["path"], splits=tuple(req.get("splits") or ("train", "valid", "test")))
    from common.strokes.quickdraw import load_ndjson
    return load_ndjson(req["path"], on_error=req.get("on_error", "skip"),
                       simplify=req.get("simplify", True))


def _check(req, out):
    """Checks a loader's result; returns the outcome dict."""
    if req["kind"] == "npz":
        assert set(out) == set(req.get("splits") or ("train", "valid", "test"))
        for v in out.values():
            assert isinstance(v, list)
            for s in v:
                _check_sketch(s, want_int16=False)
        return {"status": "ok", "sketches": sum(len(v) for v in out.values())}
    for s in out.sketches:
        _check_sketch(s, want_int16=True)
    assert len(out.sketches) == len(out.words) == len(out.key_ids) == len(out.recognized)
    assert out.n_skipped == len(out.skipped_lines) == len(out.errors)
    return {"status": "ok", "sketches": len(out.sketches), "skipped": out.n_skipped}


def _run_case(req):
    """Loads one file as asked and checks the result; returns a JSON-able outcome."""
    from common.errors import SketchStyleError  # noqa: PLC0415

    try:
        out = _load(req)
    except SketchStyleError as e:
        return {"status": "error", "type": type(e).__name__, "msg": str(e)[:300]}
    except MemoryError as e:
        return {"status": "memory", "type": "MemoryError", "msg": str(e)[:300]}
    except BaseException as e:  # noqa: BLE001 -- anything else is a finding.
        return {"status": "foreign", "type": type(e).__name__, "msg": str(e)[:300]}
    try:
        return _check(req, out)
    except AssertionError as e:
        return {"status": "invalid", "type": "AssertionError", "msg": repr(e)[:300]}


def _serve():
    """Worker loop: one JSON request per stdin line, one JSON answer per stdout line."""
    import resource  # noqa: PLC0415

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # Stray prints must not break the protocol.
    for line in sys.stdin:
        out.write(json.dumps(_run_case(json.loads(line))) + "\n")
        out.flush()


class Sandbox:
    """Runs loader cases in a worker process, restarting it after a hang or a crash.

    Args:
        time_bound: seconds one case may take before it counts as a hang.
    """

    def __init__(self, time_bound=30.0):
        self.time_bound = time_bound
        self.proc = None
        self.times = []

    def _start(self):
        env = dict(os.environ, PYTHONPATH=REPO)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.sandbox"], cwd=REPO, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def run(self, **req):
        """One case; returns the outcome dict (status ok / error / invalid / memory / foreign /
        hang / crash) plus the seconds it took."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        t0 = time.monotonic()
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], self.time_bound)
        if not ready:
            self.close()
            return {"status": "hang", "seconds": time.monotonic() - t0}
        line = self.proc.stdout.readline()
        if not line:
            rc = self.proc.wait()
            self.proc = None
            return {"status": "crash", "returncode": rc, "seconds": time.monotonic() - t0}
        res = json.loads(line)
        res["seconds"] = time.monotonic() - t0
        self.times.append(res["seconds"])
        return res

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


if __name__ == "__main__":
    _serve()
