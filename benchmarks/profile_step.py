"""Where a Sketch RNN training step's time goes: XLA:CPU's per-thunk profile, as JSON lines.

Builds the step `benchmarks.train_sketch_rnn` times (the trainer's own replica step on full
250-point sketches), traces a few steps with TensorFlow's profiler and XLA's per-thunk
events (`--xla_cpu_enable_xprof_traceme`), and splits each worker thread's wall time into
self time by kind (dots, elementwise fusions, dynamic-update-slices, copies, other thunks,
the thunk executor's own dispatch and waits) and idle time, in ms per step:

  .venv/bin/python -m benchmarks.profile_step --matmul_dtype bfloat16
  .venv/bin/python -m benchmarks.profile_step --config small --steps 2 --top 5

A thunk is one compiled HLO instruction (a dot, a fusion of elementwise ops); a step runs
its time loops as while loops of such thunks, so `thunks_per_step` over the step's wall
time says how short they are. Idle is time a worker thread runs no thunk.
"""

import argparse
import collections
import glob
import os
import pathlib
import re
import sys
import tempfile

if __package__ in (None, ""):  # Run as a file: `benchmarks` must be the project package.
    sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])

KINDS = ("dot", "fusion", "dynamic-update-slice", "copy", "other thunk", "executor", "idle")
# Events that only wrap thunks: their self time is the executor's dispatch and waiting.
_EXECUTOR = ("ThunkExecutor::Execute", "SlinkyThreadPool::Await")
# The event that spans one call of the compiled step.
_STEP_EVENT = "CpuExecutable::ExecuteAsyncOnStream"


def kind(name):
    """The kind of an XLA:CPU profile event, by its (HLO instruction) name."""
    if name in _EXECUTOR:
        return "executor"
    if re.match(r"(MatMul|BatchMatMul|Einsum|dot|convolution)", name) or ".dot" in name:
        return "dot"
    if "dynamic-update-slice" in name:
        return "dynamic-update-slice"
    if "fusion" in name:
        return "fusion"
    if re.match(r"(copy|transpose)", name):
        return "copy"
    return "other thunk"


def self_times(events):
    """{name: self time} of one thread's (start, end, name) events; nested events are subtracted.

    Events on one thread nest (a thunk inside the executor's call), never partly overlap.
    """
    out = collections.Counter()
    stack = []  # [end, name, child time]
    for start, end, name in sorted(events, key=lambda e: (e[0], -e[1])):
        while stack and stack[-1][0] <= start:
            top_end, top_name, children = stack.pop()
            out[top_name] -= children
        if stack:
            stack[-1][2] += end - start
        out[name] += end - start
        stack.append([end, name, 0])
    while stack:
        _, top_name, children = stack.pop()
        out[top_name] -= children
    return out


def breakdown(threads, wall, steps):
    """Per-kind ms per step summed over worker threads, with idle time, from self times.

    Args:
      threads: one list of (start, end, name) events per worker thread, in seconds.
      wall: seconds the traced steps took (the compiled calls' spans).
      steps: how many steps were traced.

    Returns:
      ({kind: ms per step over all threads}, [(name, ms per step)] largest first,
       thunks per step, [busy share of each thread])
    """
    kinds = dict.fromkeys(KINDS, 0.0)
    names = collections.Counter()
    thunks, shares = 0, []
    for events in threads:
        busy = 0.0
        for name, t in self_times(events).items():
            kinds[kind(name)] += t
            busy += t
            if name not in _EXECUTOR:
                names[name] += t
        kinds["idle"] += max(0.0, wall - busy)
        shares.append(min(1.0, busy / wall) if wall > 0 else 0.0)
        thunks += sum(1 for e in events if e[2] not in _EXECUTOR)
    scale = 1000.0 / steps
    return ({k: v * scale for k, v in kinds.items()},
            [(k, v * scale) for k, v in names.most_common()], thunks / steps, shares)


def read_trace(logdir):
    """(worker threads' events, wall seconds of the compiled calls) from a profiler log."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2
    paths = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))
    if not paths:
        raise RuntimeError(f"{logdir}: the profiler wrote no trace")
    space = xplane_pb2.XSpace()
    space.ParseFromString(pathlib.Path(paths[-1]).read_bytes())
    threads, wall = [], 0.0
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            events = [(e.offset_ps * 1e-12, (e.offset_ps + e.duration_ps) * 1e-12,
                       names.get(e.metadata_id, "?")) for e in line.events]
            wall += sum(e - s for s, e, n in events if n == _STEP_EVENT)
            if "Eigen" in line.name:  # XLA:CPU's worker threads
                threads.append(events)
    return threads, wall


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default",
                        choices=("default", "layer_norm", "paper", "small"))
    parser.add_argument("--matmul_dtype", choices=("float32", "bfloat16", "auto"), default=None)
    parser.add_argument("--batch_size", type=int, default=None)
    parser.add_argument("--max_seq_len", type=int, default=None)
    parser.add_argument("--override", action="append", default=[],
                        help="SketchRNNConfig field=value override")
    parser.add_argument("--steps", type=int, default=3, help="traced steps (after 3 warm-up steps)")
    parser.add_argument("--top", type=int, default=12, help="thunks listed by self time")
    args = parser.parse_args(argv)
    if not 1 <= args.steps <= 50:
        sys.exit(f"benchmarks/profile_step.py: --steps={args.steps}: expected 1 to 50")
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_cpu_enable_xprof_traceme=true").strip()
    import tensorflow as tf
    from benchmarks import timing
    from benchmarks import train_sketch_rnn
    from common.training import strategies

    config = train_sketch_rnn.make_config(args.config, args.batch_size, args.max_seq_len,
                                          overrides=args.override,
                                          matmul_dtype=args.matmul_dtype)
    step_fn, _ = train_sketch_rnn.build_step(config, strategies.make_strategy("default"))
    batch = {k: tf.constant(v) for k, v in train_sketch_rnn.full_length_batch(config).items()}
    for _ in range(3):
        float(step_fn(batch)["loss"])
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(args.steps):
            float(step_fn(batch)["loss"])
        tf.profiler.experimental.stop()
        try:
            threads, wall = read_trace(logdir)
        except RuntimeError as e:
            sys.exit(f"benchmarks/profile_step.py: {e}")
    if not threads or wall <= 0:
        sys.exit("benchmarks/profile_step.py: the trace has no XLA:CPU thunk events "
                 "(a step not compiled with XLA?)")
    kinds, names, thunks, shares = breakdown(threads, wall, args.steps)
    total = sum(kinds.values())
    extra = {"config": args.config, "matmul_dtype": config.matmul_dtype,
             "batch_size": config.batch_size, "max_seq_len": config.max_seq_len,
             "threads": len(threads), "steps": args.steps, **timing.machine()}
    step_ms = wall * 1000.0 / args.steps
    timing.emit("profile_step_ms", "ms/step", [step_ms], thunks_per_step=round(thunks),
                busy_share_by_thread=[round(b, 3) for b in shares],
                mean_thunk_us=round(1000.0 * (total - kinds["idle"] - kinds["executor"])
                                    / max(thunks, 1), 1), **extra)
    for k in KINDS:
        timing.emit(f"profile_{k.replace(' ', '_').replace('-', '_')}_ms", "thread-ms/step",
                    [kinds[k]], share=round(kinds[k] / total, 3) if total else 0.0, **extra)
    for name, ms in names[:args.top]:
        timing.emit("profile_thunk_ms", "thread-ms/step", [ms], thunk=name, kind=kind(name),
                    **extra)


if __name__ == "__main__":
    main()
