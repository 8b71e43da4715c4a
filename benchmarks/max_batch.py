"""Largest Sketch RNN training batch that fits on the GPU: fits peak memory to batch size, then checks.

Runs benchmarks.train_sketch_rnn in a child process at two probe batch sizes, fits the
allocator's peak (gpu_peak_mb) as a line in the batch size, predicts the largest batch
whose peak stays under --fill of the card's memory, and runs that batch. A child that
runs out of memory is retried 20% smaller (at most --tries runs). Prints one JSON line
per probe and one "max_batch" line. Needs a GPU: TF reports no allocator peak on a CPU.

  .venv/bin/python -m benchmarks.max_batch --config paper
  .venv/bin/python -m benchmarks.max_batch --config default --probe 100 --probe 400
"""

import argparse
import json
import pathlib
import subprocess
import sys

if __package__ in (None, ""):  # Run as a file: `common` must be the project package.
    sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])

ROOT = pathlib.Path(__file__).resolve().parents[1]
MULTIPLE = 8  # Batch sizes tried are multiples of this.
OOM_MARKERS = ("ResourceExhausted", "RESOURCE_EXHAUSTED", "Out of memory", "out of memory", "OOM")


def predict_max_batch(points, capacity_mb, fill=0.9, multiple=MULTIPLE):
    """Largest batch, a multiple of `multiple`, whose linear peak-memory fit stays under fill*capacity.

    points: [(batch_size, peak_mb), ...] with at least two distinct batch sizes.
    """
    if len({b for b, _ in points}) < 2:
        raise ValueError(f"need peaks at two batch sizes to fit a line, got {points}")
    n = len(points)
    mean_b = sum(b for b, _ in points) / n
    mean_m = sum(m for _, m in points) / n
    slope = (sum((b - mean_b) * (m - mean_m) for b, m in points)
             / sum((b - mean_b) ** 2 for b, _ in points))
    if slope <= 0:
        raise ValueError(f"peak memory does not grow with batch size: {points}")
    intercept = mean_m - slope * mean_b
    budget = fill * capacity_mb - intercept
    if budget < slope * multiple:
        raise ValueError(f"{capacity_mb} MB x {fill} leaves no room above the fixed "
                         f"{intercept:.0f} MB for {multiple} sketches")
    return int(budget / slope) // multiple * multiple, slope, intercept


def gpu_capacity_mb():
    """Total memory of GPU 0 in MiB, from nvidia-smi."""
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout
    return float(out.split()[0])


def run_child(config, batch, extra, timeout):
    """One train_sketch_rnn run: (records, oom, stderr tail)."""
    cmd = [sys.executable, "-m", "benchmarks.train_sketch_rnn", "--config", config,
           "--batch_size", str(batch)] + extra
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [], False, f"timed out after {timeout} s"
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    tail = proc.stderr[-2000:]
    oom = proc.returncode != 0 and any(m in proc.stderr for m in OOM_MARKERS)
    if proc.returncode != 0 and not oom:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{tail}")
    return records, oom, tail


def peak_of(records):
    for r in records:
        if "gpu_peak_mb" in r:
            return r["gpu_peak_mb"]
    raise RuntimeError("the child reported no gpu_peak_mb: is TF using a GPU?")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="paper", help="train_sketch_rnn preset")
    parser.add_argument("--probe", type=int, action="append",
                        help="probe batch sizes (default 100 and 400)")
    parser.add_argument("--fill", type=float, default=0.9, help="fraction of the card to fill")
    parser.add_argument("--capacity_mb", type=float, default=None,
                        help="GPU memory in MiB (default: nvidia-smi)")
    parser.add_argument("--tries", type=int, default=3, help="runs at or below the prediction")
    parser.add_argument("--reps", type=int, default=3, help="timed steps per child")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per child")
    args = parser.parse_args(argv)
    probes = args.probe or [100, 400]
    if not 0 < args.fill <= 1:
        parser.error(f"--fill={args.fill} must be in (0, 1]")
    import tensorflow as tf
    if not tf.config.list_physical_devices("GPU"):
        parser.error("no GPU: max_batch measures the GPU allocator's peak")
    capacity = args.capacity_mb or gpu_capacity_mb()
    extra = ["--reps", str(args.reps), "--warmup", "1"]
    points = []
    for b in probes:
        records, oom, tail = run_child(args.config, b, extra, args.timeout)
        if oom:
            raise RuntimeError(f"probe batch {b} already runs out of memory:\n{tail}")
        points.append((b, peak_of(records)))
        for r in records:
            print(json.dumps({**r, "probe": True}), flush=True)
    batch, slope, intercept = predict_max_batch(points, capacity, args.fill)
    for _ in range(args.tries):
        records, oom, _ = run_child(args.config, batch, extra, args.timeout)
        if not oom and records:
            rate = next((r for r in records if r["unit"] == "sketches/s"), {})
            print(json.dumps({"name": f"max_batch_{args.config}", "unit": "sketches",
                              "value": batch, "gpu_peak_mb": peak_of(records),
                              "capacity_mb": capacity, "fill": args.fill,
                              "mb_per_sketch": round(slope, 2),
                              "fixed_mb": round(intercept, 1), "probes": points,
                              "sketches_per_s": rate.get("median"),
                              "gpu": rate.get("gpu")}), flush=True)
            return
        batch = int(batch * 0.8) // MULTIPLE * MULTIPLE
    raise RuntimeError(f"no batch fit after {args.tries} tries (last tried {batch})")


if __name__ == "__main__":
    main()
