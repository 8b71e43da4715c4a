"""Throughput of StrokePipeline.batch on a sketch-rnn .npz: prints one JSON line."""

import argparse
import json
import pathlib
import time

import numpy as np

from common.strokes.dataset import StrokePipeline, load_strokes

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

DEFAULT_NPZ = REPO_ROOT.parent / "shared" / "data" / "sketches" / \
    "hardmaru_sketch-rnn-datasets" / "aaron_sheep.npz"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--npz", default=str(DEFAULT_NPZ), help="sketch-rnn .npz file")
    parser.add_argument("--batch_size", type=int, default=100)
    parser.add_argument("--batches", type=int, default=50, help="batches per timed rep")
    parser.add_argument("--reps", type=int, default=5, help="timed reps (after one warm-up)")
    args = parser.parse_args(argv)
    splits = load_strokes([args.npz])
    pipe = StrokePipeline.from_splits(splits, "train", batch_size=args.batch_size, seed=0)
    step = 0
    for _ in range(min(args.batches, 5)):  # Warm-up.
        pipe.batch(step)
        step += 1
    rates = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        for _ in range(args.batches):
            pipe.batch(step)
            step += 1
        rates.append(args.batches * args.batch_size / (time.perf_counter() - t0))
    print(json.dumps({"name": "stroke_pipeline", "sketches_per_s": float(np.median(rates)),
                      "min": float(np.min(rates)), "max": float(np.max(rates)),
                      "reps": args.reps, "batch_size": args.batch_size,
                      "npz": pathlib.Path(args.npz).name}))


if __name__ == "__main__":
    main()
