"""The pretrained report's work with each model: samples, completions, likelihoods, normaliser sweeps."""

import math

import numpy as np

from commands.drawing import prefix_points
from reports.pretrained.measures import KEYS

SAMPLE_TEMPERATURES = (0.1, 0.5, 0.9)
# Data-unit normalisers tried in the sweep (256-pixel QuickDraw units per model unit).
SWEEP_GRID = (12.0, 15.0, 18.0, 21.0, 24.0, 28.0, 32.0, 38.0, 45.0, 55.0, 65.0)
SWEEP_CLASSES = ("sheep", "bicycle", "key", "bird")
MIN_COMPLETION_POINTS = 10  # A drawing shorter than this makes a poor half to complete.


def sample_row(model, name, temperatures=SAMPLE_TEMPERATURES, shown=4, n_stats=25, seed=0):
    """Samples at each temperature: (the first `shown` of each, their labels, statistics).

    The statistics cover `n_stats` samples per temperature: the share that ended (drew the
    end-of-sketch pen) before the model's max_seq_len, and their mean length in points.
    """
    cells, labels, stats = [], [], {}
    for j, t in enumerate(temperatures):
        got = model.sample(max(shown, n_stats), t, seed)
        lengths = np.array([len(s) for s in got])
        stats[f"{t:g}"] = {"n": len(got), "ended": float(np.mean(lengths < model.max_seq_len)),
                           "mean_points": float(lengths.mean())}
        cells += got[:shown]
        labels += [f"{name} t={t:g}" if j == 0 else f"t={t:g}"] + [""] * (shown - 1)
    return cells, labels, stats

def pick_drawings(qd_file, count, max_len):
    """Indices of the first `count` recognised drawings of MIN_COMPLETION_POINTS..max_len points
    (any drawing when too few are recognised)."""
    ok = [i for i, s in enumerate(qd_file.sketches) if MIN_COMPLETION_POINTS <= len(s) <= max_len]
    recognised = [i for i in ok if qd_file.recognized[i] is not False]
    return (recognised + [i for i in ok if i not in recognised])[:count]

def completion_row(model, name, qd_file, drawings=2, n=3, temperature=0.3, seed=0):
    """For each picked real drawing: [whole, first half, n completions of the half].

    Returns:
        (cells, labels, details): details has the drawing index, its points and prefix
        length, and the share of completions that ended before their max_len.
    """
    cells, labels, details = [], [], []
    for idx in pick_drawings(qd_file, drawings, model.max_seq_len):
        sketch = np.asarray(qd_file.sketches[idx], np.float32)
        k = prefix_points(len(sketch), 0.5)
        part = sketch[:k]
        max_len = max(MIN_COMPLETION_POINTS, model.max_seq_len - k)
        done = model.complete(part, n, temperature, seed, max_len)
        cells += [sketch, part] + [np.concatenate([part, c]) for c in done]
        labels += ([f"{name} #{idx}", f"half {k}/{len(sketch)}", f"t={temperature:g}"]
                   + [""] * (n - 1))
        details.append({"index": idx, "points": len(sketch), "prefix": k,
                        "ended": float(np.mean([len(c) < max_len for c in done]))})
    return cells, labels, details

def score_classes(model, sketches_by_class, normaliser=None, batch_size=100):
    """Per-class mean NLLs (nats per point; offsets in model units) of one model.

    All drawings go through the model sorted by length (less padding), then are regrouped.

    Returns:
        {class: {"n", "mean_nll_offsets", "mean_nll_pen", "mean_nll"}}.
    """
    flat, owner = [], []
    for cls, sketches in sketches_by_class.items():
        flat += [np.asarray(s, np.float32) for s in sketches]
        owner += [cls] * len(sketches)
    order = np.argsort([len(s) for s in flat], kind="stable")
    got = model.log_likelihood([flat[i] for i in order], normaliser, batch_size)
    values = {k: np.empty(len(flat)) for k in KEYS}
    for k in KEYS:
        values[k][order] = got[k]
    owner = np.array(owner)
    return {cls: {"n": int((owner == cls).sum()),
                  **{f"mean_{k}": float(values[k][owner == cls].mean()) for k in KEYS}}
            for cls in sketches_by_class}

def sweep_normalisers(model, sketches, named, grid=SWEEP_GRID):
    """Mean NLL of the offsets in data units, nll_offsets + 2 ln(normaliser), per normaliser.

    Dividing 2-D offsets by a normaliser s adds 2 ln s to a density's NLL in data units, so
    values for different normalisers compare directly (lower is better).

    Args:
        model: a SketchModel.
        sketches: drawings in data units.
        named: {label: normaliser} to include besides the grid.
        grid: more normalisers.

    Returns:
        A list of {"label", "normaliser", "nll_offsets" (model units), "nll_data"},
        sorted by normaliser.
    """
    rows = [(label, float(v)) for label, v in named.items()] + [("", float(v)) for v in grid]
    out = []
    for label, value in sorted(rows, key=lambda r: r[1]):
        nll = float(model.log_likelihood(sketches, value)["nll_offsets"].mean())
        out.append({"label": label, "normaliser": value, "nll_offsets": nll,
                    "nll_data": nll + 2.0 * math.log(value)})
    return out
