"""Scoring drawings under several Sketch RNN exports by likelihood, and ranking the models."""

import json
import pathlib

import numpy as np

from commands import sketch_files
from commands.inputs import expand_inputs
from common import files
from common.errors import DataError
from common.strokes import formats as S
from sketch_rnn.client import SketchModel


def _model_name(model):
    names = model.class_names
    return names[0] if len(names) == 1 else pathlib.Path(model.path).parent.name

def score(model_paths, inputs, out=None, normaliser=None, batch_size=100, max_per_file=None):
    """Scores drawings under Sketch RNN exports by likelihood (the `log_likelihood` signature).

    Args:
        model_paths: exports or workdirs.
        inputs: see expand_inputs; each file is one class, named by its stem.
        out: JSON file to write (per-sketch values and the per-class means), or None.
        normaliser: None (each export's own), a number, or "inputs": the std of all the
            inputs' offsets, one normaliser for every model.
        batch_size: sketches per call.
        max_per_file: score only the first this many readable sketches of each file (None:
            all); an ndjson is parsed no further.

    Returns:
        The report dict.
    """
    if not model_paths:
        raise DataError("give at least one --model")
    if max_per_file is not None and max_per_file < 1:
        raise DataError(f"max_per_file={max_per_file} must be >= 1")
    classes = {}
    for name, path, split in expand_inputs(inputs):
        sketches, _ = sketch_files.read_sketches(path, split, max_sketches=max_per_file)
        if not sketches:
            raise DataError(f"{path}: no readable sketches")
        classes.setdefault(name, []).extend(np.asarray(s, np.float32) for s in sketches)
    if normaliser == "inputs":
        normaliser = S.scale_factor([s for group in classes.values() for s in group])
    elif normaliser is not None:
        try:
            normaliser = float(normaliser)
        except ValueError:
            raise DataError(f"--normaliser={normaliser!r}: a number or 'inputs'") from None
    report = {"normaliser": normaliser, "units": "nats; offsets in model units",
              "models": {}}
    for path in model_paths:
        model = SketchModel(path)
        name = _model_name(model)
        rows = {}
        for cls, sketches in classes.items():
            nll = model.log_likelihood(sketches, normaliser, batch_size)
            rows[cls] = {"n": len(sketches),
                         **{f"mean_{k}": float(v.mean()) for k, v in nll.items()},
                         **{k: [round(float(x), 5) for x in v] for k, v in nll.items()}}
            print(f"{name:>16} on {cls:<16} n={len(sketches):<5} nll_offsets "
                  f"{rows[cls]['mean_nll_offsets']:.4f}  nll_pen {rows[cls]['mean_nll_pen']:.4f}"
                  f"  nll {rows[cls]['mean_nll']:.4f}", flush=True)
        report["models"][name] = {"path": files.display_path(model.path),
                                  "scale_factor": model.scale_factor,
                                  "classes": rows}
    report["ranking"] = rank_models(report)
    if report["ranking"]["scored"]:
        r = report["ranking"]
        print(f"Lowest mean nll_offsets from the class's own model: {r['matched']}/{r['scored']} "
              "classes.", flush=True)
    if out:
        files.atomic_write_text(out, json.dumps(report, indent=1) + "\n")
        print(f"Wrote {out}.", flush=True)
    return report

def rank_models(report, key="mean_nll_offsets"):
    """For each class that has a model of its own name: which model scores it best."""
    models = report["models"]
    classes = sorted({c for m in models.values() for c in m["classes"]})
    best, matched, scored = {}, 0, 0
    for cls in classes:
        values = {m: v["classes"][cls][key] for m, v in models.items() if cls in v["classes"]}
        winner = min(values, key=values.get)
        best[cls] = winner
        if cls in models:
            scored += 1
            matched += winner == cls
    return {"best_model": best, "matched": matched, "scored": scored, "key": key}
