"""Hardware limit of Sketch RNN training: analytic FLOPs per step vs this machine's matmul rate.

Counts the matmul FLOPs of one training step of each config from the matrix shapes (the
forward pass, and twice that for the backward: dX and dW), measures the sustained
GFLOP/s of a large matmul here (fp32, and bf16 with fp32 accumulation; best of several
repetitions, graph mode and XLA), and prints the resulting limits, one JSON line each.
Give measured step times (the JSON lines of train_sketch_rnn) to also get achieved/limit.

  .venv/bin/python -m benchmarks.roofline
  .venv/bin/python -m benchmarks.train_sketch_rnn --config default > train.jsonl
  .venv/bin/python -m benchmarks.roofline --train_json train.jsonl
  .venv/bin/python -m benchmarks.roofline --s_per_step default=1.44

Elementwise work (gates, layer norm, losses) is not counted: the figures are an upper
bound on what matmul-bound code could reach.

The large matmul gives the machine's peak. The recurrence cannot use it: each step is a
(B, H) @ (H, 4H) matmul whose input is the previous step's output. So the script also
times that shape in a compiled 250-step loop that carries h (--recurrent_steps; 0 skips
it) and prints the limit at that rate, which is the tighter bound for the training step.
It also says whether this CPU has bf16 matmuls (avx512_bf16 / amx_bf16), which decides
what `matmul_dtype="auto"` runs.
"""

import argparse
import json
import pathlib
import sys
import time

if __package__ in (None, ""):  # Run as a file: `common` must be the project package.
    sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])

CONFIGS = ("default", "layer_norm", "small", "paper")
NUM_INPUTS = 5


def cell_flops(kind, x, h, batch, hyper_units=256, hyper_embedding=32):
    """Matmul FLOPs of one forward step of a cell: (input part, recurrent part)."""
    if kind in ("lstm", "layer_norm"):
        return 2 * batch * x * 4 * h, 2 * batch * h * 4 * h
    # HyperLSTM: main W_xh, W_hh; hyper cell on [x; h] with its own state; embeddings.
    nh, e = hyper_units, hyper_embedding
    inputs = 2 * batch * x * 4 * h + 2 * batch * x * 4 * nh
    recurrent = (2 * batch * h * 4 * h + 2 * batch * (h + nh) * 4 * nh
                 + 2 * batch * (nh * 8 * e + 8 * e * h + nh * 4 * e + 4 * e * h))
    return inputs, recurrent


def step_flops(config, encoder_recompute=True):
    """Matmul FLOPs of one training step of a SketchRNNConfig, by part (a dict)."""
    c = config
    b, t = c.batch_size, c.max_seq_len
    kw = dict(hyper_units=c.hyper_num_units, hyper_embedding=c.hyper_embedding_size)
    parts = {}
    dec_x_in, dec_rec = cell_flops(c.dec_model, NUM_INPUTS, c.dec_rnn_size, b, **kw)
    z_once = 2 * b * c.z_size * 4 * c.dec_rnn_size if c.conditional else 0
    parts["decoder_forward"] = t * (dec_x_in + dec_rec) + z_once
    parts["decoder_z_per_step_forward"] = (  # What projecting z at every step would add.
        t * 2 * b * c.z_size * 4 * c.dec_rnn_size - z_once if c.conditional else 0)
    parts["mdn_head_forward"] = t * 2 * b * c.dec_rnn_size * (6 * c.num_mixture + 3)
    enc = 0
    enc_rec = 0
    if c.conditional:
        enc_x_in, enc_rec_step = cell_flops(c.enc_model, NUM_INPUTS, c.enc_rnn_size, b, **kw)
        enc = 2 * t * (enc_x_in + enc_rec_step)
        enc_rec = 2 * t * enc_rec_step
        enc += 2 * 2 * b * 2 * c.enc_rnn_size * c.z_size  # mu, sigma_hat.
        n_state = 2 * c.dec_rnn_size + (2 * c.hyper_num_units if c.dec_model == "hyper" else 0)
        enc += 2 * b * c.z_size * n_state  # z -> initial state.
    parts["encoder_forward"] = enc
    forward = parts["decoder_forward"] + parts["mdn_head_forward"] + enc
    parts["forward"] = forward
    parts["backward"] = 2 * forward + (enc_rec if encoder_recompute else 0)
    parts["total"] = forward + parts["backward"]
    return parts


def sample_flops(config):
    """Matmul FLOPs and weight bytes (fp32) of one decoder step of one sketch when sampling."""
    c = config
    x_in, rec = cell_flops(c.dec_model, NUM_INPUTS, c.dec_rnn_size, 1,
                           hyper_units=c.hyper_num_units, hyper_embedding=c.hyper_embedding_size)
    head = 2 * c.dec_rnn_size * (6 * c.num_mixture + 3)
    weights = (x_in + rec + head) // 2 * 4  # One read of each weight, fp32.
    return x_in + rec + head, weights


def measure_matmul(size, reps, jit, dtype):
    """Best GFLOP/s of a (size x size) @ (size x size) matmul."""
    import tensorflow as tf
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    if dtype == "bfloat16":
        a, b = tf.cast(a, tf.bfloat16), tf.cast(b, tf.bfloat16)
        if jit:
            fn = lambda a, b: tf.linalg.matmul(a, b, output_type=tf.float32)  # noqa: E731
        else:
            fn = lambda a, b: tf.cast(tf.linalg.matmul(a, b), tf.float32)  # noqa: E731
    else:
        fn = tf.linalg.matmul
    f = tf.function(fn, jit_compile=jit)
    f(a, b).numpy()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f(a, b).numpy()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size ** 3 / best / 1e9


def measure_conv(dtype, reps=5, batch=16, side=32, channels=256, jit=False):
    """Best GFLOP/s of a 3x3 same conv, (batch, side, side, channels) -> channels.

    Graph mode (oneDNN) by default: XLA:CPU runs bf16 convolutions at the float32 rate.
    """
    import tensorflow as tf
    x = tf.random.normal((batch, side, side, channels))
    w = tf.random.normal((3, 3, channels, channels))
    if dtype == "bfloat16":
        x, w = tf.cast(x, tf.bfloat16), tf.cast(w, tf.bfloat16)
    f = tf.function(lambda x, w: tf.nn.conv2d(x, w, 1, "SAME"), jit_compile=jit)
    f(x, w).numpy()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f(x, w).numpy()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * batch * side * side * 9 * channels * channels / best / 1e9


def measure_recurrent_matmul(batch, units, dtype, steps, reps):
    """Median GFLOP/s of h <- (h @ W)[:, :H] with W (H, 4H), over `steps` steps under XLA."""
    import numpy as np
    import tensorflow as tf
    from benchmarks import timing
    h0 = tf.random.normal((batch, units))
    w = tf.random.normal((units, 4 * units)) * timing.recurrent_weight_scale(units)
    if dtype == "bfloat16":
        w = tf.cast(w, tf.bfloat16)

    @tf.function(jit_compile=True)
    def loop(h0, w):
        def body(i, h):
            hm = tf.cast(h, w.dtype)
            out = (tf.linalg.matmul(hm, w, output_type=tf.float32) if dtype == "bfloat16"
                   else tf.linalg.matmul(hm, w))  # (B, 4H)
            return i + 1, out[:, :units]
        return tf.while_loop(lambda i, _: i < steps, body, (0, h0))[1]

    loop(h0, w).numpy()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        loop(h0, w).numpy()
        times.append(time.perf_counter() - t0)
    return 2.0 * batch * units * 4 * units * steps / float(np.median(times)) / 1e9


def read_step_times(paths, pairs):
    """{config: s/step} from train_sketch_rnn JSON lines and name=value pairs."""
    times = {}
    for path in paths:
        for line in pathlib.Path(path).read_text().splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            rec = json.loads(line)
            if rec.get("unit") == "s/step" and rec.get("name", "").startswith("train_"):
                key = rec["config"] + ("" if rec.get("matmul_dtype") in (None, "float32")
                                       else "/" + rec["matmul_dtype"])
                times[key] = rec["median"]
    for pair in pairs:
        name, _, value = pair.partition("=")
        times[name] = float(value)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="matmul size for the limit")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--train_json", action="append", default=[],
                        help="file of train_sketch_rnn JSON lines (measured s/step)")
    parser.add_argument("--s_per_step", action="append", default=[],
                        help="measured time as config=seconds or config/bfloat16=seconds")
    parser.add_argument("--no_measure", action="store_true",
                        help="skip the matmul measurement (use --fp32/--bf16 rates)")
    parser.add_argument("--recurrent_steps", type=int, default=250,
                        help="steps of the carried (B, H) @ (H, 4H) loop; 0 skips it")
    parser.add_argument("--fp32_gflops", type=float, default=None)
    parser.add_argument("--bf16_gflops", type=float, default=None)
    args = parser.parse_args(argv)

    from benchmarks import timing
    from benchmarks.train_sketch_rnn import make_config
    from common import hardware
    from sketch_rnn import configs
    machine = timing.machine()
    flags = sorted(hardware.cpu_flags() & {"avx2", "avx512f", "avx512_vnni", "avx512_bf16",
                                             "amx_bf16", "amx_tile"})
    print(json.dumps({"name": "roofline_cpu", "unit": "flags", "value": flags,
                      "native_bf16": hardware.native_bf16(),
                      "auto_matmul_dtype": configs.resolve_matmul_dtype("auto"), **machine}),
          flush=True)
    rates = {"float32": args.fp32_gflops, "bfloat16": args.bf16_gflops}
    if not args.no_measure:
        for dtype in ("float32", "bfloat16"):
            best = 0.0
            for jit in (False, True):
                g = measure_matmul(args.size, args.reps, jit, dtype)
                print(json.dumps({"name": f"roofline_matmul_{dtype}_{'xla' if jit else 'graph'}",
                                  "unit": "GFLOP/s", "value": round(g, 1), "size": args.size,
                                  "reps": args.reps, **machine}), flush=True)
                best = max(best, g)
            rates[dtype] = rates[dtype] or best
    times = read_step_times(args.train_json, args.s_per_step)
    recurrent = {}  # (batch, units, dtype) -> GFLOP/s
    for name in CONFIGS if args.recurrent_steps > 0 and not args.no_measure else ():
        config = make_config(name)
        key = (config.batch_size, config.dec_rnn_size)
        for dtype in ("float32", "bfloat16"):
            if key + (dtype,) in recurrent:
                continue
            steps = args.recurrent_steps if key[1] < 2048 else max(args.recurrent_steps // 10, 1)
            g = measure_recurrent_matmul(*key, dtype, steps, reps=3)
            recurrent[key + (dtype,)] = g
            print(json.dumps({"name": f"roofline_recurrent_matmul_{dtype}_b{key[0]}_h{key[1]}",
                              "unit": "GFLOP/s", "value": round(g, 1), "batch": key[0],
                              "units": key[1], "steps": steps, **machine}), flush=True)
    for name in CONFIGS:
        config = make_config(name)
        parts = step_flops(config)
        gflop = parts["total"] / 1e9
        record = {"name": f"roofline_{name}", "unit": "GFLOP/step", "value": round(gflop, 1),
                  "forward_gflop": round(parts["forward"] / 1e9, 1),
                  "decoder_forward_gflop": round(parts["decoder_forward"] / 1e9, 1),
                  "encoder_forward_gflop": round(parts["encoder_forward"] / 1e9, 1),
                  "mdn_head_forward_gflop": round(parts["mdn_head_forward"] / 1e9, 2),
                  "z_per_step_would_add_gflop": round(
                      3 * parts["decoder_z_per_step_forward"] / 1e9, 1),
                  "batch_size": config.batch_size}
        for dtype, rate in rates.items():
            if rate:
                limit = gflop / rate
                record[f"limit_s_per_step_{dtype}"] = round(limit, 3)
                record[f"limit_sketches_per_s_{dtype}"] = round(config.batch_size / limit, 1)
            rate = recurrent.get((config.batch_size, config.dec_rnn_size, dtype))
            if rate:  # Every FLOP at the decoder's recurrent-shape rate.
                record[f"recurrent_shape_limit_s_per_step_{dtype}"] = round(gflop / rate, 3)
                record[f"recurrent_shape_limit_sketches_per_s_{dtype}"] = round(
                    config.batch_size * rate / gflop, 1)
        for key, measured in times.items():
            base, _, dtype = key.partition("/")
            if base == name:
                dtype = dtype or "float32"
                tag = "" if dtype == "float32" else "_" + dtype
                record[f"achieved_s_per_step{tag}"] = measured
                record[f"achieved_gflops{tag}"] = round(gflop / measured, 1)
                for limit_dtype, rate in rates.items():
                    if rate:
                        record[f"fraction_of_{limit_dtype}_limit{tag}"] = round(
                            gflop / measured / rate, 3)
        print(json.dumps(record), flush=True)
        flops, weight_bytes = sample_flops(config)
        sample = {"name": f"roofline_sample_{name}", "unit": "MFLOP/step/sketch",
                  "value": round(flops / 1e6, 2),
                  "gflop_per_250_step_sketch": round(250 * flops / 1e9, 3),
                  "weight_mb_read_per_step_fp32": round(weight_bytes / 1e6, 2)}
        for dtype, rate in rates.items():
            if rate:
                sample[f"limit_sketches_per_s_{dtype}"] = round(rate * 1e9 / (250 * flops), 1)
        print(json.dumps(sample), flush=True)


if __name__ == "__main__":
    main()
