"""The command-line tools' work: sample, complete, reconstruct and interpolate grids; reports."""

import json
import os
import pathlib
import sys

import numpy as np

from common import files
from common.strokes import dataset as stroke_data
from common.strokes import formats as S
from common.errors import DataError
from common.scorer.client import Scorer
from sketch_rnn import experiments
from sketch_rnn import sketch_files
from sketch_rnn.client import SketchModel
from sketch_rnn.latents import METHODS

DEFAULT_QUICKDRAW = os.path.join("..", "shared", "data", "sketches", "quickdraw_exupery_raw")
SEED_PAIRS = (("fork", "cloud"), ("donut", "moon"))  # The seed's Figures 1 and 2.


def parse_temperatures(values):
    """['0.1', '0.5'] -> [0.1, 0.5]; each must be a number > 0."""
    temps = []
    for v in values:
        try:
            t = float(v)
        except ValueError:
            raise DataError(f"--temperature: {v!r} is not a number") from None
        if not t > 0 or t != t or t == float("inf"):
            raise DataError(f"--temperature: {v!r} must be a finite number > 0")
        temps.append(t)
    if not temps:
        raise DataError("--temperature: give at least one temperature")
    return temps


def sample(model_path, out, n=8, temperatures=(0.1, 0.5, 0.9), seed=0, max_len=None, cell=128):
    """Writes the grid and returns (png, svg, sketches by temperature)."""
    if n < 1:
        raise DataError(f"--n={n} must be >= 1")
    model = SketchModel(model_path)
    rows, labels, by_temp = [], [], {}
    for t in temperatures:
        sketches = model.sample(n, t, seed, max_len)
        by_temp[t] = sketches
        rows += sketches
        labels += [f"temp {t:g}"] + [""] * (n - 1)
    png, svg = sketch_files.save_grid(rows, out, ncols=n, labels=labels, cell=cell)
    print(f"Wrote {png} and {svg}: {n} samples at τ = {', '.join(f'{t:g}' for t in temperatures)}.")
    return png, svg, by_temp


def prefix_points(total, prefix):
    """How many points of a `total`-point sketch to keep for `prefix` (fraction or count)."""
    if not prefix > 0:
        raise DataError(f"--prefix={prefix} must be > 0")
    if prefix <= 1.0 and not (prefix == 1.0 and total == 1):
        k = int(round(total * prefix))
    elif prefix == int(prefix):
        k = int(prefix)
    else:
        raise DataError(f"--prefix={prefix}: use a fraction in (0, 1] or a whole point count")
    if k > total:
        raise DataError(f"--prefix={prefix}: the sketch has only {total} points")
    return max(1, k)


def complete(model_path, ref, out, prefix=0.5, n=7, temperatures=(0.1, 0.5, 0.9), seed=0,
             max_len=None, cell=128):
    """Writes the grid (each row: the input, its prefix, n completions) and returns the paths."""
    if n < 1:
        raise DataError(f"--n={n} must be >= 1")
    model = SketchModel(model_path)
    sketch = sketch_files.load_sketch(ref)
    k = prefix_points(len(sketch), prefix)
    part = sketch[:k]
    rows, labels = [], []
    for t in temperatures:
        done = model.complete(part, n, t, seed, max_len)
        # The continuation starts at the prefix's last point: draw prefix + continuation.
        rows += [sketch, part] + [_join(part, c) for c in done]
        labels += ["input", f"{k} points", f"temp {t:g}"] + [""] * (n - 1)
    png, svg = sketch_files.save_grid(rows, out, ncols=n + 2, labels=labels, cell=cell)
    print(f"Wrote {png} and {svg}: {n} completions of the first {k}/{len(sketch)} points of "
          f"{ref} at τ = {', '.join(f'{t:g}' for t in temperatures)}.")
    return png, svg


def reconstruct(model_path, refs, out, n=3, temperatures=(0.1, 0.5, 0.9), seed=0,
                max_len=None, cell=128):
    """Encodes each sketch and decodes it n times per temperature; writes the grid.

    Each row: the input, then n reconstructions at each temperature (left to right).

    Returns:
        (png, svg).
    """
    if n < 1:
        raise DataError(f"--n={n} must be >= 1")
    if not refs:
        raise DataError("--input: give at least one sketch")
    model = SketchModel(model_path)
    sketches = [sketch_files.load_sketch(ref) for ref in refs]
    z = np.repeat(model.encode(sketches), n, axis=0)  # (len(refs) * n, N_z), n per input
    outs = {t: model.decode(z, t, seed, max_len) for t in temperatures}
    rows, labels = [], []
    for i, sketch in enumerate(sketches):
        rows.append(sketch)
        labels.append("input")
        for t in temperatures:
            rows += outs[t][i * n:(i + 1) * n]
            labels += [f"temp {t:g}"] + [""] * (n - 1)
    png, svg = sketch_files.save_grid(rows, out, ncols=1 + n * len(temperatures), labels=labels,
                                      cell=cell)
    print(f"Wrote {png} and {svg}: {len(sketches)} sketches, {n} reconstructions each at τ = "
          f"{', '.join(f'{t:g}' for t in temperatures)}.")
    return png, svg


def _join(prefix, continuation):
    return np.concatenate([np.asarray(prefix, np.float32), np.asarray(continuation, np.float32)])


def parse_pairs(pairs, quickdraw_dir, index):
    """--pair values -> [(name, ref_a, ref_b)]; the seed's pairs when none are given."""
    if not pairs:
        return [(f"{a}_to_{b}", os.path.join(quickdraw_dir, f"{a}.ndjson") + f":{index}",
                 os.path.join(quickdraw_dir, f"{b}.ndjson") + f":{index}") for a, b in SEED_PAIRS]
    out = []
    for p in pairs:
        parts = p.split(",")
        if len(parts) != 2 or not all(parts):
            raise DataError(f"--pair={p!r}: expected 'REF_A,REF_B'")
        name = "_to_".join(_stem(x) for x in parts)
        out.append((name, parts[0], parts[1]))
    return out


def _stem(ref):
    path, _, index = sketch_files.parse_sketch_ref(ref)
    return f"{pathlib.Path(path).stem}{index}"


def interpolate(model_path, pairs, out, steps=10, methods=("linear", "slerp"),
                temperatures=(0.1,), seed=0, max_len=None, frames=10, batch_size=256,
                report=False, scorer_path=None, cell=128, shared_noise=True):
    """Writes one strip (PNG + SVG) per pair, method and τ; in report mode also report.md/json.

    With shared_noise every frame is decoded with the same random draws (see
    `SketchModel.decode`), so the strip changes only as z does.
    """
    for m in methods:
        if m not in METHODS:
            raise DataError(f"--method={m!r}: use one of {METHODS}")
    if steps < 2:
        raise DataError(f"--steps={steps} must be >= 2")
    if frames < 2:
        raise DataError(f"--frames={frames} must be >= 2")
    model = SketchModel(model_path)
    scorer = Scorer(scorer_path) if scorer_path else None
    out = pathlib.Path(out)
    results = []
    for name, ref_a, ref_b in pairs:
        a, b = sketch_files.load_sketch(ref_a), sketch_files.load_sketch(ref_b)
        for method in methods:
            for t in temperatures:
                label = f"{name} {method} τ={t:g}"
                r = experiments.continuity(model, a, b, steps, method, t, seed, max_len,
                                           batch_size, frames, scorer=scorer,
                                           baseline_pairs=200 if report else 1,
                                           progress=_progress(label, steps, batch_size),
                                           shared_noise=shared_noise)
                stem = f"{name}_{method}_t{t:g}"
                labels = ["A"] + [f"t={i / (steps - 1):.2f}" for i in r["strip_indices"]] + ["B"]
                png, svg = sketch_files.save_grid([a] + r.pop("_frames") + [b], out / stem,
                                               ncols=len(labels), labels=labels, cell=cell)
                r.update(pair=name, a=ref_a, b=ref_b, strip_png=os.path.basename(png),
                         strip_files=[os.path.basename(png), os.path.basename(svg)])
                results.append(r)
                print(f"{name} {method} τ={t:g}: {steps} steps -> {png}, {svg}"
                      + (f"; mean step {r['raster_step_mean']:.4f}, max {r['raster_step_max']:.4f}, "
                         f"random pair {r['raster_random_pair']:.4f}" if report else ""))
    if report:
        notes = [f"Model: `{model.path}`" + (f"; scorer: `{scorer.path}`" if scorer else "") + "."]
        files.atomic_write_text(out / "report.md",
                                experiments.continuity_markdown(results, notes=notes))
        files.atomic_write_text(out / "report.json",
                                json.dumps({"model": str(model.path), "results": results},
                                           indent=2) + "\n")
        print(f"Wrote {out / 'report.md'} and report.json.")
    return results


def _progress(label, steps, batch_size):
    """A progress printer for long paths (more than 4 batches), else None."""
    if steps <= 4 * batch_size:
        return None
    every = max(1, steps // 10)
    last = [0]

    def report(done, total):
        if done - last[0] >= every or done == total:
            last[0] = done
            print(f"  {label}: decoded {done}/{total}", file=sys.stderr, flush=True)
    return report


def select_inputs(sources, scorer_classes, split="test", data_seed=0, per_class=2,
                  max_seq_len=250, total=0):
    """The first sketches of each class in `split`, in raw units, with class names.

    Args:
        sources: labelled stroke files or folders (class = file name).
        scorer_classes: the scorer's class names; other classes are left out (named in notes).
        split: "train", "valid", "test" (the trainers' split with `data_seed`), or "all" (every
            sketch, for inputs no model trained on, e.g. real drawings for models trained on
            a generated corpus).
        per_class: inputs per class.
        total: if > 0, this many inputs spread over the classes instead of per_class (the
            first total % classes get one more).
        max_seq_len: longer sketches are dropped.

    Returns:
        (sketches, class names, notes).
    """
    if per_class < 1 and total < 1:
        raise DataError(f"--per_class={per_class} must be >= 1")
    if split == "all":
        splits = stroke_data.load_every_sketch(sources, max_seq_len, data_seed)
        sketches, labels = splits.train, splits.train_labels
    else:
        splits = stroke_data.load_strokes(sources, max_seq_len=max_seq_len, seed=data_seed)
        sketches, labels = splits.split(split)
    raw = S.denormalize(sketches, splits.scale_factor)
    known = [c for c, name in enumerate(splits.class_names) if name in scorer_classes]
    skipped = [name for name in splits.class_names if name not in scorer_classes]
    quota = {c: per_class for c in known}
    if total > 0 and known:
        quota = {c: total // len(known) + (k < total % len(known)) for k, c in enumerate(known)}
    chosen, names = [], []
    for c in known:
        idx = [i for i, lab in enumerate(labels) if lab == c][:quota[c]]
        chosen += [raw[i] for i in idx]
        names += [splits.class_names[c]] * len(idx)
    if not chosen:
        raise DataError(f"no {split} sketches of the scorer's classes in {list(sources)}")
    which = (f"the first {per_class}" if total < 1
             else f"{total} spread over the classes: the first {min(quota.values())}-"
                  f"{max(quota.values())}")
    how = ("every sketch of the files, none of which the models trained on" if split == "all"
           else f"split seed {data_seed}, the trainers' split, so neither model trained on them")
    notes = [f"Inputs: {which} `{split}` sketches of each class ({len(chosen)} from "
             f"{len(set(names))} classes; {how})."]
    if skipped:
        notes.append(f"Left out (unknown to the scorer): {', '.join(skipped)}.")
    return chosen, names, notes


def evaluate(model_path, scorer_path, sources, out, split="test", data_seed=0, per_class=2,
             max_seq_len=250, temperatures=experiments.DEFAULT_TEMPERATURES, seed=0, total=0):
    if not sources:
        raise DataError("give the labelled inputs with --data")
    model = SketchModel(model_path)
    scorer = Scorer(scorer_path)
    sketches, names, notes = select_inputs(sources, scorer.class_names, split, data_seed,
                                           per_class, max_seq_len, total)
    result = experiments.fidelity(model, scorer, sketches, names, temperatures, seed)
    notes = [f"Sketch RNN: `{model.path}`; scorer: `{scorer.path}` "
             f"({len(scorer.class_names)} classes)."] + notes
    path = experiments.write_fidelity_report(result, out, notes=notes)
    print(f"Wrote {path}: inputs correct {result['inputs_correct']}/{result['n']}, best outputs "
          f"correct {result['outputs_correct']}/{result['n']}, output mean true-class softmax "
          f"{result['table3']['outputs']['mean']:.3f}.")
    return result


def expand_inputs(inputs):
    """--input values -> [(class name, path, split or None)]: files, FILE.npz:SPLIT, folders."""
    out = []
    for ref in inputs:
        ref = str(ref)
        path, split = ref, None
        if not os.path.exists(ref) and ":" in ref:
            path, split = ref.rsplit(":", 1)
            if split not in ("train", "valid", "test"):
                raise DataError(f"--input={ref}: use FILE, FILE.npz:SPLIT (train, valid, test) "
                                "or a folder")
        if os.path.isdir(path):
            files = sorted(f for f in os.listdir(path) if f.endswith((".npz", ".ndjson")))
            if not files:
                raise DataError(f"--input={ref}: no .npz or .ndjson files in the folder")
            out += [(pathlib.Path(f).stem, os.path.join(path, f), split) for f in files]
        else:
            out.append((pathlib.Path(path).stem, path, split))
    if not out:
        raise DataError("give the drawings to score with --input")
    return out


def _model_name(model):
    names = model.class_names
    return names[0] if len(names) == 1 else pathlib.Path(model.path).parent.name


def score(model_paths, inputs, out=None, normaliser=None, batch_size=100):
    """Scores drawings under Sketch RNN exports by likelihood (the `log_likelihood` signature).

    Args:
        model_paths: exports or workdirs.
        inputs: see expand_inputs; each file is one class, named by its stem.
        out: JSON file to write (per-sketch values and the per-class means), or None.
        normaliser: None (each export's own), a number, or "inputs": the std of all the
            inputs' offsets, one normaliser for every model.
        batch_size: sketches per call.

    Returns:
        The report dict.
    """
    if not model_paths:
        raise DataError("give at least one --model")
    classes = {}
    for name, path, split in expand_inputs(inputs):
        sketches, _ = sketch_files.read_sketches(path, split)
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
        report["models"][name] = {"path": str(model.path), "scale_factor": model.scale_factor,
                                  "classes": rows}
    report["ranking"] = rank_models(report)
    if report["ranking"]["scored"]:
        r = report["ranking"]
        print(f"Lowest mean nll_offsets from the class's own model: {r['matched']}/{r['scored']} "
              "classes.", flush=True)
    if out:
        from common.files import atomic_write_text
        atomic_write_text(out, json.dumps(report, indent=1) + "\n")
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
