"""Sketch RNN sampling latency and throughput: one JSON line per figure.

Times sketch_rnn.sample.sample (z ~ N(0, I), the compiled while loop) at batch 1, 100 and
1000, and sketch_rnn.sample.complete (a 100-point prefix plus 150 generated points, as the
web studio calls it). The model has its initial random weights with the end-of-sketch pen
logit pushed down, so every sketch runs the full max_len steps (a trained model would
stop earlier and look faster).

At batch 1 each step reads the decoder's recurrent kernel and the mixture head and does
little else, so the step is bound by how fast those weights stream from cache or memory.
`sample_batch1_bound_ms` times a compiled 250-step loop that reads exactly those weights
once per step (h @ W_hh -> tanh -> head), with the bytes per step and the bandwidth it
reached; `sample_batch1_over_bound` is the sampler's time over that bound.

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


def weights_bound(config, steps, reps=7):
    """(ms per `steps`-step loop, bytes read per step) of a loop reading the decoder's weights.

    Each step: g = h @ W_hh (H, 4H) at the matmul dtype, + x @ W_x (5, 4H); h = tanh(g[:, :H]);
    the fp32 head (H, 6M + 3) applied to h and fed back, so every matrix is read once per step
    and no step can start before the last ends. Only the LSTM-shaped decoders (lstm,
    layer_norm) have this shape; others get None.
    """
    import numpy as np
    import tensorflow as tf
    from benchmarks import timing
    if config.dec_model not in ("lstm", "layer_norm"):
        return None
    h_size, outputs = config.dec_rnn_size, 6 * config.num_mixture + 3
    dt = tf.bfloat16 if config.matmul_dtype == "bfloat16" else tf.float32
    rng = np.random.default_rng(0)
    w_hh = tf.cast(rng.normal(0, h_size ** -0.5, (h_size, 4 * h_size)), dt)
    w_x = tf.cast(rng.normal(0, 0.1, (5, 4 * h_size)), dt)
    w_head = tf.constant(rng.normal(0, h_size ** -0.5, (h_size, outputs)), tf.float32)
    x = tf.cast(tf.ones((1, 5)), dt)

    @tf.function(jit_compile=True)
    def loop(h0):
        def body(i, h):
            g = (tf.linalg.matmul(tf.cast(h, dt), w_hh, output_type=tf.float32)
                 + tf.linalg.matmul(x, w_x, output_type=tf.float32))  # (1, 4H)
            h = tf.tanh(g[:, :h_size])  # (1, H)
            p = tf.linalg.matmul(h, w_head)  # (1, 6M + 3)
            return i + 1, h + 1e-6 * p[:, :1]
        return tf.while_loop(lambda i, _: i < steps, body, (0, h0))[1]

    h0 = tf.constant(rng.normal(size=(1, h_size)), tf.float32)
    times = timing.time_reps(lambda: loop(h0).numpy(), reps=reps, warmup=1)
    nbytes = (w_hh.shape.num_elements() + w_x.shape.num_elements()) * dt.size \
        + w_head.shape.num_elements() * 4
    return float(np.median(times)) * 1000.0, nbytes


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
        bound = weights_bound(config, args.max_len) if n == 1 else None
        if bound is not None:
            ms, nbytes = bound
            gbs = nbytes * args.max_len / (ms / 1000.0) / 1e9
            common.emit("sample_batch1_bound_ms", "ms", [ms], bytes_per_step=nbytes,
                        gb_per_s=round(gbs, 1), **extra)
            common.emit("sample_batch1_over_bound", "x", [p / ms for p in per], **extra)

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
