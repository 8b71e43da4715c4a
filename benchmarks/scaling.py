"""How the default() training step grows with batch size and max_seq_len: JSON lines and two plots.

Each point runs benchmarks.train_sketch_rnn in its own process (full-length sketches, the
trainer's step) and the figures are plotted to OUT_DIR/scaling_batch.png and
OUT_DIR/scaling_seq.png. Nothing is written unless --out_dir is given.

  .venv/bin/python -m benchmarks.scaling --out_dir=scaling
"""

import argparse
import json
import pathlib
import subprocess
import sys

if __package__ in (None, ""):  # Run as a file: `common` must be the project package.
    sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])

ROOT = pathlib.Path(__file__).resolve().parents[1]


def measure(config, batch_size, max_seq_len, reps, warmup, extra=()):
    """Runs one benchmark process; returns its s/step JSON record."""
    cmd = [sys.executable, "-m", "benchmarks.train_sketch_rnn", "--config", config,
           "--batch_size", str(batch_size), "--max_seq_len", str(max_seq_len),
           "--reps", str(reps), "--warmup", str(warmup), *extra]
    out = subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            if rec["unit"] == "s/step":
                return rec
    raise RuntimeError(f"no s/step figure from {' '.join(cmd)}")


def plot(records, key, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r[key] for r in records]
    med = [r["median"] for r in records]
    lo = [r["median"] - r["min"] for r in records]
    hi = [r["max"] - r["median"] for r in records]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.6))
    ax[0].errorbar(xs, med, yerr=[lo, hi], marker="o", capsize=3)
    ax[0].set_xlabel(key)
    ax[0].set_ylabel("s / step (median, min-max)")
    ax[0].set_ylim(bottom=0)
    ax[0].grid(alpha=0.3)
    per = [r["median"] / (r["batch_size"] * r["max_seq_len"]) * 1e6 for r in records]
    ax[1].plot(xs, per, marker="o", color="tab:orange")
    ax[1].set_xlabel(key)
    ax[1].set_ylabel("µs per sketch point")
    ax[1].set_ylim(bottom=0)
    ax[1].grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default")
    parser.add_argument("--batch_sizes", default="25,50,100,200")
    parser.add_argument("--seq_lens", default="50,125,250")
    parser.add_argument("--fixed_batch", type=int, default=100)
    parser.add_argument("--fixed_seq", type=int, default=250)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--matmul_dtype", choices=("float32", "bfloat16", "auto"), default=None)
    parser.add_argument("--out_dir", default=None, help="write the two PNGs here")
    args = parser.parse_args(argv)
    extra = ["--matmul_dtype", args.matmul_dtype] if args.matmul_dtype else []
    batch_recs, seq_recs = [], []
    for b in [int(x) for x in args.batch_sizes.split(",")]:
        rec = measure(args.config, b, args.fixed_seq, args.reps, args.warmup, extra)
        print(json.dumps({**rec, "sweep": "batch_size"}), flush=True)
        batch_recs.append(rec)
    for t in [int(x) for x in args.seq_lens.split(",")]:
        rec = measure(args.config, args.fixed_batch, t, args.reps, args.warmup, extra)
        print(json.dumps({**rec, "sweep": "max_seq_len"}), flush=True)
        seq_recs.append(rec)
    if args.out_dir:
        out = pathlib.Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        dtype = batch_recs[0].get("matmul_dtype", "")
        plot(batch_recs, "batch_size", out / "scaling_batch.png",
             f"{args.config}() step vs batch size (max_seq_len {args.fixed_seq}, {dtype})")
        plot(seq_recs, "max_seq_len", out / "scaling_seq.png",
             f"{args.config}() step vs max_seq_len (batch {args.fixed_batch}, {dtype})")
        print(f"plots in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
