"""Sustained concurrent load on the studio server over loopback: mixed good and bad requests, flat memory."""

import concurrent.futures
import http.client
import io
import json
import os
import pathlib
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 600  # Loading TF and both exports; a hang guard, not a speed check.

DRAWING = ([[100.0, 100.0, 0]] + [[6.0, (-1) ** i * 9.0, 0] for i in range(20)] + [[0.0, 0.0, 1]]
           + [[-90.0, 80.0, 0]] + [[4.0, -2.5, 0]] * 15 + [[1.0, 1.0, 1]])
SQUARE = [[10.0, 10.0, 0], [100.0, 0.0, 0], [0.0, 100.0, 0], [-100.0, 0.0, 0], [0.0, -100.0, 1]]


def _png(size=(40, 30), mode="RGB"):
    buf = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else 128).save(buf, format="PNG")
    return buf.getvalue()


def multipart(fields):
    """(body, content type) for a multipart form; file fields are (bytes, filename)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        if isinstance(value, tuple):
            data, filename = value
            head = (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n")
        else:
            data = str(value).encode()
            head = f'Content-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(f"--{boundary}\r\n".encode() + head.encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def j(obj):
    return json.dumps(obj).encode(), "application/json"


BOMB = bytearray(_png((1, 1), "L"))
BOMB[16:24] = (60000).to_bytes(4, "big") * 2  # IHDR claims 60000 x 60000 (CRC now wrong too).

# name: (method, path, body builder (rng -> (bytes, content type)) or None, expected class, headers)
REQUESTS = {
    "health": ("GET", "/api/health", None, 2, {}),
    "page": ("GET", "/", None, 2, {}),
    "static": ("GET", "/static/studio.js", None, 2, {}),
    "presets": ("GET", "/api/presets", None, 2, {}),
    "preset_png": ("GET", "/api/presets/style/1.png", None, 2, {}),
    "sample": ("POST", "/api/sample", lambda r: j({"n": 2, "temperature": 0.6,
                                                     "seed": int(r.integers(1000)), "max_len": 20}),
               2, {}),
    "complete": ("POST", "/api/complete", lambda r: j({"strokes": DRAWING, "n": 2, "max_len": 20,
                                                         "seed": int(r.integers(1000))}), 2, {}),
    "interpolate": ("POST", "/api/interpolate", lambda r: j({"a": DRAWING, "b": SQUARE, "steps": 3,
                                                               "max_len": 16}), 2, {}),
    "stylize_presets": ("POST", "/api/stylize",
                        lambda r: multipart({"content_preset": "1", "style_preset": "2",
                                             "strength": "0.7"}), 2, {}),
    "stylize_upload": ("POST", "/api/stylize",
                       lambda r: multipart({"content": (_png(), "c.png"), "style_preset": "0"}),
                       2, {}),
    # Bad requests: each must get a 4xx.
    "bad_json": ("POST", "/api/sample", lambda r: (b"{not json", "application/json"), 4, {}),
    "bad_utf8": ("POST", "/api/complete", lambda r: (b'{"strokes": "\xff\xfe"}',
                                                     "application/json"), 4, {}),
    "nan": ("POST", "/api/complete", lambda r: (b'{"strokes": [[NaN, 1, 1]]}',
                                                "application/json"), 4, {}),
    "too_many": ("POST", "/api/sample", lambda r: j({"n": 10_000}), 4, {}),
    "unknown_field": ("POST", "/api/sample", lambda r: j({"n": 1, "evil": True}), 4, {}),
    "empty_drawing": ("POST", "/api/complete", lambda r: j({"strokes": []}), 4, {}),
    "huge_coord": ("POST", "/api/complete", lambda r: j({"strokes": [[1e9, 0, 1]]}), 4, {}),
    "too_long": ("POST", "/api/complete",
                 lambda r: j({"strokes": [[1.0, float(i % 7), 0] for i in range(5000)]}), 4, {}),
    "wrong_type": ("POST", "/api/complete", lambda r: (b"strokes=1", "text/plain"), 4, {}),
    "random_json": ("POST", "/api/interpolate",
                    lambda r: j({"a": r.integers(-5, 5, size=int(r.integers(0, 4))).tolist(),
                                 "steps": int(r.integers(-3, 100))}), 4, {}),
    "not_image": ("POST", "/api/stylize", lambda r: multipart({"content": (b"hello", "x.png"),
                                                               "style_preset": "0"}), 4, {}),
    "bomb": ("POST", "/api/stylize", lambda r: multipart({"content": (bytes(BOMB), "b.png"),
                                                          "style_preset": "0"}), 4, {}),
    "bad_preset": ("POST", "/api/stylize", lambda r: multipart({"content_preset": "99",
                                                                "style_preset": "0"}), 4, {}),
    "oversize": ("POST", "/api/complete", lambda r: (b" " * (5 << 20), "application/json"), 4, {}),
    "method": ("GET", "/api/complete", None, 4, {}),
    "not_found": ("GET", "/api/nothing/here", None, 4, {}),
    "bad_host": ("GET", "/api/health", None, 4, {"Host": "evil.example:8000"}),
}


def call(port, name, rng):
    method, path, make, _, headers = REQUESTS[name]
    body, ctype = make(rng) if make else (None, None)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    hdrs = dict(headers)
    if ctype:
        hdrs["Content-Type"] = ctype
    t0 = time.monotonic()
    try:
        try:
            conn.request(method, path, body=body, headers=hdrs)
        except (BrokenPipeError, ConnectionResetError):
            pass  # The server answered before reading the whole body: read its answer.
        resp = conn.getresponse()
        data = resp.read()
        status = resp.status
        if status >= 400:  # Every error is a JSON body with the same status.
            assert json.loads(data)["status"] == status
    except (ConnectionError, http.client.HTTPException) as e:
        status, data = f"{type(e).__name__}", b""
    finally:
        conn.close()
    return status, time.monotonic() - t0


def rss_mb(pid):
    """Resident set size of process `pid` in MiB (Linux /proc)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError(f"process {pid} reports no VmRSS")


@pytest.fixture(scope="module")
def live_server(reference_runs, tmp_path_factory):
    """The studio CLI in its own process on a free loopback port, serving the reference runs'
    exports, so that its memory is the server's alone: the Popen, with .port set."""
    log = tmp_path_factory.mktemp("studio") / "serve.log"
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scripts.serve", "--port=0",
             f"--sketch_model={reference_runs['sketch_rnn'] / 'export'}",
             f"--style_model={reference_runs['wae_style'] / 'export'}"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (line := next((x for x in log.read_text().splitlines()
                                 if x.startswith("Studio at http://")), None)):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        proc.port = int(line.split("http://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def request_names(n, seed):
    """n request names, a seeded random mix of REQUESTS with the 5 MB body kept rare."""
    rng = np.random.default_rng(seed)
    names = sorted(REQUESTS)
    out = []
    while len(out) < n:
        name = names[int(rng.integers(len(names)))]
        if name != "oversize" or rng.random() < 0.2:
            out.append(name)
    return out


def run_load(port, threads, n, seed):
    """Sends n requests from `threads` client threads: [(name, status, seconds)] in order."""
    names = request_names(n, seed)

    def one(i):
        return (names[i],) + call(port, names[i], np.random.default_rng([seed, i]))

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(n)))


def check_and_summarise(results):
    bad = [(n, s) for n, s, _ in results
           if not isinstance(s, int) or s // 100 != REQUESTS[n][3]]
    counts = {}
    for n, s, _ in results:
        counts.setdefault(str(s), 0)
        counts[str(s)] += 1
    lat = np.array([t for _, _, t in results])
    return bad, counts, {"p50_ms": round(float(np.percentile(lat, 50)) * 1000, 1),
                         "p99_ms": round(float(np.percentile(lat, 99)) * 1000, 1),
                         "max_ms": round(float(lat.max()) * 1000, 1)}


def load_test(server, threads, requests, record, name):
    """`requests` requests in two equal halves; the server's RSS is read before, between and
    after them."""
    port, rng = server.port, np.random.default_rng(0)
    for req in REQUESTS:  # Warm up: every route once, so lazy set-up is not counted as growth.
        status, _ = call(port, req, rng)
        assert isinstance(status, int) and status // 100 == REQUESTS[req][3], (req, status)
    before = rss_mb(server.pid)
    t0 = time.monotonic()
    first = run_load(port, threads, requests // 2, seed=1)
    mid = rss_mb(server.pid)
    second = run_load(port, threads, requests - requests // 2, seed=2)
    elapsed = time.monotonic() - t0
    after = rss_mb(server.pid)
    results = first + second
    bad, counts, latency = check_and_summarise(results)
    record(name, threads=threads, seconds=round(elapsed, 1), requests=len(results),
           requests_per_s=round(len(results) / elapsed, 1), statuses=counts, **latency,
           server_rss_mb={"before": round(before), "middle": round(mid), "after": round(after)})
    assert len(results) == requests
    assert not bad, bad[:10]
    assert not any(s.startswith("5") for s in counts), counts
    assert {REQUESTS[n][3] for n, _, _ in results} == {2, 4}
    # Memory stays flat: the second half adds (almost) nothing to the first half's footprint.
    assert after - before < max(100.0, 0.15 * before), (before, mid, after)
    assert after - mid < 64.0, (before, mid, after)
    # Still up and answering.
    assert server.poll() is None
    for req in ("health", "sample"):
        assert call(port, req, rng)[0] == 200, req
    return results


def test_sustained_mixed_load(live_server, record):
    load_test(live_server, threads=8, requests=2_000, record=record, name="load_studio")


@pytest.mark.slow
def test_sustained_mixed_load_long(live_server, record):
    load_test(live_server, threads=8, requests=40_000, record=record, name="load_studio_slow")
