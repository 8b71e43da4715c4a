"""Evidence on Google's pretrained decoders: imports, sample and completion grids, NLL confusion, aaron_sheep."""

import dataclasses
import json
import time

import numpy as np

from commands import sketch_files
from common import files
from common.errors import DataError
from common.strokes import formats as S
from reports.pretrained import figures as F
from reports.pretrained import inputs as I
from reports.pretrained import measures as M
from reports.pretrained import sampling
from reports.pretrained.markdown import confusion_markdown
from reports.pretrained.markdown import report_markdown
from sketch_rnn.client import SketchModel

SWEEP_CLASSES = sampling.SWEEP_CLASSES


@dataclasses.dataclass(frozen=True)
class ReportOptions:
    """What the report draws and measures.

    Attributes:
      figures: folder for the PNGs (default: the output folder).
      model_names: only these models (default: every file).
      classes: the drawings' classes (default: the models' names).
      samples_shown, samples_stats, sample_temperatures: the samples grid and statistics.
      completion_drawings, completion_n, completion_temperature: the completions grid.
      seed: sampling seed.
      cell: grid cell size in pixels.
      aaron_sheep: also score the sheep model (and the others) on aaron_sheep's test split.
      sweep_classes: classes (with a model) for the normaliser sweep.
      batch_size: sketches per log_likelihood call.
    """

    figures: str | None = None
    model_names: tuple | None = None
    classes: tuple | None = None
    samples_shown: int = 4
    samples_stats: int = 25
    sample_temperatures: tuple = sampling.SAMPLE_TEMPERATURES
    completion_drawings: int = 2
    completion_n: int = 3
    completion_temperature: float = 0.3
    seed: int = 0
    cell: int = 80
    aaron_sheep: bool = True
    sweep_classes: tuple = SWEEP_CLASSES
    batch_size: int = 100

    def check(self):
        """DataError naming the first count below its minimum."""
        for name, low in (("samples_shown", 1), ("samples_stats", 1), ("completion_drawings", 0),
                          ("completion_n", 1), ("cell", 16), ("batch_size", 1)):
            if int(getattr(self, name)) < low:
                raise DataError(f"--{name}={getattr(self, name)} must be >= {low}")


def _model_rows(model, name, opt, files_by_class, drawings, normaliser, aaron_test):
    """Everything the report measures of one model: a dict of its parts."""
    got = {}
    if opt.samples_shown:
        cells, labels, stats = sampling.sample_row(model, name, opt.sample_temperatures,
                                                   opt.samples_shown, opt.samples_stats, opt.seed)
        got["sample_cells"], got["sample_labels"] = cells, labels
        got["samples"] = {"max_seq_len": model.max_seq_len, "stats": stats,
                          "real_mean_points": float(np.mean([len(s) for s in
                                                             files_by_class[name].sketches]))}
    if opt.completion_drawings:
        cells, labels, details = sampling.completion_row(
            model, name, files_by_class[name], opt.completion_drawings, opt.completion_n,
            opt.completion_temperature, opt.seed)
        width = opt.completion_drawings * (opt.completion_n + 2)
        cells += [np.zeros((1, 3), np.float32)] * (width - len(cells))  # Fewer drawings.
        labels += [""] * (width - len(labels))
        got["completion_cells"], got["completion_labels"], got["completions"] = (
            cells, labels, details)
    got["scores"] = sampling.score_classes(model, drawings, normaliser, opt.batch_size)
    if name in opt.sweep_classes:
        own = drawings.get(name, files_by_class[name].sketches)
        named = {"own std": S.scale_factor(own), "inputs std": normaliser,
                 "scale_factor / 2": model.scale_factor, "scale_factor": 2.0 * model.scale_factor}
        got["sweep"] = sampling.sweep_normalisers(model, own, named)
    if aaron_test is not None:
        sketches, aaron_normaliser = aaron_test
        nll = model.log_likelihood(sketches, aaron_normaliser, opt.batch_size)
        got["aaron"] = {f"mean_{k}": float(v.mean()) for k, v in nll.items()}
    return got


def run(models_dir, sketches_dir, out, command="", log=print, **options):
    """Imports the models and writes the figures, report.json and report.md.

    Args:
        models_dir: a folder of `.gen.json` files.
        sketches_dir: the shared sketches folder (quickdraw_exupery_raw*/, and
            hardmaru_sketch-rnn-datasets/aaron_sheep.npz when `aaron_sheep`).
        out: output folder: workdirs/, workdirs_aaron_sheep/, report.json, report.md.
        command: the command line, recorded in the report.
        log: a print-like function for progress.
        **options: ReportOptions fields.

    Returns:
        The report dict (also written to out/report.json).

    Raises:
        DataError: a bad folder, a missing model or class file, or bad counts; all checked
            before any work starts.
    """
    opt = ReportOptions(**options)
    opt.check()
    t_start = time.perf_counter()
    model_files = I.find_models(models_dir, opt.model_names)
    models = list(model_files)
    classes = list(opt.classes) if opt.classes else models
    class_files = I.find_class_files(sketches_dir, dict.fromkeys(models + classes))
    sheep_npz = I.aaron_sheep_file(sketches_dir) if opt.aaron_sheep else None
    if opt.aaron_sheep and "sheep" not in models:
        raise DataError("the aaron_sheep part needs the sheep model: add it, or pass "
                        "--noaaron_sheep")
    out = I.check_out(out)
    figures = I.check_out(opt.figures) if opt.figures else out
    seconds = {}

    imports = I.import_models(model_files, out / "workdirs", log=log)
    aaron_import, aaron_test = None, None
    if opt.aaron_sheep:
        aaron_import = I.import_models({"sheep": model_files["sheep"]},
                                       out / "workdirs_aaron_sheep", normaliser=str(sheep_npz),
                                       log=log)["sheep"]
        test_sketches, _ = sketch_files.read_sketches(str(sheep_npz), "test")
        aaron_test = ([np.asarray(s, np.float32) for s in test_sketches],
                      aaron_import["normaliser"])
    seconds["imports"] = time.perf_counter() - t_start

    t0 = time.perf_counter()
    files_by_class = I.load_classes(class_files)
    drawings = {c: files_by_class[c].sketches for c in classes}
    normaliser = S.scale_factor([s for c in classes for s in drawings[c]])
    log(f"{sum(len(v) for v in drawings.values())} real drawings of {len(classes)} classes; "
        f"one normaliser for all: std of their offsets = {normaliser:.4f}")
    rows = {}
    for name in models:
        t_model = time.perf_counter()
        model = SketchModel(imports[name]["workdir"])
        rows[name] = _model_rows(model, name, opt, files_by_class, drawings, normaliser,
                                 aaron_test)
        log(f"{name}: {time.perf_counter() - t_model:.1f} s (own class nll_offsets "
            f"{rows[name]['scores'].get(name, {}).get('mean_nll_offsets', float('nan')):.3f})")
        del model
    seconds["models"] = time.perf_counter() - t0

    def joined(key):
        return [x for name in models for x in rows[name].get(key, [])]

    scores = {name: rows[name]["scores"] for name in models}
    sweeps = {name: rows[name]["sweep"] for name in models if "sweep" in rows[name]}
    figure_paths = {}
    if joined("sample_cells"):
        figure_paths["samples"] = F.sketch_grid(
            joined("sample_cells"), joined("sample_labels"),
            len(opt.sample_temperatures) * opt.samples_shown, figures / "samples.png", opt.cell)
    if joined("completion_cells"):
        figure_paths["completions"] = F.sketch_grid(
            joined("completion_cells"), joined("completion_labels"),
            opt.completion_drawings * (opt.completion_n + 2), figures / "completions.png",
            opt.cell)
    matrix = M.confusion_matrix(scores, models, classes)
    matrix_nll = M.confusion_matrix(scores, models, classes, "mean_nll")
    weak = M.weak_models(matrix, models)
    healthy = [m for m in models if m not in weak]
    healthy_ranking = {}
    if weak and len(healthy) > 1:
        for key, values in (("offsets", matrix), ("nll", matrix_nll)):
            healthy_ranking[key] = M.ranking(*M.subset(values, models, classes, healthy))
    figure_paths["confusion"] = str(F.confusion_heatmap(
        matrix, models, classes, figures / "confusion.png",
        f"Mean NLL of the offsets (nats/point), real QuickDraw drawings,\n"
        f"one normaliser ({normaliser:.2f}) for all; box: column's lowest; dashed: own model"))
    if sweeps:
        figure_paths["sweep"] = str(F.sweep_plot(sweeps, figures / "normaliser_sweep.png"))

    aaron = None
    if opt.aaron_sheep:
        t0 = time.perf_counter()
        sheep = SketchModel(aaron_import["workdir"])
        nll = sheep.log_likelihood(aaron_test[0], None, opt.batch_size)
        aaron = {"file": files.display_path(sheep_npz),
                 "workdir": files.display_path(aaron_import["workdir"]),
                 "normaliser": aaron_import["normaliser"],
                 "sheep": M.aaron_sheep_scores(nll, [len(s) for s in aaron_test[0]]),
                 "all_models": {name: rows[name]["aaron"] for name in models}}
        seconds["aaron_sheep"] = time.perf_counter() - t0

    seconds["total"] = time.perf_counter() - t_start
    report = {
        "command": command, "models_dir": files.display_path(models_dir),
        "sketches_dir": files.display_path(sketches_dir), "models": models, "classes": classes,
        "imports": {name: dict(v, workdir=files.display_path(v["workdir"]))
                    for name, v in imports.items()},
        "seed": opt.seed,
        "sample_temperatures": [f"{t:g}" for t in opt.sample_temperatures],
        "samples_shown": opt.samples_shown, "samples_stats": opt.samples_stats,
        "samples": {name: rows[name]["samples"] for name in models if "samples" in rows[name]},
        "completion_n": opt.completion_n, "completion_temperature": opt.completion_temperature,
        "completions": {name: rows[name]["completions"] for name in models
                        if "completions" in rows[name]},
        "figures": {k: files.display_path(v) for k, v in figure_paths.items()},
        "confusion": {"normaliser": normaliser, "units": "nats per point; offsets in model units",
                      "n": {c: len(drawings[c]) for c in classes},
                      "mean_points": {c: float(np.mean([len(s) for s in drawings[c]]))
                                      for c in classes},
                      "scores": scores, "markdown": confusion_markdown(matrix, models, classes),
                      "ranking_offsets": M.ranking(matrix, models, classes),
                      "ranking_nll": M.ranking(matrix_nll, models, classes),
                      "weak_models": weak,
                      "weak_rule": f"median over the classes above {M.WEAK_FACTOR:g} x the "
                                   "median model's median (nll_offsets; NaN counts as worst)",
                      "ranking_healthy": healthy_ranking},
        "sweep": sweeps, "aaron_sheep": aaron, "seconds": seconds}
    files.atomic_write_text(out / "report.json", json.dumps(report, indent=1) + "\n")
    files.atomic_write_text(out / "report.md", report_markdown(report))
    r = report["confusion"]
    log(f"Own model lowest: {r['ranking_offsets']['matched']}/{r['ranking_offsets']['scored']} "
        f"(nll_offsets), {r['ranking_nll']['matched']}/{r['ranking_nll']['scored']} (nll)."
        + (f" aaron_sheep test: sheep nll_offsets {aaron['sheep']['nll_offsets_mean']:.4f}."
           if aaron else "")
        + f" Wrote {out / 'report.md'}, report.json and {len(figure_paths)} figures in {figures} "
        f"({seconds['total']:.0f} s).")
    return report
