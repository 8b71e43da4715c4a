"""Evidence on Google's pretrained decoders: imports, sample and completion grids, NLL confusion, aaron_sheep."""

import hashlib
import json
import math
import pathlib
import time

import numpy as np

from common.errors import DataError
from common.images import grid
from common.strokes import formats as S
from common.strokes import render

RAW_FOLDERS = ("quickdraw_exupery_raw", "quickdraw_exupery_raw_more")  # Raw QuickDraw ndjson.
AARON_SHEEP = ("hardmaru_sketch-rnn-datasets", "aaron_sheep.npz")
SAMPLE_TEMPERATURES = (0.1, 0.5, 0.9)
# Data-unit normalisers tried in the sweep (256-pixel QuickDraw units per model unit).
SWEEP_GRID = (12.0, 15.0, 18.0, 21.0, 24.0, 28.0, 32.0, 38.0, 45.0, 55.0, 65.0)
SWEEP_CLASSES = ("sheep", "bicycle", "key", "bird")
MIN_COMPLETION_POINTS = 10  # A drawing shorter than this makes a poor half to complete.
L_S_N_MAX = 250  # magenta's N_max for aaron_sheep: L_s divides the summed NLL by it.
KEYS = ("nll_offsets", "nll_pen", "nll")
WEAK_FACTOR = 1.5  # weak_models: median over classes above 1.5x the median model's.


# ----------------------------------------------------------------------------- inputs


def find_models(models_dir, names=None):
    """{name: path} of the `.gen.json` files in a folder (all, or only `names`).

    Raises:
        DataError: no such folder, no `.gen.json` in it, or a named model is missing.
    """
    folder = pathlib.Path(models_dir)
    if not folder.is_dir():
        raise DataError(f"--models={models_dir}: no such folder")
    files = {f.name.removesuffix(".gen.json"): f for f in sorted(folder.glob("*.gen.json"))}
    if not files:
        raise DataError(f"--models={models_dir}: no .gen.json files in the folder")
    if names:
        missing = [n for n in names if n not in files]
        if missing:
            wanted = ", ".join(m + ".gen.json" for m in missing)
            raise DataError(f"--models={models_dir}: no {wanted} (it has {', '.join(files)})")
        files = {n: files[n] for n in names}
    return files


def find_class_files(sketches_dir, classes):
    """{class: raw QuickDraw ndjson} from sketches_dir/quickdraw_exupery_raw*/.

    Raises:
        DataError: no such folder, no raw QuickDraw folder in it, or a class without a file.
    """
    root = pathlib.Path(sketches_dir)
    if not root.is_dir():
        raise DataError(f"--sketches={sketches_dir}: no such folder")
    folders = [root / f for f in RAW_FOLDERS if (root / f).is_dir()]
    if not folders:
        raise DataError(f"--sketches={sketches_dir}: no {' or '.join(f + '/' for f in RAW_FOLDERS)}"
                        " folder of raw QuickDraw ndjson in it")
    out, missing = {}, []
    for cls in classes:
        found = [f / f"{cls}.ndjson" for f in folders if (f / f"{cls}.ndjson").is_file()]
        if found:
            out[cls] = found[0]
        else:
            missing.append(cls)
    if missing:
        raise DataError(f"--sketches={sketches_dir}: no raw drawings for {', '.join(missing)} "
                        f"(looked for CLASS.ndjson in {', '.join(f.name for f in folders)})")
    return out


def aaron_sheep_file(sketches_dir):
    """sketches_dir/hardmaru_sketch-rnn-datasets/aaron_sheep.npz, or a DataError."""
    path = pathlib.Path(sketches_dir).joinpath(*AARON_SHEEP)
    if not path.is_file():
        raise DataError(f"--sketches={sketches_dir}: no {'/'.join(AARON_SHEEP)} (turn the "
                        "aaron_sheep part off with --noaaron_sheep)")
    return path


def check_out(out):
    """The output folder as a Path; refuses a path that is a file."""
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out={out}: exists and is not a folder")
    return out


def load_classes(class_files):
    """{class: QuickDrawFile} through the QuickDraw recipe (raw -> 256-pixel stroke-3).

    Raises:
        DataError: a file with no readable drawing.
    """
    from common.strokes.quickdraw import load_ndjson

    out = {}
    for cls, path in class_files.items():
        got = load_ndjson(path)
        if not got.sketches:
            raise DataError(f"{path}: no readable drawings ({got.n_skipped} bad lines)")
        out[cls] = got
    return out


# ----------------------------------------------------------------------------- imports


def file_sha256(path):
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def imported_source(workdir):
    """The "source" section of an import workdir whose export exists, else None."""
    workdir = pathlib.Path(workdir)
    try:
        raw = json.loads((workdir / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not (workdir / "export" / "saved_model.pb").is_file():
        return None
    source = raw.get("source")
    return source if isinstance(source, dict) else None


def import_models(model_files, workdirs, normaliser=None, log=print):
    """Imports each `.gen.json` into workdirs/<name>, skipping ones already there.

    A workdir is kept when its config records the same file sha256 and the same normaliser
    and its export exists; otherwise it is (re)imported, an old one moved aside.

    Returns:
        {name: {"workdir", "skipped", "seconds", "normaliser", "normaliser_from"}}.
    """
    from sketch_rnn import js_format
    from sketch_rnn import pretrained

    out = {}
    for name, path in model_files.items():
        workdir = pathlib.Path(workdirs) / name
        t0 = time.perf_counter()
        source = imported_source(workdir)
        want = None
        if source and source.get("sha256") == file_sha256(path):
            want = pretrained.resolve_normaliser(normaliser, js_format.read_gen_json(path))[0]
        if want is not None and source.get("normaliser") == want:
            skipped = True
        else:
            skipped = False
            pretrained.import_gen_json(path, workdir, normaliser, overwrite=True)
            source = imported_source(workdir)
        seconds = time.perf_counter() - t0
        out[name] = {"workdir": str(workdir), "skipped": skipped, "seconds": round(seconds, 2),
                     "normaliser": source["normaliser"],
                     "normaliser_from": source.get("normaliser_from", "")}
        log(f"{'kept' if skipped else 'imported'} {name} -> {workdir} "
            f"(normaliser {source['normaliser']:.4g}, {seconds:.1f} s)")
    return out


# ----------------------------------------------------------------------------- per model


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
    from sketch_rnn.tools import prefix_points

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


def aaron_sheep_scores(nll, lengths):
    """magenta's views of per-sketch NLLs on aaron_sheep's test split.

    Args:
        nll: SketchModel.log_likelihood output for the sketches.
        lengths: (B,) points of each sketch.

    Returns:
        mean (of per-sketch means), length-weighted mean and L_s (summed over real points,
        divided by N_max = 250 and the batch) for the offsets, and the same for the pen
        (over the points and the end step).
    """
    n = np.asarray(lengths, np.float64)
    off, pen = np.asarray(nll["nll_offsets"]), np.asarray(nll["nll_pen"])
    b = len(n)
    return {"n": b, "nll_offsets_mean": float(off.mean()),
            "nll_offsets_weighted": float((off * n).sum() / n.sum()),
            "L_s": float((off * n).sum() / (b * L_S_N_MAX)),
            "nll_pen_mean": float(pen.mean()),
            "nll_pen_weighted": float((pen * (n + 1)).sum() / (n + 1).sum()),
            "L_p": float((pen * (n + 1)).sum() / (b * L_S_N_MAX)),
            "nll_mean": float(np.asarray(nll["nll"]).mean())}


# ----------------------------------------------------------------------------- tables


def confusion_matrix(scores, models, classes, key="mean_nll_offsets"):
    """(len(models), len(classes)) array of scores[model][class][key]."""
    return np.array([[scores[m][c][key] for c in classes] for m in models], np.float64)


def _nan_is_worst(matrix):
    """NaN (the model gave a drawing zero density in float32) counts as the worst score."""
    return np.where(np.isnan(matrix), np.inf, matrix)


def ranking(matrix, models, classes):
    """Which model scores each class best, and where each class's own model ranks.

    A NaN cell counts as the worst score.

    Returns:
        {"best_model": {class: model}, "own_rank": {class: 1-based rank or None},
         "matched": classes whose own model is best, "scored": classes with an own model}.
    """
    matrix = _nan_is_worst(matrix)
    best, own = {}, {}
    for j, cls in enumerate(classes):
        col = matrix[:, j]
        best[cls] = models[int(np.argmin(col))]
        if cls in models:
            own[cls] = int(np.sum(col < col[models.index(cls)])) + 1
        else:
            own[cls] = None
    ranked = [r for r in own.values() if r is not None]
    return {"best_model": best, "own_rank": own, "matched": sum(r == 1 for r in ranked),
            "scored": len(ranked)}


def weak_models(matrix, models, factor=WEAK_FACTOR):
    """Models whose median over the columns exceeds `factor` x the median model's median.

    A rule for setting apart files that score every class of drawings badly (NaN counts as
    the worst score); it was chosen after looking at the table, so the report names it.
    """
    medians = np.median(_nan_is_worst(matrix), axis=1)
    limit = factor * float(np.median(medians))
    return [m for m, v in zip(models, medians) if v > limit]


def subset(matrix, models, classes, keep):
    """The rows and columns of `keep` (models and classes of the same names)."""
    rows = [models.index(k) for k in keep]
    cols = [classes.index(k) for k in keep if k in classes]
    return matrix[np.ix_(rows, cols)], list(keep), [classes[j] for j in cols]


def _cell(value, digits=2):
    """A table number: fewer decimals for large values, 'nan' for NaN."""
    if not np.isfinite(value):
        return "nan"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def confusion_markdown(matrix, models, classes, digits=2):
    """A markdown table: one row per model, one column per class, the column's lowest in bold."""
    lines = ["| model \\ drawings | " + " | ".join(classes) + " |",
             "|---|" + "---:|" * len(classes)]
    lows = _nan_is_worst(matrix).argmin(axis=0)
    for i, m in enumerate(models):
        cells = [f"**{_cell(v, digits)}**" if lows[j] == i else _cell(v, digits)
                 for j, v in enumerate(matrix[i])]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _figure_to_png(fig, path, dpi):
    """Renders a matplotlib figure and writes it with grid.save_png (atomically)."""
    import matplotlib.pyplot as plt

    fig.set_dpi(dpi)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    plt.close(fig)
    return grid.save_png(rgba[..., :3], path)


def confusion_heatmap(matrix, models, classes, path, title, vmax=1.5, dpi=100):
    """A heatmap PNG: colour = each cell minus its column's lowest (capped at `vmax` nats),
    text = the value itself; NaN cells are grey.

    The column's lowest (best model for those drawings) is boxed in black; the class's own
    model (the diagonal) in dashed blue.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    worst = _nan_is_worst(matrix)
    gap = matrix - worst.min(axis=0, keepdims=True)
    cmap = plt.get_cmap("viridis_r").with_extremes(bad="0.75")
    fig, ax = plt.subplots(figsize=(0.42 * len(classes) + 3, 0.36 * len(models) + 2.2))
    image = ax.imshow(np.ma.masked_invalid(gap), cmap=cmap, vmin=0, vmax=vmax, aspect="auto")
    for i in range(len(models)):
        for j in range(len(classes)):
            dark = np.isfinite(gap[i, j]) and gap[i, j] > 0.6 * vmax
            ax.text(j, i, _cell(matrix[i, j]), ha="center", va="center", fontsize=5.5,
                    color="white" if dark else "black")
    for j, i in enumerate(worst.argmin(axis=0)):
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=1.6, ec="black"))
    for j, cls in enumerate(classes):
        if cls in models:
            i = models.index(cls)
            ax.add_patch(Rectangle((j - 0.42, i - 0.42), 0.84, 0.84, fill=False, lw=0.9,
                                   ec="tab:blue", ls="--"))
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(models)), models, fontsize=7)
    ax.set_xlabel("real QuickDraw drawings of class")
    ax.set_ylabel("pretrained model")
    ax.set_title(title, fontsize=9)
    bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02, extend="max")
    bar.set_label("nats above the column's best", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    fig.tight_layout()
    return _figure_to_png(fig, path, dpi)


def sweep_plot(sweeps, path, dpi=100):
    """Data-unit NLL of the offsets against the normaliser, one line per class."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    markers = {"own std": "o", "scale_factor / 2": "s", "scale_factor": "^", "inputs std": "x"}
    for cls, rows in sweeps.items():
        xs = [r["normaliser"] for r in rows]
        line, = ax.plot(xs, [r["nll_data"] for r in rows], label=cls, lw=1.2)
        for r in rows:
            if r["label"] in markers:
                ax.plot(r["normaliser"], r["nll_data"], markers[r["label"]],
                        color=line.get_color(), ms=6, mfc="none")
    for label, m in markers.items():
        ax.plot([], [], m, color="grey", mfc="none", label=label)
    ax.set_xscale("log")
    ticks = [12, 15, 20, 25, 30, 40, 50, 65]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("normaliser (256-pixel units per model unit)")
    ax.set_ylabel("mean NLL of offsets, data units (nats)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _figure_to_png(fig, path, dpi)


# ----------------------------------------------------------------------------- report


def _fmt(v, digits=3):
    return f"{v:.{digits}f}"


def report_markdown(report):
    """The run's report.md: every table the doc quotes, from report.json's dict."""
    models, classes = report["models"], report["classes"]
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in report["seconds"].items() if k != "total")
    lines = ["# Pretrained Sketch RNN report\n",
             f"Command: `{report.get('command', '')}`; wall time "
             f"{report['seconds']['total']:.0f} s ({phases}).\n",
             f"Models: {len(models)} from `{report['models_dir']}`, imported with the default "
             "normaliser (info.scale_factor / 2) into `workdirs/`.\n"]
    if report.get("samples"):
        lines += ["## Samples\n",
                  f"`{report['figures']['samples']}`: per model {report['samples_shown']} "
                  f"samples at each τ. Statistics over {report['samples_stats']} samples per τ: "
                  "the share that ended before max_seq_len and the mean length (points); the real "
                  "drawings' mean length for comparison.\n",
                  "| model | max_seq_len | " + " | ".join(
                      f"ended τ{t} | points τ{t}" for t in report["sample_temperatures"])
                  + " | real points |",
                  "|---|---:|" + "---:|---:|" * len(report["sample_temperatures"]) + "---:|"]
        for m in models:
            s = report["samples"][m]
            lines.append(f"| {m} | {s['max_seq_len']} | " + " | ".join(
                f"{s['stats'][t]['ended']:.2f} | {s['stats'][t]['mean_points']:.0f}"
                for t in report["sample_temperatures"])
                + f" | {s['real_mean_points']:.0f} |")
        lines.append("")
    if report.get("completions"):
        lines += ["## Completions\n",
                  f"`{report['figures']['completions']}`: per model two real drawings of its "
                  "class (first recognised ones that fit max_seq_len): the whole drawing, its "
                  f"first half, {report['completion_n']} completions at τ "
                  f"{report['completion_temperature']:g}.\n",
                  "| model | drawings (index: points, prefix) | completions ended |",
                  "|---|---|---:|"]
        for m in models:
            d = report["completions"][m]
            lines.append(f"| {m} | " + ", ".join(f"#{x['index']}: {x['points']}, {x['prefix']}"
                                                 for x in d)
                         + f" | {np.mean([x['ended'] for x in d]) if d else float('nan'):.2f} |")
        lines.append("")
    c = report["confusion"]
    lines += ["## Likelihood confusion\n",
              f"Mean per-sketch NLL of the offsets (nats per point, model units) of each "
              f"model on the real drawings of each class; one normaliser for all, the std of all "
              f"the inputs' offsets: **{c['normaliser']:.4f}** (256-pixel units). Lowest per "
              f"column in bold. Drawings per class: "
              + ", ".join(f"{k} {v}" for k, v in c["n"].items()) + ".\n",
              c["markdown"],
              f"Own model lowest for its class: **{c['ranking_offsets']['matched']}/"
              f"{c['ranking_offsets']['scored']}** on nll_offsets, "
              f"**{c['ranking_nll']['matched']}/{c['ranking_nll']['scored']}** on nll = offsets + "
              "pen.\n"]
    if c.get("weak_models") and c.get("ranking_healthy"):
        h = c["ranking_healthy"]
        missed = [f"{k} (best {h['offsets']['best_model'][k]}, own rank {v})"
                  for k, v in h["offsets"]["own_rank"].items() if v != 1]
        lines.append(f"Weak files by the rule \"{c['weak_rule']}\": "
                     f"{', '.join(c['weak_models'])}. Without them (their rows and columns): own "
                     f"model lowest **{h['offsets']['matched']}/{h['offsets']['scored']}** on "
                     f"nll_offsets, **{h['nll']['matched']}/{h['nll']['scored']}** on nll; missed: "
                     + (", ".join(missed) or "none") + ".\n")
    lines += ["| class | best model (offsets) | own rank (offsets) | best model (nll) | "
              "own rank (nll) |", "|---|---|---:|---|---:|"]
    for cls in classes:
        ro, rn = c["ranking_offsets"], c["ranking_nll"]
        lines.append(f"| {cls} | {ro['best_model'][cls]} | {ro['own_rank'][cls]} | "
                     f"{rn['best_model'][cls]} | {rn['own_rank'][cls]} |")
    lines.append("")
    if report.get("sweep"):
        lines += ["## Normaliser sweep\n",
                  "Own model on its class's real drawings (256-pixel recipe): mean NLL of the "
                  "offsets in data units, nll_offsets + 2 ln(normaliser) (lower is better).\n",
                  "| class | normaliser | label | nll_offsets (model units) | nll (data units) |",
                  "|---|---:|---|---:|---:|"]
        for cls, rows in report["sweep"].items():
            best = min(rows, key=lambda r: r["nll_data"])
            for r in rows:
                star = " (best)" if r is best else ""
                lines.append(f"| {cls} | {r['normaliser']:.2f} | {r['label']}{star} | "
                             f"{_fmt(r['nll_offsets'])} | {_fmt(r['nll_data'])} |")
        lines.append("")
    if report.get("aaron_sheep"):
        a = report["aaron_sheep"]
        s = a["sheep"]
        lines += ["## aaron_sheep\n",
                  f"Google's sheep model imported with `--normaliser={a['file']}` (train-split "
                  f"std {a['normaliser']:.4f}), scored on the {s['n']} test sketches: mean "
                  f"nll_offsets **{s['nll_offsets_mean']:.4f}** (length-weighted "
                  f"{s['nll_offsets_weighted']:.4f}; L_s {s['L_s']:.4f}), nll_pen "
                  f"{s['nll_pen_mean']:.4f} (weighted {s['nll_pen_weighted']:.4f}; L_p "
                  f"{s['L_p']:.4f}), nll {s['nll_mean']:.4f}.\n",
                  "Every model with the same normaliser (mean of per-sketch means):\n",
                  "| model | nll_offsets | nll_pen | nll |", "|---|---:|---:|---:|"]
        for m, v in sorted(a["all_models"].items(), key=lambda kv: kv[1]["mean_nll_offsets"]):
            lines.append(f"| {m} | {_fmt(v['mean_nll_offsets'])} | {_fmt(v['mean_nll_pen'])} | "
                         f"{_fmt(v['mean_nll'])} |")
        lines.append("")
    return "\n".join(lines)


def _grid(cells, labels, ncols, path, cell):
    image = render.sketch_grid(cells, ncols=ncols, cell=cell, labels=labels)
    return str(grid.save_png(image, path))


def run(models_dir, sketches_dir, out, figures=None, model_names=None, classes=None,
        samples_shown=4, samples_stats=25, sample_temperatures=SAMPLE_TEMPERATURES,
        completion_drawings=2, completion_n=3, completion_temperature=0.3, seed=0, cell=80,
        aaron_sheep=True, sweep_classes=SWEEP_CLASSES, batch_size=100, command="", log=print):
    """Imports the models and writes the figures, report.json and report.md.

    Args:
        models_dir: a folder of `.gen.json` files.
        sketches_dir: the shared sketches folder (quickdraw_exupery_raw*/, and
            hardmaru_sketch-rnn-datasets/aaron_sheep.npz when `aaron_sheep`).
        out: output folder: workdirs/, workdirs_aaron_sheep/, report.json, report.md.
        figures: folder for the PNGs (default: out).
        model_names: only these models (default: every file).
        classes: the drawings' classes (default: the models' names).
        samples_shown, samples_stats, sample_temperatures: the samples grid and statistics.
        completion_drawings, completion_n, completion_temperature: the completions grid.
        seed: sampling seed.
        cell: grid cell size in pixels.
        aaron_sheep: also score the sheep model (and the others) on aaron_sheep's test split.
        sweep_classes: classes (with a model) for the normaliser sweep.
        batch_size: sketches per log_likelihood call.
        command: the command line, recorded in the report.
        log: a print-like function for progress.

    Returns:
        The report dict (also written to out/report.json).

    Raises:
        DataError: a bad folder, a missing model or class file, or bad counts; all checked
            before any work starts.
    """
    for name, value, low in (("samples_shown", samples_shown, 1),
                             ("samples_stats", samples_stats, 1),
                             ("completion_drawings", completion_drawings, 0),
                             ("completion_n", completion_n, 1), ("cell", cell, 16),
                             ("batch_size", batch_size, 1)):
        if int(value) < low:
            raise DataError(f"--{name}={value} must be >= {low}")
    t_start = time.perf_counter()
    model_files = find_models(models_dir, model_names)
    models = list(model_files)
    classes = list(classes) if classes else models
    class_files = find_class_files(sketches_dir, dict.fromkeys(models + classes))
    sheep_npz = aaron_sheep_file(sketches_dir) if aaron_sheep else None
    if aaron_sheep and "sheep" not in models:
        raise DataError("the aaron_sheep part needs the sheep model: add it, or pass "
                        "--noaaron_sheep")
    out = check_out(out)
    figures = check_out(figures) if figures else out
    seconds = {}

    from sketch_rnn.client import SketchModel
    from sketch_rnn import sketch_files

    imports = import_models(model_files, out / "workdirs", log=log)
    aaron = None
    if aaron_sheep:
        aaron_import = import_models({"sheep": model_files["sheep"]}, out / "workdirs_aaron_sheep",
                                     normaliser=str(sheep_npz), log=log)["sheep"]
        test_sketches, _ = sketch_files.read_sketches(str(sheep_npz), "test")
        test_sketches = [np.asarray(s, np.float32) for s in test_sketches]
    seconds["imports"] = time.perf_counter() - t_start

    t0 = time.perf_counter()
    files = load_classes(class_files)
    drawings = {c: files[c].sketches for c in classes}
    normaliser = S.scale_factor([s for c in classes for s in drawings[c]])
    log(f"{sum(len(v) for v in drawings.values())} real drawings of {len(classes)} classes; "
        f"one normaliser for all: std of their offsets = {normaliser:.4f}")

    sample_cells, sample_labels, completion_cells, completion_labels = [], [], [], []
    samples, completions, scores, sweeps, aaron_all = {}, {}, {}, {}, {}
    for name in models:
        t_model = time.perf_counter()
        model = SketchModel(imports[name]["workdir"])
        if samples_shown:
            cells, labels, stats = sample_row(model, name, sample_temperatures, samples_shown,
                                              samples_stats, seed)
            sample_cells += cells
            sample_labels += labels
            samples[name] = {"max_seq_len": model.max_seq_len, "stats": stats,
                             "real_mean_points": float(np.mean([len(s) for s in
                                                                files[name].sketches]))}
        if completion_drawings:
            cells, labels, details = completion_row(model, name, files[name], completion_drawings,
                                                    completion_n, completion_temperature, seed)
            width = completion_drawings * (completion_n + 2)
            cells += [np.zeros((1, 3), np.float32)] * (width - len(cells))  # Fewer drawings.
            labels += [""] * (width - len(labels))
            completion_cells += cells
            completion_labels += labels
            completions[name] = details
        scores[name] = score_classes(model, drawings, normaliser, batch_size)
        if name in sweep_classes:
            own = drawings.get(name, files[name].sketches)
            named = {"own std": S.scale_factor(own), "inputs std": normaliser,
                     "scale_factor / 2": model.scale_factor,
                     "scale_factor": 2.0 * model.scale_factor}
            sweeps[name] = sweep_normalisers(model, own, named)
        if aaron_sheep:
            nll = model.log_likelihood(test_sketches, aaron_import["normaliser"], batch_size)
            aaron_all[name] = {f"mean_{k}": float(v.mean()) for k, v in nll.items()}
        log(f"{name}: {time.perf_counter() - t_model:.1f} s (own class nll_offsets "
            f"{scores[name].get(name, {}).get('mean_nll_offsets', float('nan')):.3f})")
        del model
    seconds["models"] = time.perf_counter() - t0

    figure_paths = {}
    per_row = len(sample_temperatures) * samples_shown
    if sample_cells:
        figure_paths["samples"] = _grid(sample_cells, sample_labels, per_row,
                                        figures / "samples.png", cell)
    if completion_cells:
        figure_paths["completions"] = _grid(completion_cells, completion_labels,
                                            completion_drawings * (completion_n + 2),
                                            figures / "completions.png", cell)
    matrix = confusion_matrix(scores, models, classes)
    matrix_nll = confusion_matrix(scores, models, classes, "mean_nll")
    weak = weak_models(matrix, models)
    healthy = [m for m in models if m not in weak]
    healthy_ranking = {}
    if weak and len(healthy) > 1:
        for key, values in (("offsets", matrix), ("nll", matrix_nll)):
            healthy_ranking[key] = ranking(*subset(values, models, classes, healthy))
    figure_paths["confusion"] = str(confusion_heatmap(
        matrix, models, classes, figures / "confusion.png",
        f"Mean NLL of the offsets (nats/point), real QuickDraw drawings,\n"
        f"one normaliser ({normaliser:.2f}) for all; box: column's lowest; dashed: own model"))
    if sweeps:
        figure_paths["sweep"] = str(sweep_plot(sweeps, figures / "normaliser_sweep.png"))

    if aaron_sheep:
        t0 = time.perf_counter()
        sheep = SketchModel(aaron_import["workdir"])
        nll = sheep.log_likelihood(test_sketches, None, batch_size)
        aaron = {"file": str(sheep_npz), "workdir": aaron_import["workdir"],
                 "normaliser": aaron_import["normaliser"],
                 "sheep": aaron_sheep_scores(nll, [len(s) for s in test_sketches]),
                 "all_models": aaron_all}
        seconds["aaron_sheep"] = time.perf_counter() - t0

    seconds["total"] = time.perf_counter() - t_start
    report = {
        "command": command, "models_dir": str(models_dir), "sketches_dir": str(sketches_dir),
        "models": models, "classes": classes, "imports": imports, "seed": seed,
        "sample_temperatures": [f"{t:g}" for t in sample_temperatures],
        "samples_shown": samples_shown, "samples_stats": samples_stats, "samples": samples,
        "completion_n": completion_n, "completion_temperature": completion_temperature,
        "completions": completions, "figures": figure_paths,
        "confusion": {"normaliser": normaliser, "units": "nats per point; offsets in model units",
                      "n": {c: len(drawings[c]) for c in classes},
                      "mean_points": {c: float(np.mean([len(s) for s in drawings[c]]))
                                      for c in classes},
                      "scores": scores, "markdown": confusion_markdown(matrix, models, classes),
                      "ranking_offsets": ranking(matrix, models, classes),
                      "ranking_nll": ranking(matrix_nll, models, classes),
                      "weak_models": weak,
                      "weak_rule": f"median over the classes above {WEAK_FACTOR:g} x the median "
                                   "model's median (nll_offsets; NaN counts as worst)",
                      "ranking_healthy": healthy_ranking},
        "sweep": sweeps, "aaron_sheep": aaron, "seconds": seconds}
    from common.files import atomic_write_text

    atomic_write_text(out / "report.json", json.dumps(report, indent=1) + "\n")
    atomic_write_text(out / "report.md", report_markdown(report))
    r = report["confusion"]
    log(f"Own model lowest: {r['ranking_offsets']['matched']}/{r['ranking_offsets']['scored']} "
        f"(nll_offsets), {r['ranking_nll']['matched']}/{r['ranking_nll']['scored']} (nll)."
        + (f" aaron_sheep test: sheep nll_offsets {aaron['sheep']['nll_offsets_mean']:.4f}."
           if aaron else "")
        + f" Wrote {out / 'report.md'}, report.json and {len(figure_paths)} figures in {figures} "
        f"({seconds['total']:.0f} s).")
    return report
