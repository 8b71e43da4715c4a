"""The drawing commands' work: sample, complete, reconstruct and interpolate grids."""

import json
import os
import pathlib
import sys

import numpy as np

from commands import sketch_files
from common import files
from common import limits
from common.errors import DataError
from common.scorer.client import Scorer
from experiments.sketch import paper
from sketch_rnn.client import SketchModel
from sketch_rnn.latents import METHODS


def sample(model_path, out, n=8, temperatures=(0.1, 0.5, 0.9), seed=0, max_len=None, cell=128,
           discrete_temperature="paper"):
    """Writes the grid and returns (png, svg, sketches by temperature).

    discrete_temperature (here and in the other tools): the mixture and pen softmaxes'
    temperature, "paper" (= τ), "web" (0.5 + 0.5 τ) or a number (`SketchModel.sample`).
    """
    if n < 1:
        raise DataError(f"--n={n} must be >= 1")
    model = SketchModel(model_path)
    rows, labels, by_temp = [], [], {}
    for t in temperatures:
        sketches = model.sample(n, t, seed, max_len, discrete_temperature=discrete_temperature)
        by_temp[t] = sketches
        rows += sketches
        labels += [f"temp {t:g}"] + [""] * (n - 1)
    png, svg = sketch_files.save_grid(rows, out, ncols=n, labels=labels, cell=cell)
    print(f"Wrote {png} and {svg}: {n} samples at τ = {', '.join(f'{t:g}' for t in temperatures)}"
          f"{_discrete_note(discrete_temperature)}.")
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
             max_len=None, cell=128, discrete_temperature="paper"):
    """Writes the grid (each row: the input, its prefix, n completions) and returns the paths."""
    if n < 1:
        raise DataError(f"--n={n} must be >= 1")
    model = SketchModel(model_path)
    sketch = sketch_files.load_sketch(ref)
    k = prefix_points(len(sketch), prefix)
    part = sketch[:k]
    rows, labels = [], []
    for t in temperatures:
        done = model.complete(part, n, t, seed, max_len, discrete_temperature=discrete_temperature)
        # The continuation starts at the prefix's last point: draw prefix + continuation.
        rows += [sketch, part] + [_join(part, c) for c in done]
        labels += ["input", f"{k} points", f"temp {t:g}"] + [""] * (n - 1)
    png, svg = sketch_files.save_grid(rows, out, ncols=n + 2, labels=labels, cell=cell)
    print(f"Wrote {png} and {svg}: {n} completions of the first {k}/{len(sketch)} points of "
          f"{ref} at τ = {', '.join(f'{t:g}' for t in temperatures)}"
          f"{_discrete_note(discrete_temperature)}.")
    return png, svg

def reconstruct(model_path, refs, out, n=3, temperatures=(0.1, 0.5, 0.9), seed=0,
                max_len=None, cell=128, discrete_temperature="paper"):
    """Encodes each sketch and decodes it n times per temperature; writes the grid.

    Each row: the input, then n reconstructions at each temperature (left to right).

    Returns:
        (png, svg).
    """
    if n < 1:
        raise DataError(f"--n={n} must be >= 1")
    if not refs:
        raise DataError("--input: give at least one sketch")
    limits.check(n * len(refs), limits.MAX_SAMPLES, "--n x inputs")  # Before any allocation.
    model = SketchModel(model_path)
    sketches = [sketch_files.load_sketch(ref) for ref in refs]
    z = np.repeat(model.encode(sketches), n, axis=0)  # (len(refs) * n, N_z), n per input
    outs = {t: model.decode(z, t, seed, max_len, discrete_temperature=discrete_temperature)
            for t in temperatures}
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
          f"{', '.join(f'{t:g}' for t in temperatures)}{_discrete_note(discrete_temperature)}.")
    return png, svg

def _discrete_note(discrete_temperature):
    return "" if discrete_temperature == "paper" else f" (discrete temperature {discrete_temperature})"

def _join(prefix, continuation):
    return np.concatenate([np.asarray(prefix, np.float32), np.asarray(continuation, np.float32)])

def interpolate(model_path, pairs, out, steps=10, methods=("linear", "slerp"),
                temperatures=(0.1,), seed=0, max_len=None, frames=10, batch_size=256,
                report=False, scorer_path=None, cell=128, shared_noise=True,
                discrete_temperature="paper"):
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
                r = paper.continuity(model, a, b, steps, method, t, seed, max_len,
                                           batch_size, frames, scorer=scorer,
                                           baseline_pairs=200 if report else 1,
                                           progress=_progress(label, steps, batch_size),
                                           shared_noise=shared_noise,
                                           discrete_temperature=discrete_temperature)
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
        notes = [f"Model: `{files.display_path(model.path)}`"
                 + (f"; scorer: `{files.display_path(scorer.path)}`" if scorer else "") + "."]
        files.atomic_write_text(out / "report.md",
                                paper.continuity_markdown(results, notes=notes))
        files.atomic_write_text(out / "report.json",
                                json.dumps({"model": files.display_path(model.path),
                                            "results": results},
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
