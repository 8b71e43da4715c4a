"""Reads scalar summaries from a run's TensorBoard events and plots them to a PNG."""

import pathlib

import numpy as np

from common.errors import DataError


def read_scalars(events_dir):
    """{tag: (steps, values)} from every events file under `events_dir` (sorted by step)."""
    from tensorboard.backend.event_processing import event_accumulator

    events_dir = pathlib.Path(events_dir)
    if not events_dir.is_dir():
        raise DataError(f"{events_dir}: no such events folder")
    acc = event_accumulator.EventAccumulator(
        str(events_dir), size_guidance={event_accumulator.TENSORS: 0, event_accumulator.SCALARS: 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags().get("tensors", []):
        events = acc.Tensors(tag)
        vals = [(e.step, float(np.asarray(_tensor_value(e.tensor_proto)).reshape(-1)[0]))
                for e in events]
        out[tag] = _sorted(vals)
    for tag in acc.Tags().get("scalars", []):
        out[tag] = _sorted([(e.step, e.value) for e in acc.Scalars(tag)])
    return out


def _tensor_value(proto):
    import tensorflow as tf
    return tf.make_ndarray(proto)


def _sorted(pairs):
    last = {}
    for step, value in pairs:  # A resumed run may log a step twice: keep the latest.
        last[int(step)] = value
    steps = np.array(sorted(last), np.int64)
    return steps, np.array([last[s] for s in steps], np.float64)


def plot_run(workdir, out_png, tags=("L_R", "L_s", "L_p", "L_KL", "loss"), title=None):
    """Plots train (solid) and valid (dashed) curves of `tags` from workdir/events."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workdir = pathlib.Path(workdir)
    curves = {split: read_scalars(workdir / "events" / split)
              for split in ("train", "valid") if (workdir / "events" / split).is_dir()}
    if not curves:
        raise DataError(f"{workdir}/events has no train or valid logs")
    tags = [t for t in tags if any(t in c for c in curves.values())]
    fig, axes = plt.subplots(1, len(tags), figsize=(4 * len(tags), 3.2), squeeze=False)
    for ax, tag in zip(axes[0], tags):
        for split, style in (("train", "-"), ("valid", "--")):
            if tag in curves.get(split, {}):
                steps, values = curves[split][tag]
                ax.plot(steps, values, style, label=split)
        ax.set_title(tag)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title or workdir.name)
    fig.tight_layout()
    out_png = pathlib.Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
