"""WAE training throughput (steps/s, images/s, s/step, peak RSS): JSON lines, or before/after in one run.

Times the trainer's own step (wae_style.train.make_replica_step under a tf.function, as
common.training.loop.run builds it) on a fixed batch of random images, with random VGG16
weights (the speed does not depend on them).

  .venv/bin/python -m benchmarks.train_wae --config default
  .venv/bin/python -m benchmarks.train_wae --config testing --batch_size 16

--compare times two steps in one run and prints one JSON object: "before" and "after", each
a long-lived worker process that builds its step once, then times --steps steps whenever the
parent asks, the two taking turns for --rounds rounds (ABBA order, so a drift in the
machine's speed hits both alike). "before" runs the code of the git revision --before_rev
(extracted with git archive; the current tree if not given) with --before_override;
"after" runs the current tree with --after_override. Both get --override. A field that
the before code does not know is dropped there (and listed). The object also has the
step's conv/matmul FLOPs (counted from the config: forward, dX and dW of each layer; the
elementwise work is not counted), the achieved GFLOP/s and this machine's conv roofline
(a big 3x3 conv in float32 and bf16, measured in the same run, best of both ends), and
with --curves PATH both workers also train --curve_steps steps on the same batches of
the built-in images (same seed) and PATH gets both loss curves and their agreement.

  .venv/bin/python -m benchmarks.train_wae --compare --config default --batch_size 16 \\
      --override=decoder_channels=512,256,128,64,32 --override=num_res_blocks=2 \\
      --before_rev=BASE --after_override=precision=auto
"""

import argparse
import dataclasses
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):  # Run as a file: `common` must be the project package.
    sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])

ROOT = pathlib.Path(__file__).resolve().parents[1]
_MARK = "@@wae@@ "  # Prefixes the worker's answers on stdout (TF may print there too).
# VGG16 convs: (name, input side as a fraction of the image side, in channels, out channels).
_VGG16 = (("block1_conv1", 1, 3, 64), ("block1_conv2", 1, 64, 64),
          ("block2_conv1", 2, 64, 128), ("block2_conv2", 2, 128, 128),
          ("block3_conv1", 4, 128, 256), ("block3_conv2", 4, 256, 256),
          ("block3_conv3", 4, 256, 256), ("block4_conv1", 8, 256, 512),
          ("block4_conv2", 8, 512, 512), ("block4_conv3", 8, 512, 512),
          ("block5_conv1", 16, 512, 512), ("block5_conv2", 16, 512, 512),
          ("block5_conv3", 16, 512, 512))


def _conv(side, k, cin, cout):
    """FLOPs of one k x k conv with a side x side output, per image."""
    return 2 * side * side * k * k * cin * cout


def step_flops(config):
    """Conv and matmul FLOPs of one WAE training step, by part ({part: FLOPs}).

    Forward, and backward as needed: dX and dW of every trained layer (not of the first
    layer's input), dX only through the frozen VGG16 of the reconstruction; the inputs'
    VGG16 and Gram matrices are forward only. Elementwise work (activations, weight norm,
    Adam) is not counted.
    """
    c, s, b = config, config.image_size, config.batch_size
    deepest = max(n for n, *_ in enumerate(_VGG16) if _VGG16[n][0] in c.vgg_layers)
    vgg = [_conv(s // f, 3, ci, co) for _, f, ci, co in _VGG16[:deepest + 1]]
    enc_ch = c.encoder_channels
    enc, cin = [_conv(s, 3, 3, enc_ch[0])], enc_ch[0]
    for i, co in enumerate(enc_ch[1:], start=1):
        enc.append(_conv(s >> i, 4, cin, co))
        cin = co // 2 if c.glu_gating and i >= 2 else co
    enc_dense = 2 * (s // 16) ** 2 * cin * 2 * c.content_dim
    dch = c.decoder_channels
    dec = [2 * (c.content_dim + c.style_dim) * (s // 16) ** 2 * dch[0],
           _conv(s // 16, 3, dch[0], 4 * dch[1])]
    dec += [_conv(s // 8, 3, dch[1], dch[1])] * (2 * c.num_res_blocks)
    for i in range(3):
        dec.append(_conv(s // 8 << i, 3, dch[1 + i], 4 * dch[2 + i]))
    dec.append(_conv(s, 5, dch[4], 3))
    grams, style = 0, 0
    for name in c.style_layers:
        _, f, _, ch = _VGG16[[n for n, *_ in _VGG16].index(name)]
        grams += 2 * (s // f) ** 2 * ch * ch
        size = ch * (ch + 1) // 2 + 2 if c.gram_flatten == "triu" else ch * ch + 2
        for j, h in enumerate(tuple(c.style_hidden) + (2 * c.style_dim_per_layer,)):
            style += 2 * size * h * (2 if j == 0 else 3)  # Forward + dW (+ dX after the first).
            size = h
    parts = {
        "vgg_inputs_forward": sum(vgg),
        "vgg_recon_forward_backward": 2 * sum(vgg) - vgg[0],
        "content_encoder": 3 * (sum(enc) + enc_dense) - enc[0],
        "decoder": 3 * sum(dec),
        "grams_inputs_and_recon": 3 * grams,  # Inputs forward; recon forward + backward.
        "style_nets": style,
    }
    parts = {k: b * v for k, v in parts.items()}
    parts["total"] = sum(parts.values())
    return parts


# ----------------------------------------------------------------------------- the worker

def _worker(args):
    """Builds one step from the code at --root and answers the parent's commands (stdin)."""
    sys.path.insert(0, args.root)
    import numpy as np
    import tensorflow as tf

    from wae_style import configs
    from wae_style import train

    fields = {f.name for f in dataclasses.fields(configs.WAEConfig)}
    config = configs.WAEConfig.preset(args.config)
    changes = {}
    if args.batch_size:
        changes["batch_size"] = args.batch_size
    config = dataclasses.replace(config, **changes).with_vgg("random")  # Its loss weights too.
    wanted = [o for o in args.override if o.partition("=")[0] in fields]
    dropped = [o for o in args.override if o not in wanted]
    config = config.replace_from_strings(wanted)

    def make():
        model, step, optimizer, disc_optimizer = train.build(config, tf.distribute.get_strategy())
        replica_step = train.make_replica_step(model, optimizer, disc_optimizer, step, config)

        @tf.function
        def step_fn(images):
            out = replica_step(images)
            step.assign_add(1)
            return out

        return step_fn

    step_fn = make()
    size = config.image_size
    images = tf.constant(np.random.default_rng(0).uniform(
        size=(config.batch_size, size, size, 3)).astype(np.float32))
    t0 = time.perf_counter()
    first_loss = float(step_fn(images)["loss"])
    first_s = time.perf_counter() - t0
    float(step_fn(images)["loss"])  # One untimed warm-up step.

    def answer(obj):
        print(_MARK + json.dumps(obj), flush=True)

    answer({"ready": True, "first_step_s": round(first_s, 2), "first_loss": first_loss,
            "dropped_overrides": dropped, "config": config.to_dict()})
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "time":
            wall, cpu = [], []
            for _ in range(cmd["steps"]):
                r0, c0 = time.perf_counter(), time.process_time()
                float(step_fn(images)["loss"])
                wall.append(time.perf_counter() - r0)
                cpu.append(time.process_time() - c0)
            answer({"wall": wall, "cpu": cpu, "load": os.getloadavg()[0]})
        elif cmd["cmd"] == "curve":
            from wae_style import data
            fresh = make()  # A new model, optimiser and step from the seed (train.build).
            pipeline = data.MixedPipeline(data.load_sources(
                dataclasses.replace(config, data=("builtin",), tfds=(), mix=())),
                config.batch_size, config.seed)
            curve = {}
            for k in range(cmd["steps"]):
                out = fresh(tf.constant(pipeline.batch(k)))
                for name in ("loss", "recon", "pixel", "feature", "gram", "mmd"):
                    curve.setdefault(name, []).append(float(out[name]))
            answer({"curve": curve})
        elif cmd["cmd"] == "quit":
            return


# ----------------------------------------------------------------------------- the parent

def _tree(rev, tmp):
    """The source tree to run: this one (rev None) or `rev` extracted into `tmp`."""
    if not rev:
        return str(ROOT)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
    return tmp


class _Worker:
    def __init__(self, name, root, args, overrides):
        cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--worker", "--root", root,
               "--config", args.config]
        if args.batch_size:
            cmd += ["--batch_size", str(args.batch_size)]
        cmd += [f"--override={o}" for o in overrides]
        self.name = name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, cwd=root)
        self.info = self._read()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith(_MARK):
                return json.loads(line[len(_MARK):])
        raise RuntimeError(f"the {self.name} worker ended (rc {self.proc.wait()})")

    def ask(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        try:
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.flush()
        except OSError:
            pass
        self.proc.wait(timeout=60)


def _smooth(values, width):
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= width:
            acc -= values[i - width]
        out.append(acc / min(i + 1, width))
    return out


def curve_agreement(before, after, width=20):
    """Per loss: the max relative difference of the smoothed (running-mean) curves."""
    out = {}
    for name in before:
        a, b = _smooth(before[name], width), _smooth(after[name], width)
        out[name] = max(abs(x - y) / max(abs(x), 1e-12) for x, y in zip(a, b))
    return out


def compare(args):
    from benchmarks import roofline
    from benchmarks import timing

    def conv_rates():
        return {d: roofline.measure_conv(d, reps=5) for d in ("float32", "bfloat16")}

    rates = [conv_rates()]
    with tempfile.TemporaryDirectory() as tmp:
        root = _tree(args.before_rev, tmp)
        workers = [_Worker("before", root, args, args.override + args.before_override),
                   _Worker("after", str(ROOT), args, args.override + args.after_override)]
        try:
            wall = {w.name: [] for w in workers}
            cpu = {w.name: [] for w in workers}
            loads = []
            for r in range(args.rounds):
                for w in (workers if r % 2 == 0 else workers[::-1]):
                    got = w.ask(cmd="time", steps=args.steps)
                    wall[w.name] += got["wall"]
                    cpu[w.name] += got["cpu"]
                    loads.append(got["load"])
            curves = ({w.name: w.ask(cmd="curve", steps=args.curve_steps)["curve"]
                       for w in workers} if args.curves else None)
        finally:
            for w in workers:
                w.close()
    rates.append(conv_rates())
    best = {d: max(r[d] for r in rates) for d in rates[0]}
    from wae_style import configs
    config = configs.WAEConfig.from_dict(workers[1].info["config"])
    flops = step_flops(config)
    gflop = flops["total"] / 1e9
    out = {"name": "wae_train_compare", "config": args.config,
           "batch_size": config.batch_size, "before_rev": args.before_rev or "(this tree)",
           "before_override": args.override + args.before_override,
           "after_override": args.override + args.after_override,
           "dropped_in_before": workers[0].info["dropped_overrides"],
           "rounds": args.rounds, "steps_per_round": args.steps,
           "gflop_per_step": round(gflop, 2),
           "gflop_by_part": {k: round(v / 1e9, 2) for k, v in flops.items() if k != "total"},
           "conv_roofline_gflops": {d: round(v, 1) for d, v in best.items()},
           "load_avg_1m_during": [round(min(loads), 2), round(max(loads), 2)]}
    for name in wall:
        s = statistics.median(wall[name])
        out[name] = {"s_per_step": round(s, 4), "images_per_s": round(config.batch_size / s, 2),
                     "min_s": round(min(wall[name]), 4), "max_s": round(max(wall[name]), 4),
                     "cpu_s_per_step": round(statistics.median(cpu[name]), 4),
                     "gflops": round(gflop / s, 1),
                     **{f"fraction_of_{d}_conv_roofline": round(gflop / s / v, 3)
                        for d, v in best.items()},
                     "first_loss": workers[0 if name == "before" else 1].info["first_loss"]}
    out["speedup"] = round(out["before"]["s_per_step"] / out["after"]["s_per_step"], 3)
    if curves:
        agreement = curve_agreement(curves["before"], curves["after"])
        out["curve_steps"] = args.curve_steps
        out["curve_max_rel_diff_smoothed"] = {k: round(v, 4) for k, v in agreement.items()}
        pathlib.Path(args.curves).write_text(json.dumps(
            {"before": curves["before"], "after": curves["after"],
             "max_rel_diff_smoothed": agreement, "smoothing": 20}))
    out.update(timing.machine())
    print(json.dumps(out), flush=True)
    return out


def single(args):
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
    config = dataclasses.replace(config, **changes).replace_from_strings(args.override)
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
             "precision": config.precision,
             "gflop_per_step": round(step_flops(config)["total"] / 1e9, 2),
             "first_step_s": round(first_s, 2), "first_loss": round(loss0, 4),
             "cpu_s_per_step": round(timing.summary(timer.cpu)["median"], 3), **timing.machine()}
    timing.emit(f"wae_train_{args.config}_s_per_step", "s/step", times, **extra)
    timing.emit(f"wae_train_{args.config}_steps_per_s", "steps/s", timing.rates(times, 1), **extra)
    timing.emit(f"wae_train_{args.config}_images_per_s", "images/s",
                timing.rates(times, config.batch_size), **extra)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default", help="WAE preset (default, paper, testing)")
    parser.add_argument("--batch_size", type=int, default=None)
    parser.add_argument("--jit_compile", type=lambda s: s.lower() in ("1", "true", "yes"),
                        default=None)
    parser.add_argument("--override", action="append", default=[], help="field=value")
    parser.add_argument("--reps", type=int, default=5, help="timed steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps after the first")
    parser.add_argument("--compare", action="store_true", help="before/after in one run")
    parser.add_argument("--before_rev", default="", help="git revision of the before code")
    parser.add_argument("--before_override", action="append", default=[])
    parser.add_argument("--after_override", action="append", default=[])
    parser.add_argument("--rounds", type=int, default=6, help="--compare: turns per worker")
    parser.add_argument("--steps", type=int, default=3, help="--compare: timed steps per turn")
    parser.add_argument("--curves", default="", help="--compare: write the loss curves here")
    parser.add_argument("--curve_steps", type=int, default=200)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args)
    if args.compare:
        return compare(args)
    return single(args)


if __name__ == "__main__":
    main()
