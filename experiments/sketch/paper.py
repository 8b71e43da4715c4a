"""The seed paper's two experiments on exported models: fidelity (Tables 2-3) and latent continuity."""

import json
import pathlib

import numpy as np

from common import files
from common.errors import DataError
from common.images import grid
from common.scorer.client import nonempty
from common.strokes import render
from sketch_rnn.latents import latent_path
from sketch_rnn.sample import GREEDY_TEMPERATURE

# The seed (Fujii 2018) Table 2 bins and its reported figures, quoted beside ours.
BINS = ("<0.5", "[0.5,0.6)", "[0.6,0.7)", "[0.7,0.8)", "[0.8,0.9)", "[0.9,1.0]")
SEED_TABLE2 = {"inputs": [0, 0, 0, 0, 1, 59], "outputs": [12, 4, 3, 3, 2, 10]}
SEED_TABLE3 = {"inputs": {"mean": 0.99, "var": 0.00}, "outputs": {"mean": 0.56, "var": 0.21},
               "outputs_correct": 34, "n": 60, "scorer_test_accuracy": 0.85, "classes": 30}
DEFAULT_TEMPERATURES = tuple(round(0.1 * i, 1) for i in range(1, 11))


def histogram(probs, correct):
    """Counts of true-class softmax in the seed's bins, over correctly classified items only."""
    probs = np.asarray(probs, np.float64)[np.asarray(correct, bool)]
    edges = [0.5, 0.6, 0.7, 0.8, 0.9]
    idx = np.searchsorted(edges, probs, side="right")  # 0 for < 0.5, 5 for >= 0.9
    return [int(np.sum(idx == i)) for i in range(len(BINS))]


# ----------------------------------------------------------------------------- Experiment 1


def fidelity(model, scorer, sketches, class_names, temperatures=DEFAULT_TEMPERATURES, seed=0,
             max_len=None):
    """Seed Experiment 1: reconstruct each input at every τ, keep the best true-class softmax.

    Args:
        model: a sketch_rnn.client.SketchModel (conditional).
        scorer: a Scorer.
        sketches: list of raw stroke-3 inputs.
        class_names: the true class name of each input (must be one of the scorer's classes).
        temperatures: decoding temperatures.
        seed: decoding seed (the same for every τ).

    Returns:
        dict with per-input records, Tables 2 and 3, per-τ statistics, and the best outputs.
    """
    if len(sketches) != len(class_names) or not sketches:
        raise DataError(f"{len(sketches)} sketches but {len(class_names)} labels")
    unknown = sorted(set(class_names) - set(scorer.class_names))
    if unknown:
        raise DataError(f"classes {unknown} are not among the scorer's {len(scorer.class_names)}")
    if not temperatures or any(not t > 0 for t in temperatures):
        raise DataError(f"temperatures {list(temperatures)} must be > 0")
    true = np.array([scorer.class_names.index(c) for c in class_names])
    rows = np.arange(len(true))
    in_probs, _ = scorer.score(sketches)
    in_true = in_probs[rows, true]
    in_correct = in_probs.argmax(1) == true

    z = model.encode(sketches)
    out_true = np.zeros((len(temperatures), len(true)))  # (T, B)
    out_correct = np.zeros((len(temperatures), len(true)), bool)
    outputs = []
    for k, t in enumerate(temperatures):
        decoded = model.decode(z, t, seed, max_len)
        probs, _ = scorer.score(decoded)
        out_true[k] = probs[rows, true]
        out_correct[k] = probs.argmax(1) == true
        outputs.append(decoded)
    best = out_true.argmax(0)  # (B,) index of the best τ per input
    best_true = out_true[best, rows]
    best_correct = out_correct[best, rows]
    best_outputs = [outputs[best[i]][i] for i in rows]

    def stats(x):
        return {"mean": float(np.mean(x)), "var": float(np.var(x))}

    per_temperature = [{"temperature": float(t), "mean_true_prob": float(out_true[k].mean()),
                        "accuracy": float(out_correct[k].mean())}
                       for k, t in enumerate(temperatures)]
    records = [{"index": int(i), "class": class_names[i], "input_true_prob": float(in_true[i]),
                "input_correct": bool(in_correct[i]), "best_temperature": float(temperatures[best[i]]),
                "best_true_prob": float(best_true[i]), "best_correct": bool(best_correct[i]),
                "best_length": int(len(best_outputs[i]))} for i in rows]
    return {
        "n": int(len(true)), "temperatures": [float(t) for t in temperatures], "seed": int(seed),
        "table2": {"bins": list(BINS), "inputs": histogram(in_true, in_correct),
                   "outputs": histogram(best_true, best_correct)},
        "table3": {"inputs": stats(in_true), "outputs": stats(best_true)},
        "inputs_correct": int(in_correct.sum()), "outputs_correct": int(best_correct.sum()),
        "per_temperature": per_temperature, "records": records,
        "seed_paper": {"table2": SEED_TABLE2, "table3": SEED_TABLE3},
        "_inputs": list(sketches), "_best_outputs": best_outputs,
    }


def fidelity_markdown(result, title="Experiment 1: fidelity of generated sketches", notes=()):
    """report.md text for a fidelity() result, with the seed's figures beside ours."""
    t2, t3, seed = result["table2"], result["table3"], result["seed_paper"]
    n = result["n"]
    lines = [f"# {title}", ""] + [f"{x}" for x in notes] + ([""] if notes else [])
    lines += [f"{n} inputs, decoded at τ = {', '.join(f'{t:g}' for t in result['temperatures'])} "
              f"(seed {result['seed']}); for each input the output with the best true-class "
              "softmax is kept.", "",
              "## Table 2: true-class softmax histogram (correctly classified only)", "",
              "| bin | inputs (ours) | outputs (ours) | inputs (seed) | outputs (seed) |",
              "|---|---|---|---|---|"]
    for i, b in enumerate(t2["bins"]):
        lines.append(f"| {b} | {t2['inputs'][i]} | {t2['outputs'][i]} | "
                     f"{seed['table2']['inputs'][i]} | {seed['table2']['outputs'][i]} |")
    lines.append(f"| correctly classified | {result['inputs_correct']}/{n} | "
                 f"{result['outputs_correct']}/{n} | 60/60 | 34/60 |")
    s3 = seed["table3"]
    lines += ["", "## Table 3: true-class softmax over all inputs and outputs", "",
              "| | mean (ours) | variance (ours) | mean (seed) | variance (seed) |",
              "|---|---|---|---|---|",
              f"| inputs | {t3['inputs']['mean']:.3f} | {t3['inputs']['var']:.3f} | "
              f"{s3['inputs']['mean']:.2f} | {s3['inputs']['var']:.2f} |",
              f"| outputs | {t3['outputs']['mean']:.3f} | {t3['outputs']['var']:.3f} | "
              f"{s3['outputs']['mean']:.2f} | {s3['outputs']['var']:.2f} |",
              "", "## Per temperature (all outputs at that τ)", "",
              "| τ | mean true-class softmax | accuracy |", "|---|---|---|"]
    for p in result["per_temperature"]:
        lines.append(f"| {p['temperature']:g} | {p['mean_true_prob']:.3f} | {p['accuracy']:.3f} |")
    lines.append("")
    return "\n".join(lines)


def public(result):
    """The JSON-safe part of a result (keys starting with '_' hold arrays)."""
    return {k: v for k, v in result.items() if not k.startswith("_")}


def write_fidelity_report(result, out_dir, notes=(), cell=96):
    """Writes report.md, report.json and grid.png (input | best output pairs) into out_dir."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pairs, labels = [], []
    for rec, a, b in zip(result["records"], result["_inputs"], result["_best_outputs"]):
        pairs += [nonempty(a), nonempty(b)]
        labels += [f"{rec['class']} {rec['input_true_prob']:.2f}",
                   f"temp {rec['best_temperature']:g} {rec['best_true_prob']:.2f}"]
    grid.save_png(render.sketch_grid(pairs, ncols=10, cell=cell, labels=labels),
                    out / "grid.png")
    md = fidelity_markdown(result, notes=notes)
    md += "\n![inputs and their best outputs](grid.png)\n\nEach pair: the input (class, its " \
          "true-class softmax), then its best output (τ, true-class softmax).\n"
    files.atomic_write_text(out / "report.md", md)
    files.atomic_write_text(out / "report.json", json.dumps(public(result), indent=2) + "\n")
    return out / "report.md"


# ----------------------------------------------------------------------------- Experiment 2


def continuity(model, a, b, steps=10, method="linear", temperature=0.1, seed=0, max_len=None,
               batch_size=256, strip_frames=10, raster=64, scorer=None, baseline_pairs=500,
               rng=None, progress=None, shared_noise=True, discrete_temperature="paper"):
    """Seed Experiment 2: decode z_t from encode(a) to encode(b) in `steps` points.

    Decodes in batches of `batch_size`, so memory stays bounded for any `steps` (10000 is fine).
    The continuity metric is the mean L1 distance (per pixel, ink in [0, 1]) between the
    rasters of consecutive outputs; `max_step` is the largest one. For scale, `random_pair`
    is the same distance between random pairs of frames of this path (what a path whose
    order carried no information would score). With a scorer, the same is reported for its
    fc7 embeddings.

    Args:
        progress: optional callable(done, total), called after each batch.
        shared_noise: decode every frame with the same random draws
            (`SketchModel.decode(shared_noise=True)`, one call per frame above the greedy
            temperature), so that
            consecutive frames differ only through z. Without it each frame in a batch draws
            its own noise, and the metric measures the noise as much as the path.
        discrete_temperature: the mixture and pen softmaxes' temperature (`SketchModel.decode`);
            recorded in the result unless it is the default "paper".

    Returns:
        dict of metrics plus "_frames": `strip_frames` evenly spaced decoded sketches.
    """
    if steps < 2:
        raise DataError(f"steps={steps} must be >= 2")
    if batch_size < 1:
        raise DataError(f"batch_size={batch_size} must be >= 1")
    if method not in ("linear", "slerp"):
        raise DataError(f"method={method!r}: use linear or slerp")
    rng = rng or np.random.default_rng(seed)
    shared = bool(shared_noise and temperature > GREEDY_TEMPERATURE)  # Greedy draws no noise.
    za, zb = model.encode([a, b])
    strip_idx = np.unique(np.linspace(0, steps - 1, min(strip_frames, steps)).round().astype(int))
    keep_idx = np.unique(np.concatenate([rng.choice(steps, min(steps, 2 * baseline_pairs),
                                                    replace=False), strip_idx]))
    keep = {}
    diffs, emb_diffs, frames = [], [], {}
    prev_r = prev_e = None
    lengths = []
    for start in range(0, steps, batch_size):
        stop = min(start + batch_size, steps)
        t = np.arange(start, stop) / (steps - 1)
        z = latent_path(za, zb, t, method)
        decoded = model.decode(z, temperature, seed, max_len, shared_noise=shared_noise,
                               discrete_temperature=discrete_temperature)
        r = render.rasterize_batch([nonempty(s) for s in decoded], size=raster)  # (b, S, S)
        r = r.reshape(len(decoded), -1).astype(np.float32)  # (b, S*S)
        seq = r if prev_r is None else np.concatenate([prev_r[None], r])
        diffs.append(np.abs(np.diff(seq, axis=0)).mean(1))
        prev_r = r[-1]
        if scorer is not None:
            _, e = scorer.score(decoded)
            eseq = e if prev_e is None else np.concatenate([prev_e[None], e])
            emb_diffs.append(np.linalg.norm(np.diff(eseq, axis=0), axis=1))
            prev_e = e[-1]
        for j, i in enumerate(range(start, stop)):
            lengths.append(len(decoded[j]))
            if i in strip_idx:
                frames[i] = decoded[j]
            if i in keep_idx:
                keep[i] = (r[j].astype(np.float16), None if scorer is None else e[j])
        if progress is not None:
            progress(stop, steps)
    diffs = np.concatenate(diffs)
    idx = np.array(sorted(keep))
    pa, pb = rng.choice(idx, baseline_pairs), rng.choice(idx, baseline_pairs)
    random_pair = float(np.mean([np.abs(keep[i][0].astype(np.float32)
                                        - keep[j][0].astype(np.float32)).mean()
                                 for i, j in zip(pa, pb)]))
    result = {
        "method": method, "steps": int(steps), "temperature": float(temperature),
        "seed": int(seed), "raster": int(raster), "shared_noise": shared,
        "z_distance": float(np.linalg.norm(za - zb)),
        "raster_step_mean": float(diffs.mean()), "raster_step_max": float(diffs.max()),
        "raster_unchanged_fraction": float(np.mean(diffs == 0)),
        "raster_random_pair": random_pair,
        "raster_endpoints": float(np.abs(
            _raster(frames[strip_idx[0]], raster) - _raster(frames[strip_idx[-1]], raster)).mean()),
        "mean_length": float(np.mean(lengths)),
        "strip_indices": [int(i) for i in strip_idx],
        "_frames": [frames[i] for i in strip_idx],
    }
    if discrete_temperature != "paper":
        result["discrete_temperature"] = discrete_temperature
    if scorer is not None:
        emb = np.concatenate(emb_diffs)
        result["embedding_step_mean"] = float(emb.mean())
        result["embedding_step_max"] = float(emb.max())
        result["embedding_random_pair"] = float(np.mean(
            [np.linalg.norm(keep[i][1] - keep[j][1]) for i, j in zip(pa, pb)]))
    return result


def _raster(s3, size):
    return render.rasterize(nonempty(s3), size=size).astype(np.float32)


def continuity_markdown(results, title="Experiment 2: latent continuity", notes=()):
    """report.md text: one table row per pair, method and temperature, plus the strips."""
    lines = [f"# {title}", ""] + list(notes) + ([""] if notes else [])
    lines += ["Metric: mean L1 distance per pixel (ink in [0, 1], 64 px rasters) between "
              "consecutive decoded frames, its maximum, and for scale the same distance between "
              "random pairs of frames of the path and between its two ends. A smooth path has "
              "a small mean step, a max step well below the end-to-end distance, and steps far "
              "below the random-pair distance. Above the greedy temperature every frame is "
              "decoded with the same random draws (shared noise), unless a row says otherwise.",
              "",
              "| pair | method | τ | steps | mean step | max step | unchanged | random pair | "
              "end to end | emb. mean step | emb. random pair |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        emb = (f"{r['embedding_step_mean']:.3f} | {r['embedding_random_pair']:.3f}"
               if "embedding_step_mean" in r else "- | -")
        tau = f"{r['temperature']:g}" + (" (own noise)" if r["temperature"] > GREEDY_TEMPERATURE
                                         and not r.get("shared_noise", True) else "")
        lines.append(f"| {r['pair']} | {r['method']} | {tau} | {r['steps']} | "
                     f"{r['raster_step_mean']:.4f} | {r['raster_step_max']:.4f} | "
                     f"{r['raster_unchanged_fraction']:.2f} | {r['raster_random_pair']:.4f} | "
                     f"{r['raster_endpoints']:.4f} | {emb} |")
    lines.append("")
    for r in results:
        if r.get("strip_png"):
            lines += [f"**{r['pair']}, {r['method']}, τ={r['temperature']:g}, "
                      f"{r['steps']} steps** ({', '.join(r['strip_files'])})", "",
                      f"![{r['pair']} {r['method']}]({r['strip_png']})", ""]
    return "\n".join(lines)
