"""How well Sketch RNN models draw one dataset: test likelihood, how samples end, their size, grids."""

import json
import pathlib

import numpy as np

from common import files
from common.errors import DataError
from common.images import grid
from common.strokes import formats as S
from common.strokes import render
from commands import sketch_files
from commands.inputs import parse_discrete_temperatures
from sketch_rnn.client import SketchModel

TEMPERATURES = (0.1, 0.4, 0.7)
PAPER = "paper"  # The default discrete temperature (= tau); its rows keep the plain τ keys.
# report.md columns beside nll_offsets on integer data: (title, report key).
EXTRA_COLUMNS = (("dequantised", "mean_nll_offsets_dequantised"),
                 ("whole pixels", "mean_nll_offsets_discrete"))


def num_strokes(sketch):
    """Pen-down strokes in a stroke-3 sketch: its pen lifts, plus an unlifted last stroke."""
    lifts = np.asarray(sketch)[:, 2] > 0.5
    return int(lifts.sum()) + int(len(lifts) > 0 and not lifts[-1])


def shape_stats(sketches):
    """{n, mean_points, mean_strokes} of a list of stroke-3 sketches."""
    if not sketches:
        return {"n": 0, "mean_points": float("nan"), "mean_strokes": float("nan")}
    return {"n": len(sketches), "mean_points": float(np.mean([len(s) for s in sketches])),
            "mean_strokes": float(np.mean([num_strokes(s) for s in sketches]))}


def sample_stats(samples, max_len):
    """shape_stats of samples, and `ended`: the share that drew the end-of-sketch state
    before max_len points (the sampler stops there, so a shorter sample ended)."""
    out = shape_stats(samples)
    out["ended"] = float(np.mean([len(s) < max_len for s in samples])) if samples else float("nan")
    return out


def resolve_normaliser(value, data_file):
    """--normaliser: "train" (the std of the data file's train split), "own" (None: each
    model's), or a number > 0."""
    if value in (None, "own"):
        return None
    if value == "train":
        train, _ = sketch_files.read_sketches(str(data_file), "train")
        return S.scale_factor(train)
    try:
        number = float(value)
    except ValueError:
        raise DataError(f"--normaliser={value!r}: 'train', 'own' or a number") from None
    if not number > 0:
        raise DataError(f"--normaliser={value!r} must be > 0")
    return number


def _name(path):
    path = pathlib.Path(path)
    return path.parent.name if path.name == "export" else path.name


def row_key(temperature, discrete=PAPER):
    """A report's key for τ and a discrete-temperature label: "0.1" for the paper's (as in
    reports written before the setting existed), "0.1/web" or "0.1/0.8" for the others."""
    return f"{temperature:g}" if discrete == PAPER else f"{temperature:g}/{discrete}"


def split_key(key):
    """row_key's inverse on text: "0.1/web" -> ("0.1", "web"), "0.1" -> ("0.1", "paper")."""
    t, _, discrete = key.partition("/")
    return t, discrete or PAPER


def _check_discrete_inputs(models, settings):
    """An export written before the discrete_temperature input samples only with the paper's
    setting: refuse it up front, in one line naming the model, before anything is measured."""
    other = [s for s in settings if s != PAPER]
    for model in models:
        if other and not model.takes_discrete_temperature:
            raise DataError(
                f"model {_name(model.path)} ({files.display_path(model.path)}): its export has "
                f"no discrete_temperature input (written before it existed), so it samples only "
                f"with 'paper'; re-export it (python -m scripts.export_sketch_rnn --workdir=... "
                f"--out=...) to measure --discrete_temperature={other[0]}")


def measure(model_paths, data_file, split="test", normaliser="train",
            temperatures=TEMPERATURES, n=200, seed=0, max_len=None, out=None, shown=8, cell=72,
            discrete_temperatures=(PAPER,)):
    """Scores each model on a split and measures its samples.

    When the split's offsets are whole pixels, a density can keep lowering its NLL on them by
    peaking on the lattice, so each model is also scored as a probability of whole pixels
    (`mean_nll_offsets_discrete`: the mixture's mass over each offset's pixel cell, see
    pixel_cells.cell_log_prob; no normaliser enters it) and on the split with every offset
    dequantised (`mean_nll_offsets_dequantised`, the same noise for every model, drawn from
    `seed`; an upper bound on the whole-pixel figure that loosens as the mixture narrows).

    Args:
        model_paths: exports or workdirs (named by their workdir folders).
        data_file: a stroke file (.npz with splits, or .ndjson).
        split: the split scored (npz).
        normaliser: see resolve_normaliser; "train" gives every model one normaliser.
        temperatures, n, seed: n samples per model, temperature and discrete temperature.
        max_len: sample length cap (default: the longest sketch of the split), the same for
            every model so that `ended` compares like with like.
        out: folder for report.json, report.md and samples.png (None: nothing written).
            A conditional model also reconstructs the split's first n drawings at each
            temperature ("reconstructions": the same statistics; grid rows "recon").
        shown, cell: samples per grid row and the grid's cell size.
        discrete_temperatures: settings of the mixture and pen softmaxes' temperature
            ("paper" = τ, "web" = 0.5 + 0.5 τ, or a number > 0; see
            commands.inputs.parse_discrete_temperatures). Each model is measured at every
            (τ, setting), in that order: "samples" and "reconstructions" map row_key(τ,
            setting) to the statistics, and the table and the grid have one row for each.
            With the default ("paper",) the report is the one written before the setting
            existed; otherwise it also lists them under "discrete_temperatures". An export
            without the input refuses any other setting (one line naming the model).

    Returns:
        The report dict.
    """
    if not model_paths:
        raise DataError("give at least one --model")
    settings = parse_discrete_temperatures(discrete_temperatures)
    rows = [(t, d) for t in temperatures for d in settings]  # (τ, discrete label)
    sketches, where = sketch_files.read_sketches(str(data_file), split)
    if not sketches:
        raise DataError(f"{where}: no sketches")
    sketches = [np.asarray(s, np.float32) for s in sketches]
    norm = resolve_normaliser(normaliser, data_file)
    max_len = int(max_len or max(len(s) for s in sketches))
    report = {"data": where, "normaliser": norm, "max_len": max_len, "n_samples": n,
              "seed": seed, "split_name": split, "split": shape_stats(sketches), "models": {}}
    if settings != [PAPER]:
        report["discrete_temperatures"] = settings
    models = [SketchModel(path) for path in model_paths]
    _check_discrete_inputs(models, settings)
    # The same noise for every model (None: the offsets are not integers).
    dequantised = (S.dequantise(sketches, np.random.default_rng(seed))
                   if S.on_integer_grid(sketches) else None)
    cells = list(sketches[:shown])
    labels = [f"{split} data"] + [""] * (len(cells) - 1)
    for model in models:
        name = _name(model.path)
        whole = dequantised is not None and model.scores_whole_pixels  # Older exports cannot.
        nll = model.log_likelihood(sketches, norm, pixel=1.0 if whole else None)
        row = {"path": files.display_path(model.path),
               **{f"mean_{k}": float(v.mean()) for k, v in nll.items()}, "samples": {}}
        if dequantised is not None:
            row["mean_nll_offsets_dequantised"] = float(
                model.log_likelihood(dequantised, norm)["nll_offsets"].mean())
        for t, d in rows:
            samples = model.sample(n, t, seed, max_len, discrete_temperature=d)
            row["samples"][row_key(t, d)] = sample_stats(samples, max_len)
            cells += samples[:shown]
            labels += [f"{name} t={t:g}{_label(d)}"] + [""] * (min(shown, len(samples)) - 1)
        if model.conditional:
            # The first n drawings of the split, each encoded (z = mu) and decoded once per
            # temperature; grid rows sit under the data row, drawing for drawing.
            inputs = sketches[:n]
            z = model.encode(inputs)  # (len(inputs), N_z)
            row["reconstructed"] = shape_stats(inputs)
            row["reconstructions"] = {}
            for t, d in rows:
                outs = model.decode(z, t, seed, max_len, discrete_temperature=d)
                row["reconstructions"][row_key(t, d)] = sample_stats(outs, max_len)
                cells += outs[:shown]
                labels += ([f"{name} recon t={t:g}{_label(d)}"]
                           + [""] * (min(shown, len(outs)) - 1))
        report["models"][name] = row
        extra = ", ".join(f"{title} {row[key]:.4f}" for title, key in EXTRA_COLUMNS if key in row)
        print(f"{name}: nll_offsets {row['mean_nll_offsets']:.4f}"
              + (f" ({extra})" if extra else "")
              + f" nll_pen {row['mean_nll_pen']:.4f}; ended " + ", ".join(
                  f"t={t}: {s['ended']:.0%}" for t, s in row["samples"].items())
              + "".join(f"; reconstructions ended t={t}: {s['ended']:.0%}"
                        for t, s in row.get("reconstructions", {}).items()), flush=True)
    if out is not None:
        out = pathlib.Path(out)
        out.mkdir(parents=True, exist_ok=True)
        files.atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
        files.atomic_write_text(out / "report.md", markdown(report) + "\n")
        image = render.sketch_grid(cells, ncols=shown, cell=cell, labels=labels)
        grid.save_png(image, out / "samples.png")
        print(f"Wrote {out}/report.json, report.md and samples.png", flush=True)
    return report


def _label(discrete):
    """A grid label's suffix: nothing for the paper's setting, " d=web" / " d=0.8" otherwise."""
    return "" if discrete == PAPER else f" d={discrete}"


def markdown(report):
    """The report as a markdown table: one row per model and temperature, and per discrete
    temperature when the report has others than the paper's (then a "discrete τ" column)."""
    norm = report["normaliser"]
    split = report["split"]
    scored = report.get("split_name", "test")  # Reports written before the name was kept.
    models = report["models"]
    # Columns for integer data, when any model has the figure.
    extras = [(title, key) for title, key in EXTRA_COLUMNS
              if any(key in row for row in models.values())]
    extra = "".join(f" | {title}" for title, _ in extras)
    blank = "| | | " + "| " * len(extras)
    discrete = "discrete_temperatures" in report
    d_head, d_rule, d_blank = ((" discrete τ |", "---:|", "| ") if discrete else ("", "", ""))
    lines = [f"Data: {report['data']}; normaliser "
             f"{'each model its own' if norm is None else f'{norm:.4g}'}; "
             f"{report['n_samples']} samples per row, at most {report['max_len']} points.", "",
             f"| model | {scored} nll_offsets{extra} | nll_pen | τ |{d_head} ended | "
             "mean points | mean strokes |",
             "|---|---:|" + "---:|" * len(extras) + f"---:|---:|{d_rule}---:|---:|---:|",
             f"| ({split['n']} {scored} drawings) {blank}| {d_blank}| "
             f"{split['mean_points']:.1f} | {split['mean_strokes']:.2f} |"]
    for name, row in models.items():
        cell = "".join(" | -" if row.get(key) is None else f" | {row[key]:.4f}"
                       for _, key in extras)
        lines += _rows(f"| {name} | {row['mean_nll_offsets']:.4f}{cell} | "
                       f"{row['mean_nll_pen']:.4f} ", row["samples"], blank, discrete)
        if "reconstructions" in row:
            src = row["reconstructed"]
            lines += _rows(f"| {name}: reconstructions of the first {src['n']} "
                           f"({src['mean_points']:.1f} points, {src['mean_strokes']:.2f} "
                           f"strokes) {blank[2:]}", row["reconstructions"], blank, discrete)
    return "\n".join(lines)


def _rows(head, by_key, blank="| | | ", discrete=False):
    """One table row per row_key (τ, or τ and discrete temperature with `discrete`); `head`
    fills the cells before τ in the first, `blank` in the others."""
    out = []
    for j, (key, s) in enumerate(by_key.items()):
        t, d = split_key(key)
        cells = f"| {t} | {d} " if discrete else f"| {key} "
        out.append(f"{head if j == 0 else blank}{cells}| {s['ended']:.0%} | "
                   f"{s['mean_points']:.1f} | {s['mean_strokes']:.2f} |")
    return out
