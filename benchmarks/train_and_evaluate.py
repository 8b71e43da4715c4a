"""Sketch RNN training throughput as the user sees it: the real trainer next to the isolated step.

Runs `sketch_rnn.train.train_and_evaluate` (what `scripts.train_sketch_rnn` runs) on a real
stroke file for a fixed number of steps in a temporary workdir, with the user's log, eval
and save intervals (the config's unless given), and times every step through the
trainer's `on_step` hook, which the loop calls after a step's own host work (the finite
check, the progress line and the scalars) and before that step's evaluation and save.

The isolated step is `benchmarks/train_sketch_rnn.py`'s: the trainer's replica step under a
`tf.function` on one synthetic full-length batch, nothing else. This VM's speed drifts by
up to 2x within minutes, so by default (`--isolated paired`) the two are interleaved in one
process: after every `--interval` trainer steps past the warm-up, the hook runs
`--interval` isolated steps of a second model built the same way, and each trainer
interval is compared with the isolated block right after it. `--isolated after` (or
`before`) times the isolated step once, after (before) the whole trainer run, as
`benchmarks/train_sketch_rnn.py` does; `none` skips it.

Prints JSON lines (sketches/s unless noted; median, min and max over the values):

  train_and_evaluate_<config>_sketches_per_s   each trainer interval of --interval steps
      after --warmup_steps, leaving out the intervals that hold an evaluation or a save
  train_and_evaluate_<config>_isolated_sketches_per_s   each paired isolated block
  train_and_evaluate_<config>_ratio   trainer / isolated: per pair when paired, else the
      ratio of the medians (gap_percent = 100 (1 - median ratio))
  train_and_evaluate_<config>_window_sketches_per_s   sketches over the trainer's seconds
      from the warm-up to the last step, evaluations and saves inside included (one per
      run; the paired isolated blocks are not counted)
  train_and_evaluate_<config>_progress_sketches_per_s   the trainer's own progress-line
      figures after the warm-up (only without pairing: the blocks would be in them)
  train_and_evaluate_<config>_eval_save_s   seconds that each evaluation + save (+ export)
      inside the window adds to its step (the last step's is in run_s, not here)
  train_and_evaluate_<config>_cpu_s_per_step, _isolated_cpu_s_per_step, _cpu_ratio
      process CPU seconds (all threads) per step of the same intervals and blocks: less
      sensitive than wall time to the VM losing a core for a while

  .venv/bin/python -m benchmarks.train_and_evaluate --config default --steps 120
  .venv/bin/python -m benchmarks.train_and_evaluate --config default --eval_every 40 --save_every 40
  .venv/bin/python -m benchmarks.train_and_evaluate --config testing --steps 3 --isolated none
"""

import argparse
import contextlib
import dataclasses
import io
import json
import pathlib
import re
import statistics
import sys
import tempfile
import time

if __package__ in (None, ""):  # Run as a file: `common` must be the project package.
    sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared/data/sketches/hardmaru_sketch-rnn-datasets/aaron_sheep.npz"
CONFIGS = ("default", "layer_norm", "paper", "testing")
_RATE = re.compile(r"^step (\d+)/\d+ .*\| ([0-9.]+) steps/s ([0-9.]+) \w+/s")


class _Tee(io.TextIOBase):
    """Writes to `stream` and keeps the text (the trainer's progress lines)."""

    def __init__(self, stream):
        self.stream, self.parts = stream, []

    def write(self, s):
        self.parts.append(s)
        return self.stream.write(s)

    def flush(self):
        self.stream.flush()

    def text(self):
        return "".join(self.parts)


def make_config(args):
    """The run's SketchRNNConfig: the preset, the data, steps, intervals and --override."""
    from common.training import config as config_utils
    from sketch_rnn import configs
    config = configs.get_config(args.config)
    changes = {"data": (str(args.data),), "num_steps": args.steps}
    for name in ("log_every", "eval_every", "save_every", "matmul_dtype", "batch_size",
                 "max_seq_len", "jit_compile"):
        if getattr(args, name, None) is not None:
            changes[name] = getattr(args, name)
    config = dataclasses.replace(config, **changes)
    return config_utils.replace_from_strings(config, list(args.override))


class IsolatedStep:
    """benchmarks/train_sketch_rnn.py's step: a second model, one full-length batch."""

    def __init__(self, config):
        import tensorflow as tf
        from benchmarks import train_sketch_rnn
        from common.training import memory
        step_fn, model = train_sketch_rnn.build_step(config, tf.distribute.get_strategy())
        self._fn = step_fn
        self._batch = {k: tf.constant(v)
                       for k, v in train_sketch_rnn.full_length_batch(config).items()}
        self._model = model  # Keeps the variables alive.
        with memory.trimming():  # As the trainer's first step.
            self()
        self()  # Untimed warm-up.

    def __call__(self):
        return float(self._fn(self._batch)["loss"])  # Waits for the step.

    def time_steps(self, n):
        """(wall seconds, process CPU seconds) of n steps, after one untimed step.

        The untimed step absorbs a one-off cost: the first call after the trainer has
        created new functions (its first step, an evaluation, an export) takes longer.
        """
        from benchmarks import timing
        self()
        c0, t0 = timing.cpu_seconds(), time.perf_counter()
        for _ in range(n):
            self()
        return time.perf_counter() - t0, timing.cpu_seconds() - c0


def run_trainer(config, warmup_steps, interval, isolated=None, quiet=False):
    """One train_and_evaluate run in a temp workdir.

    Returns a dict: stamps {step: (wall, CPU) seconds when its host work ended}, resumed
    {step: (wall, CPU) seconds when the trainer resumed after the isolated block run at
    that step}, blocks [(step, (wall, CPU) seconds of the isolated block)], progress
    [(step, the line's items/s)], total_s, t0.
    """
    from benchmarks import timing
    from sketch_rnn import train
    stamps, resumed, blocks = {}, {}, []

    def now():
        return time.perf_counter(), timing.cpu_seconds()

    def on_step(step):
        stamps[step] = now()
        if isolated is not None and step >= warmup_steps and (step - warmup_steps) % interval == 0 \
                and step + interval <= config.num_steps:
            blocks.append((step, isolated.time_steps(interval)))
            resumed[step] = now()

    tee = _Tee(io.StringIO() if quiet else sys.stderr)
    with tempfile.TemporaryDirectory(prefix="train_and_evaluate_") as tmp:
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(tee):  # Stdout carries only the JSON lines.
            train.train_and_evaluate(config, pathlib.Path(tmp) / "run", on_step=on_step)
        total = time.perf_counter() - t0
    progress = [(int(m.group(1)), float(m.group(3)))
                for m in map(_RATE.match, tee.text().splitlines()) if m]
    return {"stamps": stamps, "resumed": resumed, "blocks": blocks, "progress": progress,
            "total_s": total, "t0": t0}


def eval_save_steps(config):
    """Steps before the last whose evaluation or save runs inside the timed window."""
    n = config.num_steps
    return sorted({s for s in range(1, n) if s % config.eval_every == 0
                   or s % config.save_every == 0})


def summarize(config, run, warmup_steps, interval):
    """Trainer intervals, paired ratios, window rate and eval/save seconds of one run."""
    b, n = config.batch_size, config.num_steps
    st = {s: v[0] for s, v in run["stamps"].items()}
    cpu = {s: v[1] for s, v in run["stamps"].items()}
    resumed = {s: v[0] for s, v in run["resumed"].items()}
    resumed_cpu = {s: v[1] for s, v in run["resumed"].items()}
    blocks = dict(run["blocks"])
    marks = eval_save_steps(config)
    out = {k: [] for k in ("steady", "isolated", "ratio", "window", "eval_save", "cpu",
                           "isolated_cpu", "cpu_ratio")}
    a = warmup_steps
    while a in st and a + interval in st:
        end = a + interval
        if not any(a <= s < end for s in marks):
            rate = b * interval / (st[end] - resumed.get(a, st[a]))
            cpu_step = (cpu[end] - resumed_cpu.get(a, cpu[a])) / interval
            out["steady"].append(rate)
            out["cpu"].append(cpu_step)
            if a in blocks:
                wall, iso_cpu = blocks[a]
                iso = b * interval / wall
                out["isolated"].append(iso)
                out["ratio"].append(rate / iso)
                out["isolated_cpu"].append(iso_cpu / interval)
                out["cpu_ratio"].append(cpu_step / (iso_cpu / interval))
        a = end
    if warmup_steps in st and n in st and n > warmup_steps:
        paused = sum(resumed[s] - st[s] for s in resumed if warmup_steps <= s < n)
        out["window"].append(b * (n - warmup_steps) / (st[n] - st[warmup_steps] - paused))
    plain = [st[s + 1] - resumed.get(s, st[s]) for s in range(warmup_steps, n)
             if s + 1 in st and s not in marks]
    if plain:
        step_s = statistics.median(plain)
        out["eval_save"] = [st[s + 1] - resumed.get(s, st[s]) - step_s for s in marks
                            if s + 1 in st and s >= warmup_steps]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=CONFIGS, default="default")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="stroke file or folder")
    parser.add_argument("--steps", type=int, default=120, help="trainer steps per run")
    parser.add_argument("--warmup_steps", type=int, default=10,
                        help="steps left out of the figures (the first compiles)")
    parser.add_argument("--interval", type=int, default=10,
                        help="steps per timed interval (and per paired isolated block)")
    parser.add_argument("--trainer_runs", type=int, default=1, help="train_and_evaluate runs")
    parser.add_argument("--log_every", type=int, default=None, help="default: the config's")
    parser.add_argument("--eval_every", type=int, default=None, help="default: the config's")
    parser.add_argument("--save_every", type=int, default=None, help="default: the config's")
    parser.add_argument("--matmul_dtype", choices=("float32", "bfloat16", "auto"), default=None)
    parser.add_argument("--batch_size", type=int, default=None)
    parser.add_argument("--max_seq_len", type=int, default=None)
    parser.add_argument("--jit_compile", type=lambda s: s.lower() in ("1", "true", "yes"),
                        default=None)
    parser.add_argument("--override", action="append", default=[],
                        help="SketchRNNConfig field=value override")
    parser.add_argument("--isolated", choices=("paired", "after", "before", "none"),
                        default="paired", help="how the isolated step is timed (see above)")
    parser.add_argument("--reps", type=int, default=7,
                        help="isolated step after/before: timed steps")
    parser.add_argument("--warmup", type=int, default=2,
                        help="isolated step after/before: untimed steps")
    parser.add_argument("--quiet", action="store_true", help="hide the trainer's own output")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.interval < 1 or args.warmup_steps < 0:
        parser.error("--steps and --interval must be >= 1, --warmup_steps >= 0")

    from benchmarks import timing
    config = make_config(args)
    name = f"train_and_evaluate_{args.config}"
    separate = {}

    def run_separately():
        from benchmarks import train_sketch_rnn
        ns = argparse.Namespace(
            config=[args.config], batch_size=config.batch_size, max_seq_len=config.max_seq_len,
            jit_compile=config.jit_compile, matmul_dtype=config.matmul_dtype,
            override=list(args.override), strategy="default", logical_cpus=2,
            reps=args.reps, warmup=args.warmup)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            train_sketch_rnn.run_one(ns)
        for line in out.getvalue().splitlines():
            print(line, flush=True)
            if line.startswith("{") and "_sketches_per_s" in line:
                separate.update(json.loads(line))

    if args.isolated == "before":
        run_separately()
    isolated = IsolatedStep(config) if args.isolated == "paired" else None
    runs = [run_trainer(config, args.warmup_steps, args.interval, isolated, args.quiet)
            for _ in range(args.trainer_runs)]
    figures = {}
    for run in runs:
        for k, v in summarize(config, run, args.warmup_steps, args.interval).items():
            figures.setdefault(k, []).extend(v)
    if args.isolated != "paired":  # The paired blocks would be inside the lines' intervals.
        figures["progress"] = [r for run in runs for s, r in run["progress"]
                               if s > args.warmup_steps]
    extra = {"data": pathlib.Path(args.data).name, "batch_size": config.batch_size,
             "max_seq_len": config.max_seq_len, "steps": config.num_steps,
             "warmup_steps": args.warmup_steps, "interval": args.interval,
             "log_every": config.log_every, "eval_every": config.eval_every,
             "save_every": config.save_every, "matmul_dtype": config.matmul_dtype,
             "jit_compile": config.jit_compile, "trainer_runs": args.trainer_runs,
             "isolated": args.isolated,
             "start_to_step1_s": [round(r["stamps"][1][0] - r["t0"], 1) for r in runs
                                  if 1 in r["stamps"]],
             "run_s": [round(r["total_s"], 1) for r in runs], **timing.machine()}
    recs = {}
    for key, suffix, unit in (("steady", "sketches_per_s", "sketches/s"),
                              ("isolated", "isolated_sketches_per_s", "sketches/s"),
                              ("window", "window_sketches_per_s", "sketches/s"),
                              ("progress", "progress_sketches_per_s", "sketches/s"),
                              ("eval_save", "eval_save_s", "s"),
                              ("cpu", "cpu_s_per_step", "CPU s/step"),
                              ("isolated_cpu", "isolated_cpu_s_per_step", "CPU s/step"),
                              ("cpu_ratio", "cpu_ratio", "trainer / isolated CPU s")):
        if figures.get(key):
            recs[key] = timing.emit(f"{name}_{suffix}", unit, figures[key], **extra)
    if args.isolated == "after":
        run_separately()
    ratios = figures.get("ratio") or []
    if not ratios and separate and "steady" in recs:
        ratios = [recs["steady"]["median"] / separate["median"]]
    if ratios:
        timing.emit(f"{name}_ratio", "trainer / isolated", ratios,
                    gap_percent=round(100 * (1 - statistics.median(ratios)), 1), **extra)


if __name__ == "__main__":
    main()
