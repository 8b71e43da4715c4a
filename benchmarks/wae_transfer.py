"""WAE transfer speed (images/s at batch 1 and 64) against the Gatys baseline on the same VGG.

Builds a WAE of the chosen preset (random VGG16 weights unless --vgg_weights: only the speed
matters here; --override changes config fields), times one compiled feed-forward `transfer`
pass (in --precision: float32, or bfloat16 convolutions and matmuls from float32 weights as
the export's `transfer_bf16` signature traces it; under XLA as the config says, or as
exports run with --jit_compile=false), and times `baselines.gatys_transfer` with the
given iterations on one image. One JSON line per figure, with the ratio at the end. It also
counts the FLOPs of one transfer per image (TF's graph profiler on the frozen function) and,
unless --no_roofline, measures the machine's matmul limit, so that the ms/image target can be
set against what the hardware allows (see benchmarks/roofline.py).

  .venv/bin/python -m benchmarks.wae_transfer --config default
"""

import argparse
import pathlib
import sys
import time

if __package__ in (None, ""):  # Run as a file: `common` must be the project package.
    sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default", help="WAE preset (default, paper, testing)")
    parser.add_argument("--batch", type=int, action="append", help="default: 1 and 64")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--gatys_iterations", type=int, default=200)
    parser.add_argument("--gatys_reps", type=int, default=5)
    parser.add_argument("--no_roofline", action="store_true", help="skip the matmul limit")
    parser.add_argument("--skip_gatys", action="store_true")
    parser.add_argument("--vgg_weights", default="random",
                        help="VGG16 weights: 'random' (the default: only speed matters), "
                             "'imagenet' or a weights file")
    parser.add_argument("--override", action="append", default=[], help="config field=value")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                        help="the transfer's compute precision (the export's two signatures)")
    parser.add_argument("--jit_compile", choices=("config", "true", "false"), default="config",
                        help="XLA for the timed transfer: the config's, or forced; exports "
                             "run without XLA")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from benchmarks import timing
    from experiments.style import baselines
    from wae_style import configs
    from wae_style import train

    config = configs.get_config(args.config).with_vgg(args.vgg_weights)
    config = config.replace_from_strings(args.override)
    config, _ = train.resolve_config(config)  # Checks a weights file and records its sha256.
    model, _, _, _ = train.build(config, tf.distribute.get_strategy())
    size = config.image_size
    rng = np.random.default_rng(0)
    jit = config.jit_compile if args.jit_compile == "config" else args.jit_compile == "true"
    extra = {"config": args.config, "image_size": size, "content_dim": config.content_dim,
             "decoder_channels": list(config.decoder_channels),
             "vgg_weights": config.vgg_weights, "precision": args.precision,
             "jit_compile": jit, **timing.machine()}
    fn = transfer_fn(model, size, args.precision, jit)
    per_image = {}
    for b in args.batch or [1, 64]:
        c = tf.constant(rng.uniform(size=(b, size, size, 3)).astype(np.float32))
        s = tf.constant(rng.uniform(size=(b, size, size, 3)).astype(np.float32))
        times = timing.time_reps(lambda: fn(c, s).numpy(), reps=args.reps, warmup=args.warmup)
        timing.emit(f"wae_transfer_batch{b}_ms_per_image", "ms/image",
                    [1000 * t / b for t in times], batch=b, **extra)
        timing.emit(f"wae_transfer_batch{b}_images_per_s", "images/s", timing.rates(times, b),
                    batch=b, **extra)
        per_image[b] = float(np.median(times)) / b

    flops = transfer_flops(model, size)
    timing.emit("wae_transfer_gflop_per_image", "GFLOP", [flops / 1e9], **extra)
    if not args.no_roofline:
        from benchmarks import roofline
        for dtype in ("float32", "bfloat16"):
            gflops = roofline.measure_matmul(2048, 5, True, dtype)
            best_ms = 1000 * flops / (gflops * 1e9)
            timing.emit(f"wae_transfer_limit_{dtype}_ms_per_image", "ms/image", [best_ms],
                        matmul_gflops=round(gflops, 1),
                        achieved_fraction=round(best_ms / (1000 * min(per_image.values())), 3),
                        **extra)
    if args.skip_gatys:
        return

    c1 = rng.uniform(size=(size, size, 3)).astype(np.float32)
    s1 = rng.uniform(size=(size, size, 3)).astype(np.float32)
    baselines.gatys_transfer(model.vgg, c1, s1, iterations=2)  # Trace the step once.

    def gatys():
        baselines.gatys_transfer(model.vgg, c1, s1, iterations=args.gatys_iterations)

    times = timing.time_reps(gatys, reps=args.gatys_reps, warmup=1)
    timing.emit(f"gatys_{args.gatys_iterations}it_s_per_image", "s/image", times,
                iterations=args.gatys_iterations, **extra)
    best = min(per_image.values())
    print(f'{{"name": "gatys_over_wae_ratio", "unit": "x", "median": '
          f'{float(np.median(times)) / best:.1f}, "wae_batch": {min(per_image, key=per_image.get)}, '
          f'"time": "{time.strftime("%Y-%m-%d %H:%M")}"}}', flush=True)


def transfer_fn(model, size, precision, jit_compile):
    """model.transfer as one traced function in `precision`, float32 images in and out.

    bfloat16 is traced once under the bf16 policy, as the export's `transfer_bf16` is.
    """
    import tensorflow as tf
    from wae_style import precision as precision_lib
    spec = tf.TensorSpec([None, size, size, 3], tf.float32)
    fn = tf.function(lambda a, b: tf.cast(model.transfer(a, b), tf.float32),
                     input_signature=[spec, spec], jit_compile=jit_compile)
    if precision == "bfloat16":
        with precision_lib.compute_policy(model, precision_lib.BF16_POLICY):
            return fn.get_concrete_function()
    return fn.get_concrete_function()


def transfer_flops(model, size):
    """Float operations of one 1-content, 1-style transfer, counted on the frozen graph."""
    import tensorflow as tf
    from tensorflow.python.framework import convert_to_constants
    from tensorflow.python.profiler import model_analyzer
    from tensorflow.python.profiler import option_builder

    spec = tf.TensorSpec([1, size, size, 3], tf.float32)
    concrete = tf.function(lambda a, b: model.transfer(a, b)).get_concrete_function(spec, spec)
    frozen = convert_to_constants.convert_variables_to_constants_v2(concrete)
    opts = option_builder.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return float(model_analyzer.profile(frozen.graph, options=opts).total_float_ops)


if __name__ == "__main__":
    main()
