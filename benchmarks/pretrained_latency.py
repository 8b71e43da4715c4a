"""Latency of an imported pretrained decoder (Google's sheep): sampling and completion through the export and through the studio's HTTP API; one JSON line per figure.

Four figures, each over --reps calls after --warmup untimed ones, with p50 and p99 (ms):
`SketchModel.sample(1, tau)`, `SketchModel.complete(prefix, 1, tau)` with the first --prefix
points of a real drawing (QuickDraw recipe, 256-pixel units, the import's default normaliser),
and the same two as POST /api/sample and /api/complete (units "model", a fresh loopback
connection per call) to the studio app (`studio.server.create_app`) on Werkzeug's
threaded server. Call i uses seed i on both paths, so both draw the same sketches; a
sampled sketch ends when the model draws its end-of-sketch pen, so latency follows its length
(mean points are reported).

  .venv/bin/python -m benchmarks.pretrained_latency --workdir=workdirs/pretrained/workdirs/sheep
  .venv/bin/python -m benchmarks.pretrained_latency   # imports sheep.gen.json into a temp folder
"""

import argparse
import http.client
import json
import logging
import os
import pathlib
import sys
import tempfile
import threading
import time

if __package__ in (None, ""):  # Run as a file: `common` must be the project package.
    sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_MODEL_FILE = SHARED / "pretrained_sketch_rnn" / "sheep.gen.json"
DEFAULT_DRAWING = SHARED / "sketches" / "quickdraw_exupery_raw" / "sheep.ndjson"


def percentiles(values_ms):
    """p50 and p99 of a list of milliseconds (numpy's linear interpolation), rounded."""
    import numpy as np
    return {"p50": round(float(np.percentile(values_ms, 50)), 2),
            "p99": round(float(np.percentile(values_ms, 99)), 2)}


def post(port, path, body, timeout=120):
    """One POST to 127.0.0.1:port on a fresh connection; returns the decoded JSON answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise RuntimeError(f"POST {path}: HTTP {resp.status}: {data[:300]!r}")
    return json.loads(data)


def timed(fn, seeds, warmup_seeds):
    """Calls fn(seed) for each warm-up seed untimed, then for each seed; (ms list, results)."""
    for s in warmup_seeds:
        fn(s)
    times, results = [], []
    for s in seeds:
        t0 = time.perf_counter()
        results.append(fn(s))
        times.append((time.perf_counter() - t0) * 1000.0)
    return times, results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=None,
                        help="an imported workdir or export (default: import --model_file into a "
                             "temp folder)")
    parser.add_argument("--model_file", default=str(DEFAULT_MODEL_FILE), help="a .gen.json")
    parser.add_argument("--drawing", default=str(DEFAULT_DRAWING),
                        help="raw or simplified QuickDraw ndjson; its first drawing gives the "
                             "prefix")
    parser.add_argument("--prefix", type=int, default=30, help="prefix points for completion")
    parser.add_argument("--reps", type=int, default=50, help="timed calls per figure")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first")
    parser.add_argument("--temperature", type=float, default=0.5)
    args = parser.parse_args(argv)
    if args.reps < 1 or args.warmup < 0 or args.prefix < 1:
        raise SystemExit("--reps and --prefix must be >= 1, --warmup >= 0")

    import numpy as np
    from werkzeug.serving import make_server

    from benchmarks import timing
    from common.strokes.quickdraw import load_ndjson
    from sketch_rnn.client import SketchModel
    from studio import server

    tmp = None
    workdir = args.workdir
    if workdir is None:
        from sketch_rnn import pretrained
        tmp = tempfile.TemporaryDirectory(prefix="pretrained_latency_")
        workdir = os.path.join(tmp.name, "model")
        pretrained.import_gen_json(args.model_file, workdir)
    model = SketchModel(workdir)
    name = (model.class_names or ["model"])[0]
    sketches = load_ndjson(args.drawing).sketches
    if not sketches or len(sketches[0]) < args.prefix:
        raise SystemExit(f"{args.drawing}: its first drawing has fewer than {args.prefix} points")
    prefix = np.asarray(sketches[0][:args.prefix], np.float32)  # (P, 3) 256-pixel units.
    tau = args.temperature
    extra = {"model": str(model.path), "max_seq_len": model.max_seq_len,
             "normaliser": round(model.scale_factor, 4), "temperature": tau, "n": 1,
             **timing.machine()}
    seeds = list(range(1, args.reps + 1))
    warmup = list(range(10_000, 10_000 + args.warmup))

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # No per-request log lines.
    httpd = make_server("127.0.0.1", 0, server.create_app({name: model}), threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_port
    rows = [[float(v) for v in r] for r in prefix]
    try:
        figures = (
            ("pretrained_sample_export_ms", "export",
             lambda s: len(model.sample(1, tau, s)[0])),
            ("pretrained_sample_http_ms", "http",
             lambda s: len(post(port, "/api/sample", {"model": name, "n": 1, "temperature": tau,
                                                     "seed": s})["samples"][0])),
            ("pretrained_complete_export_ms", "export",
             lambda s: len(model.complete(prefix, 1, tau, s)[0])),
            ("pretrained_complete_http_ms", "http",
             lambda s: len(post(port, "/api/complete",
                                {"model": name, "strokes": rows, "units": "model", "n": 1,
                                 "temperature": tau, "seed": s})["completions"][0]["strokes"])),
        )
        for fig, path, fn in figures:
            times, points = timed(fn, seeds, warmup)
            more = {"prefix": args.prefix} if "complete" in fig else {}
            timing.emit(fig, "ms", times, **percentiles(times), path=path,
                        mean_points=round(float(np.mean(points)), 1), **more, **extra)
    finally:
        httpd.shutdown()
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
