"""The pretrained report's figures: sketch grids, the NLL confusion heatmap, the normaliser sweep."""

import numpy as np

from common.images import grid
from common.strokes import render
from reports.pretrained.markdown import cell_text
from reports.pretrained.measures import nan_is_worst


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
    from matplotlib.patches import Rectangle
    import matplotlib.pyplot as plt

    worst = nan_is_worst(matrix)
    gap = matrix - worst.min(axis=0, keepdims=True)
    cmap = plt.get_cmap("viridis_r").with_extremes(bad="0.75")
    fig, ax = plt.subplots(figsize=(0.42 * len(classes) + 3, 0.36 * len(models) + 2.2))
    image = ax.imshow(np.ma.masked_invalid(gap), cmap=cmap, vmin=0, vmax=vmax, aspect="auto")
    for i in range(len(models)):
        for j in range(len(classes)):
            dark = np.isfinite(gap[i, j]) and gap[i, j] > 0.6 * vmax
            ax.text(j, i, cell_text(matrix[i, j]), ha="center", va="center", fontsize=5.5,
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

def sketch_grid(cells, labels, ncols, path, cell):
    image = render.sketch_grid(cells, ncols=ncols, cell=cell, labels=labels)
    return str(grid.save_png(image, path))
