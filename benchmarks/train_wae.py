"""WAE training throughput (steps/s, images/s, s/step, peak RSS): one JSON line per figure.

Times the trainer's own step (wae_style.train.make_replica_step under a tf.function, as
common.training.loop.run builds it) on a fixed batch of random 64x64 images, with random VGG16
weights (the speed does not depend on them).

  .venv/bin/python -m benchmarks.train_wae --config default
  .venv/bin/python -m benchmarks.train_wae --config testing --batch_size 16
"""

import argparse
import dataclasses
import pathlib
import sys
import time
from common.training import config as config_utils

if __package__ in (None, ""):  # Run as a file: `common` must be the project package.
    sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default", help="WAE preset (default, paper, testing)")
    parser.add_argument("--batch_size", type=int, default=None)
    parser.add_argument("--jit_compile", type=lambda s: s.lower() in ("1", "true", "yes"),
                        default=None)
    parser.add_argument("--override", action="append", default=[], help="field=value")
    parser.add_argument("--reps", type=int, default=5, help="timed steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps after the first")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from benchmarks import timing
    from wae_style import configs
    from wae_style import train

    config = dataclasses.replace(configs.get_config(args.config), vgg_weights="random")
    changes = {}
    if args.batch_size:
        changes["batch_size"] = args.batch_size
    if args.jit_compile is not None:
        changes["jit_compile"] = args.jit_compile
    config = config_utils.replace_from_strings(dataclasses.replace(config, **changes), args.override)
    strategy = tf.distribute.get_strategy()
    model, step, optimizer, disc_optimizer = train.build(config, strategy)
    replica_step = train.make_replica_step(model, optimizer, disc_optimizer, step, config)

    @tf.function
    def step_fn(images):
        out = replica_step(images)
        step.assign_add(1)
        return out

    size = config.image_size
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(size=(config.batch_size, size, size, 3)).astype(np.float32))
    t0 = time.perf_counter()
    loss0 = float(step_fn(images)["loss"])
    first_s = time.perf_counter() - t0
    timer = timing.Timer()
    times = timing.time_reps(lambda: float(step_fn(images)["loss"]), reps=args.reps,
                             warmup=args.warmup, timer=timer)
    extra = {"config": args.config, "batch_size": config.batch_size, "image_size": size,
             "content_dim": config.content_dim, "decoder_channels": list(config.decoder_channels),
             "penalty": config.penalty, "jit_compile": config.jit_compile,
             "first_step_s": round(first_s, 2), "first_loss": round(loss0, 4),
             "cpu_s_per_step": round(timing.summary(timer.cpu)["median"], 3), **timing.machine()}
    timing.emit(f"wae_train_{args.config}_s_per_step", "s/step", times, **extra)
    timing.emit(f"wae_train_{args.config}_steps_per_s", "steps/s", timing.rates(times, 1), **extra)
    timing.emit(f"wae_train_{args.config}_images_per_s", "images/s",
                timing.rates(times, config.batch_size), **extra)


if __name__ == "__main__":
    main()
