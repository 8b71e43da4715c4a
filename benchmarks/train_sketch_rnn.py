"""Sketch RNN training throughput (sketches/s, s/step, peak RSS): one JSON line per figure.

Times the trainer's own step (sketch_rnn.train.make_replica_step under a tf.function, as
common.training.loop.run builds it) on a synthetic batch where every sketch is a full
max_seq_len points, so no padding is skipped. Each config runs in its own process so
that peak RSS is per config.

  .venv/bin/python -m benchmarks.train_sketch_rnn --config default
  .venv/bin/python -m benchmarks.train_sketch_rnn --config small --config layer_norm
  .venv/bin/python -m benchmarks.train_sketch_rnn --config default --batch_size 25 --max_seq_len 50
"""

import argparse
import dataclasses
import pathlib
import subprocess
import sys
import time
from common.training import config as config_utils

if __package__ in (None, ""):  # Run as a file: `common` must be the project package.
    sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])

CONFIGS = ("default", "layer_norm", "paper", "small")


def make_config(name, batch_size=None, max_seq_len=None, jit_compile=None, overrides=(),
                matmul_dtype=None):
    """A SketchRNNConfig preset; "small" is enc 64, dec 128, batch 32, 100 steps."""
    from sketch_rnn import configs
    if name == "small":
        config = dataclasses.replace(configs.SketchRNNConfig.default(), enc_rnn_size=64,
                                     dec_rnn_size=128, batch_size=32, max_seq_len=100)
    else:
        config = configs.get_config(name)
    changes = {}
    if batch_size:
        changes["batch_size"] = batch_size
    if max_seq_len:
        changes["max_seq_len"] = max_seq_len
    if jit_compile is not None:
        changes["jit_compile"] = jit_compile
    if matmul_dtype:
        changes["matmul_dtype"] = matmul_dtype
    config = dataclasses.replace(config, **changes)
    return config_utils.replace_from_strings(config, list(overrides))


def full_length_batch(config, seed=0):
    """A stroke-5 batch (B, T+1, 5) with S0, every sketch T real points (no padding)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    b, t = config.batch_size, config.max_seq_len
    strokes = np.zeros((b, t + 1, 5), np.float32)
    strokes[:, 0, 2] = 1.0
    strokes[:, 1:, :2] = rng.normal(size=(b, t, 2))
    lift = rng.random((b, t)) < 0.15
    strokes[:, 1:, 2] = ~lift
    strokes[:, 1:, 3] = lift
    return {"strokes": strokes, "lengths": np.full((b,), t, np.int32)}


def build_step(config, strategy):
    """(the trainer's replica step under a tf.function that counts steps, the model)."""
    import tensorflow as tf
    from sketch_rnn import train
    model, step, optimizer = train.build(config, strategy)
    replica_step = train.make_replica_step(model, optimizer, step, config)

    @tf.function
    def step_fn(batch):
        out = strategy.run(replica_step, args=(batch,))
        step.assign_add(1)
        return out

    return step_fn, model


def run_one(args):
    import tensorflow as tf
    from benchmarks import timing as common

    from common.training import memory
    from common.training import strategies as training
    if args.strategy == "mirrored":  # Before TF touches the devices.
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)
    config = make_config(args.config[0], args.batch_size, args.max_seq_len, args.jit_compile,
                         args.override, args.matmul_dtype)
    strategy = training.make_strategy(args.strategy)
    step_fn, _ = build_step(config, strategy)
    matmul_dtype = config.matmul_dtype  # Resolved when the config was built.

    batch = full_length_batch(config)
    if args.strategy == "mirrored":
        batch = next(iter(strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensors(batch))))
    else:
        batch = {k: tf.constant(v) for k, v in batch.items()}
    t0 = time.perf_counter()
    with memory.trimming():  # As common.training.loop.run does for its first step.
        first = step_fn(batch)
    loss0 = float(strategy.reduce("MEAN", first["loss"], axis=None))
    compile_s = time.perf_counter() - t0

    def one():
        float(strategy.reduce("MEAN", step_fn(batch)["loss"], axis=None))

    timer = common.Timer()
    times = common.time_reps(one, reps=args.reps, warmup=args.warmup, timer=timer)
    extra = {"config": args.config[0], "batch_size": config.batch_size,
             "max_seq_len": config.max_seq_len, "enc": f"{config.enc_model} {config.enc_rnn_size}",
             "dec": f"{config.dec_model} {config.dec_rnn_size}",
             "jit_compile": config.jit_compile, "matmul_dtype": matmul_dtype,
             "strategy": args.strategy, "replicas": strategy.num_replicas_in_sync,
             "first_step_s": round(compile_s, 2),
             "cpu_s_per_step": round(common.summary(timer.cpu)["median"], 3),
             "first_loss": round(loss0, 4),
             **common.gpu_memory_mb(), **common.machine()}
    common.emit(f"train_{args.config[0]}_s_per_step", "s/step", times, **extra)
    common.emit(f"train_{args.config[0]}_sketches_per_s", "sketches/s",
                common.rates(times, config.batch_size), **extra)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", choices=CONFIGS,
                        help="preset(s) to time, each in its own process (default: default)")
    parser.add_argument("--reps", type=int, default=5, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after the first")
    parser.add_argument("--batch_size", type=int, default=None)
    parser.add_argument("--max_seq_len", type=int, default=None)
    parser.add_argument("--jit_compile", type=lambda s: s.lower() in ("1", "true", "yes"),
                        default=None, help="override config.jit_compile")
    parser.add_argument("--matmul_dtype", choices=("float32", "bfloat16", "auto"), default=None,
                        help="operand dtype of the recurrent matmuls (sketch_rnn.precision)")
    parser.add_argument("--strategy", choices=("default", "mirrored"), default="default",
                        help="mirrored: MirroredStrategy over --logical_cpus logical CPUs")
    parser.add_argument("--logical_cpus", type=int, default=2)
    parser.add_argument("--override", action="append", default=[],
                        help="SketchRNNConfig field=value override")
    args = parser.parse_args(argv)
    args.config = args.config or ["default"]
    if len(args.config) == 1:
        run_one(args)
        return
    rest = [a for a in (argv if argv is not None else sys.argv[1:])]
    base, skip = [], False
    for a in rest:  # Drop the --config flags; each child gets one.
        if skip:
            skip = False
            continue
        if a == "--config":
            skip = True
            continue
        if a.startswith("--config="):
            continue
        base.append(a)
    for name in args.config:
        subprocess.run([sys.executable, "-m", "benchmarks.train_sketch_rnn", "--config", name]
                       + base, check=True, cwd=pathlib.Path(__file__).resolve().parents[1])


if __name__ == "__main__":
    main()
