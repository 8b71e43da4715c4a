"""Sketch RNN sampling latency and throughput: one JSON line per figure.

Times sketch_rnn.sample.sample (z ~ N(0, I), the compiled while loop) at batch 1, 100 and
1000, and sketch_rnn.sample.complete (a 100-point prefix plus 150 generated points, as the
web studio calls it). The model has its initial random weights with the end-of-sketch pen
logit pushed down, so every sketch runs the full max_len steps (a trained model would
stop earlier and look faster).

  .venv/bin/python -m benchmarks.sample_sketch_rnn
  .venv/bin/python -m benchmarks.sample_sketch_rnn --matmul_dtype bfloat16 --batch 1
"""

import argparse
import pathlib
import sys

if __package__ in (None, ""):  # Run as a file: `common` must be the project package.
    sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])


def build_model(name, seed=0, matmul_dtype=None):
    """A SketchRNN of preset `name` whose sketches never end early."""
    import keras
    import numpy as np
    from benchmarks.train_sketch_rnn import make_config
    from sketch_rnn.model import SketchRNN
    keras.utils.set_random_seed(seed)
    config = make_config(name, matmul_dtype=matmul_dtype)
    model = SketchRNN(config)
    bias = model.head.bias.numpy()
    bias[2] = -30.0  # p3 (end of sketch) logit.
    model.head.bias.assign(bias.astype(np.float32))
    return model, config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default", help="preset (see train_sketch_rnn)")
    parser.add_argument("--batch", type=int, action="append",
                        help="batch sizes to time (default: 1, 100, 1000)")
    parser.add_argument("--max_len", type=int, default=250)
    parser.add_argument("--reps", type=int, default=7, help="timed calls per figure")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls (compile)")
    parser.add_argument("--temperature", type=float, default=0.5)
    parser.add_argument("--matmul_dtype", choices=("float32", "bfloat16", "auto"), default=None)
    parser.add_argument("--no_completion", action="store_true",
                        help="skip the completion latency figure")
    args = parser.parse_args(argv)

    import numpy as np
    from benchmarks import timing as common
    from sketch_rnn import sample as sample_lib
    model, config = build_model(args.config, matmul_dtype=args.matmul_dtype)
    matmul_dtype = config.matmul_dtype
    extra = {"config": args.config, "max_len": args.max_len, "matmul_dtype": matmul_dtype,
             **common.machine()}
    seed = [0]

    def run(fn):
        def call():
            seed[0] += 1
            strokes, lengths = fn(seed[0])
            np.asarray(strokes)
            return lengths
        return call

    for n in args.batch or [1, 100, 1000]:
        call = run(lambda s: sample_lib.sample(model, n, args.temperature, s, args.max_len))
        lengths = np.asarray(call())
        if not np.all(lengths == args.max_len):
            raise RuntimeError(f"sketches ended early: {lengths.min()} < {args.max_len}")
        times = common.time_reps(call, reps=args.reps, warmup=args.warmup)
        per = [t / n * 1000.0 for t in times]
        common.emit(f"sample_batch{n}_ms_per_sketch", "ms/sketch", per, batch=n, **extra)
        common.emit(f"sample_batch{n}_sketches_per_s", "sketches/s", common.rates(times, n),
                    batch=n, **extra)

    if not args.no_completion:
        prefix_len, rest = 100, 150
        rng = np.random.default_rng(0)
        prefix = np.zeros((1, prefix_len + 1, 5), np.float32)
        prefix[0, 0, 2] = 1.0
        prefix[0, 1:, :2] = rng.normal(size=(prefix_len, 2))
        prefix[0, 1:, 2] = 1.0
        lengths = np.array([prefix_len], np.int32)
        call = run(lambda s: sample_lib.complete(model, prefix, lengths, args.temperature, s,
                                                 rest))
        times = common.time_reps(call, reps=args.reps, warmup=args.warmup)
        common.emit("complete_100_plus_150_ms", "ms", [t * 1000.0 for t in times],
                    prefix=prefix_len, generated=rest, **extra)


if __name__ == "__main__":
    main()
