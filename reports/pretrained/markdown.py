"""The pretrained report's markdown: the NLL confusion table and report.md."""

import numpy as np

from reports.pretrained.measures import nan_is_worst


def cell_text(value, digits=2):
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
    lows = nan_is_worst(matrix).argmin(axis=0)
    for i, m in enumerate(models):
        cells = [f"**{cell_text(v, digits)}**" if lows[j] == i else cell_text(v, digits)
                 for j, v in enumerate(matrix[i])]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

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
