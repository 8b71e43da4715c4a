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


def parse_reference(text):
    """"LABEL=VALUE" -> (label, value): a horizontal line drawn on the curves."""
    label, sep, value = str(text).rpartition("=")
    try:
        number = float(value)
    except ValueError:
        number = None
    if not sep or not label or number is None:
        raise DataError(f"--reference={text!r}: expected LABEL=NUMBER, e.g. Google=0.479")
    return label, number


def panel_references(references, tag, tags):
    """The (label, value) lines of `tag`'s panel: "TAG:LABEL" ones only there, others on all."""
    out = []
    for label, value in references:
        head, sep, rest = label.partition(":")
        if sep and head in tags:
            if head == tag:
                out.append((rest, value))
        else:
            out.append((label, value))
    return out


def plot_run(workdirs, out_png, tags=("L_R", "L_s", "L_p", "L_KL", "loss"), title=None,
             splits=("train", "valid"), references=(), labels=None):
    """Plots curves of `tags` from each workdir's events: train solid, valid dashed.

    Args:
        workdirs: one workdir or several (one colour each).
        out_png: the PNG written.
        tags: one panel per tag (tags no run logged are left out).
        title: the figure's title (default: the workdirs' names).
        splits: which of train / valid to draw.
        references: (label, value) pairs (or "LABEL=VALUE" strings) drawn as dotted
            horizontal lines on every panel, e.g. another model's score; a label
            "TAG:LABEL" with TAG one of `tags` draws it on that panel only.
        labels: legend names of the workdirs (default: their folder names).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if isinstance(workdirs, (str, pathlib.Path)):
        workdirs = [workdirs]
    workdirs = [pathlib.Path(w) for w in workdirs]
    labels = list(labels) if labels else [w.name for w in workdirs]
    references = [parse_reference(r) if isinstance(r, str) else r for r in references]
    runs = []
    for workdir in workdirs:
        curves = {split: read_scalars(workdir / "events" / split)
                  for split in splits if (workdir / "events" / split).is_dir()}
        if not curves:
            raise DataError(f"{workdir}/events has no {' or '.join(splits)} logs")
        runs.append(curves)
    tags = [t for t in tags if any(t in c for curves in runs for c in curves.values())]
    if not tags:
        raise DataError(f"none of the tags were logged in {', '.join(map(str, workdirs))}")
    fig, axes = plt.subplots(1, len(tags), figsize=(4.5 * len(tags), 3.4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, tag in zip(axes[0], tags):
        for i, (curves, name) in enumerate(zip(runs, labels)):
            for split, style in (("train", "-"), ("valid", "--")):
                if tag in curves.get(split, {}):
                    steps, values = curves[split][tag]
                    # Evaluation logs the test split's figures as test_* beside validation's.
                    shown = "test" if split == "valid" and tag.startswith("test_") else split
                    ax.plot(steps, values, style, color=colours[i % len(colours)],
                            label=f"{name} {shown}" if len(runs) > 1 else shown)
        for j, (label, value) in enumerate(panel_references(references, tag, tags)):
            ax.axhline(value, linestyle=":", color="black" if j == 0 else "grey", label=label)
        ax.set_title(tag)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title or ", ".join(labels))
    fig.tight_layout()
    out_png = pathlib.Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
