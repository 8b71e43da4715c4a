"""The demo's shape check: an AlexNet trained on the demo's classes counts recognisable samples.

The scorer learns the demo's classes plus one more, NOT_A_SHAPE: random scribbles, dots and
short lines (the ways a weak Sketch RNN fails), so junk has a class to go to. A sample counts
as a recognised shape when a real class gets a softmax of at least `threshold`. Two controls
calibrate the check: held-out drawings of the classes (should be near 100%) and fresh
scribbles the scorer never saw (should be near 0%).
"""

import collections
import dataclasses
import json
import pathlib

import numpy as np

from common import files
from common.scorer import configs as scorer_configs
from common.scorer import train as scorer_train
from common.scorer.client import Scorer
from common.strokes import formats
from common.strokes.safe_npz import write_npz

THRESHOLD = 0.8  # Top-class softmax at or above this counts as recognised.
NOT_A_SHAPE = "not_a_shape"  # The scorer's class of scribbles, dots and short lines.
TEMPERATURES = (0.1, 0.3, 0.5, 0.9)
# At 400 steps the scorer missed 11% of held-out drawings (spirals went to "house"); at
# 1,500 (about 50 s on 2 cores) it misses none and still rejects random scribbles.
SCORER_STEPS = 1500
REPORT = "shape_check.json"


def scorer_config(sources, max_seq_len, quick=False, seed=0):
    """A small, fast AlexNet for the demo's classes (testing() sizes when quick)."""
    if quick:
        return dataclasses.replace(scorer_configs.AlexNetConfig.testing(), data=tuple(sources),
                                   max_seq_len=max_seq_len, seed=seed)
    return dataclasses.replace(
        scorer_configs.AlexNetConfig.default(), data=tuple(sources), max_seq_len=max_seq_len,
        image_size=32, conv_channels=(16, 32, 48, 48, 32), dense_units=(128, 128),
        batch_size=32, num_steps=SCORER_STEPS, save_every=SCORER_STEPS, eval_every=500,
        log_every=250, seed=seed)


def scribbles(n, rng, lengths=(16, 64)):
    """n random pen walks (stroke-3, 1-3 strokes, smooth turns), a few of them dots or lines."""
    out = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.1:  # A dot or a tiny tick.
            out.append(np.array([[rng.normal(), rng.normal(), 1.0]], np.float32)
                       if rng.random() < 0.5 else
                       np.array([[rng.normal(0, 3), rng.normal(0, 3), 0.0],
                                 [rng.normal(0, 3), rng.normal(0, 3), 1.0]], np.float32))
            continue
        m = int(rng.integers(*lengths))
        if kind < 0.2:  # A straight line.
            d = rng.normal(0.0, 1.0, 2)
            s3 = np.zeros((int(rng.integers(2, 8)), 3), np.float32)
            s3[:, :2] = d * rng.uniform(5.0, 20.0)
            s3[-1, 2] = 1.0
            out.append(s3)
            continue
        heading = np.cumsum(rng.normal(0.0, 0.6, m))  # (m,) radians
        step = rng.uniform(4.0, 12.0, m)
        s3 = np.zeros((m, 3), np.float32)
        s3[:, 0], s3[:, 1] = step * np.cos(heading), step * np.sin(heading)
        lifts = rng.choice(m - 1, size=int(rng.integers(0, 3)), replace=False)
        s3[lifts, 2] = 1.0
        s3[-1, 2] = 1.0
        out.append(s3)
    return out


def write_negatives(path, seed, n_train=400, n_valid=50, n_test=50):
    """Scribbles as the NOT_A_SHAPE class's sketch-rnn .npz (train/valid/test, int16)."""
    rng = np.random.default_rng([seed, 7])
    splits = {k: [np.round(s).astype(np.int16) for s in scribbles(n, rng)]
              for k, n in (("train", n_train), ("valid", n_valid), ("test", n_test))}
    write_npz(path, splits)
    return path


def measure(scorer, sketches, threshold=THRESHOLD):
    """Share of sketches the scorer recognises, the class counts and each sketch's top class.

    Returns:
        dict: n, recognised, share, classes {name: recognised count}, top [(name, prob)].
    """
    probs, _ = scorer.score(sketches)  # (n, C)
    best = probs.argmax(axis=1)
    p = probs[np.arange(len(best)), best]
    names = [scorer.class_names[i] for i in best]
    ok = (p >= threshold) & np.array([name != NOT_A_SHAPE for name in names], bool)
    classes = collections.Counter(name for name, hit in zip(names, ok) if hit)
    return {"n": len(sketches), "recognised": int(ok.sum()), "share": float(ok.mean()),
            "classes": dict(classes.most_common()),
            "top": [(name, float(x)) for name, x in zip(names, p)]}


def run(model, splits, sources, workdir, seed=0, max_len=64, quick=False, n=64,
        temperatures=TEMPERATURES, threshold=THRESHOLD):
    """Trains the shape scorer in workdir/shape_scorer, measures samples and both controls.

    Args:
        model: the demo's sketch_rnn.client.SketchModel.
        splits: the StrokeSplits the model trained on (test drawings are the positive control).
        sources: the stroke sources (the scorer learns the same classes).
        workdir: the demo's Sketch RNN workdir; writes shape_check.json there.
        n: samples per temperature.

    Returns:
        (the report dict, also in workdir/shape_check.json; the loaded Scorer), or
        (None, None) with fewer than two classes.
    """

    if len(splits.class_names) < 2:
        return None, None
    workdir = pathlib.Path(workdir)
    negatives = write_negatives(workdir / f"{NOT_A_SHAPE}.npz", seed)
    config = scorer_config(tuple(sources) + (str(negatives),), max_len, quick, seed)
    scorer_train.train_and_evaluate(config, workdir / "shape_scorer")
    scorer = Scorer(workdir / "shape_scorer")
    held_out = formats.denormalize(splits.test or splits.valid or splits.train,
                                   splits.scale_factor)[:n]
    report = {
        "threshold": threshold, "scorer": files.display_path(workdir / "shape_scorer"),
        "classes": [c for c in scorer.class_names if c != NOT_A_SHAPE],
        "samples": {f"{t:g}": measure(scorer, model.sample(n, t, seed, max_len), threshold)
                    for t in temperatures},
        "held_out_drawings": measure(scorer, held_out, threshold),
        "random_scribbles": measure(scorer, scribbles(n, np.random.default_rng([seed, 8])),
                                    threshold),
    }
    files.atomic_write_text(workdir / REPORT, json.dumps(report, indent=2) + "\n")
    return report, scorer


def summary(report):
    """Printable lines: the share recognised per temperature and for both controls."""
    if report is None:
        return ["Shape check: skipped (it needs at least two classes)."]
    lines = [f"Shape check (AlexNet on the demo's {len(report['classes'])} classes; recognised = "
             f"top-class softmax >= {report['threshold']:g}):"]
    for t, r in report["samples"].items():
        top = ", ".join(f"{k} {v}" for k, v in list(r["classes"].items())[:4])
        lines.append(f"  samples at tau {t}: {r['recognised']}/{r['n']} recognised "
                     f"({100 * r['share']:.0f}%){': ' + top if top else ''}")
    for key, label in (("held_out_drawings", "held-out drawings"),
                       ("random_scribbles", "random scribbles")):
        r = report[key]
        lines.append(f"  {label} (control): {r['recognised']}/{r['n']} "
                     f"({100 * r['share']:.0f}%)")
    return lines


def caption(report, temperature):
    """The gallery caption's shape-check sentence for samples at `temperature` ('' if none)."""
    if report is None or f"{temperature:g}" not in report["samples"]:
        return ""
    r = report["samples"][f"{temperature:g}"]
    return (f"; shape check: {r['recognised']}/{r['n']} samples at this temperature recognised "
            f"as a shape (AlexNet top-class p >= {report['threshold']:g}; held-out drawings "
            f"{100 * report['held_out_drawings']['share']:.0f}%, random scribbles "
            f"{100 * report['random_scribbles']['share']:.0f}%); labels: its class and p")
