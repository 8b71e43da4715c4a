"""Load test of the studio's /api/complete: N concurrent loopback clients for a bounded time; prints JSON lines."""

import argparse
import datetime
import http.client
import ipaddress
import json
import pathlib
import threading
import time
import urllib.parse

import numpy as np

from common import hardware

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_ROOT / "demo_out" / "sketch_rnn" / "export"
MAX_DURATION_S = 600
MAX_REQUESTS = 100_000

# A zigzag and a line in canvas pixels, as the page sends them (first row absolute).
DRAWING = ([[100.0, 100.0, 0]] + [[6.0, (-1) ** i * 9.0, 0] for i in range(20)] + [[0.0, 0.0, 1]]
           + [[-90.0, 80.0, 0]] + [[4.0, -2.5, 0]] * 15 + [[1.0, 1.0, 1]])


def check_loopback(url):
    """(host, port) of a loopback http URL; anything else is refused."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if parts.scheme != "http" or not local:
        raise SystemExit(f"--url must be http:// on the loopback interface, got {url!r}")
    return host, parts.port or 80


def post(host, port, path, body, timeout):
    """One POST on a fresh connection: (status, seconds)."""
    data = json.dumps(body).encode()
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.perf_counter() - t0
    finally:
        conn.close()


def run_load(host, port, clients, duration, max_requests, n, temperature, timeout=60.0):
    """Runs the clients; returns the summary dict for /api/complete."""
    lock = threading.Lock()
    latencies, errors, issued = [], [], [0]
    deadline = time.monotonic() + duration

    def client(k):
        i = 0
        while time.monotonic() < deadline:
            with lock:
                if issued[0] >= max_requests:
                    return
                issued[0] += 1
            body = {"strokes": DRAWING, "temperature": temperature, "n": n, "seed": k * 100003 + i}
            i += 1
            try:
                status, seconds = post(host, port, "/api/complete", body, timeout)
            except OSError as e:
                with lock:
                    errors.append(type(e).__name__)
                continue
            with lock:
                if status == 200:
                    latencies.append(seconds)
                else:
                    errors.append(status)

    start = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + timeout + 5)
    wall = time.monotonic() - start
    ms = np.array(latencies) * 1e3
    pct = (lambda q: round(float(np.percentile(ms, q)), 1)) if len(ms) else (lambda q: None)
    return {"endpoint": "/api/complete", "clients": clients, "duration_s": round(wall, 2),
            "requests": len(latencies) + len(errors), "ok": len(latencies),
            "errors": len(errors), "error_kinds": sorted({str(e) for e in errors}),
            "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
            "max_ms": round(float(ms.max()), 1) if len(ms) else None,
            "requests_per_s": round(len(latencies) / wall, 2), "n": n, "temperature": temperature}


def start_server(sketch_model):
    """The studio app on Werkzeug's threaded server at 127.0.0.1:<free port>, in a thread."""
    import logging

    from werkzeug.serving import make_server

    from studio import server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # No per-request log lines.
    model = server.SketchModel(sketch_model)
    httpd = make_server("127.0.0.1", 0, server.create_app(model), threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sketch_model", default=str(DEFAULT_MODEL),
                        help="export or workdir served in-process (ignored with --url)")
    parser.add_argument("--url", default=None,
                        help="an already-running studio on loopback, e.g. http://127.0.0.1:8000/")
    parser.add_argument("--clients", default="4",
                        help="concurrent clients; a comma list (1,4,8) runs one load per value")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--max_requests", type=int, default=5000, help="stop after this many")
    parser.add_argument("--n", type=int, default=1, help="alternatives per completion")
    parser.add_argument("--temperature", type=float, default=0.5)
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests first")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= MAX_DURATION_S or not 0 < args.max_requests <= MAX_REQUESTS:
        raise SystemExit(f"--duration must be in (0, {MAX_DURATION_S}] and --max_requests in "
                         f"(0, {MAX_REQUESTS}]")
    try:
        clients = [int(c) for c in args.clients.split(",")]
    except ValueError:
        clients = []
    if not clients or min(clients) < 1 or max(clients) > 64:
        raise SystemExit(f"--clients must be integers in [1, 64], got {args.clients!r}")
    httpd, info = None, {}
    if args.url:
        host, port = check_loopback(args.url)
    else:
        if not pathlib.Path(args.sketch_model).exists():
            raise SystemExit(f"{args.sketch_model} not found: run the demo (README.md) or pass "
                             f"--sketch_model")
        httpd, model = start_server(args.sketch_model)
        host, port = "127.0.0.1", httpd.server_port
        info = {"model": str(model.path), "max_seq_len": model.max_seq_len}
    results = []
    try:
        for i in range(args.warmup):
            post(host, port, "/api/complete", {"strokes": DRAWING, "n": args.n, "seed": i}, 120)
        for c in clients:
            summary = run_load(host, port, c, args.duration, args.max_requests, args.n,
                               args.temperature)
            summary.update(info)
            summary.update(name="serve_load", machine=hardware.describe(),
                           date=datetime.datetime.now(datetime.timezone.utc).isoformat(
                               timespec="seconds"))
            print(json.dumps(summary), flush=True)
            results.append(summary)
    finally:
        if httpd is not None:
            httpd.shutdown()
    return results


if __name__ == "__main__":
    main()
