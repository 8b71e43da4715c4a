"""The command-line tools' work for the WAE: stylise image files into grids through the client."""

import pathlib

import numpy as np

from common.errors import DataError
from common.images import grid
from common.images import io as images_io
from wae_style.client import StyleModel

MODES = ("transfer", "pairs", "figure6", "figure7", "strength")
SWEEP = (0.0, 0.25, 0.5, 0.75, 1.0)  # Style strengths of the "strength" mode.


def load_images(paths, size, what, with_names=False):
    """Image files and folders (searched recursively) -> (N, size, size, 3) float32 in [0, 1].

    With with_names, also returns each image's file name without its extension.
    """
    out, names = [], []
    for p in paths:
        p = pathlib.Path(p)
        if p.is_dir():
            folder = images_io.load_image_folder([str(p)], size=size)
            for path, why in folder.skipped:
                print(f"skipped {path}: {why}")
            if not len(folder.paths):
                raise DataError(f"--{what}={p}: a folder without a readable image file")
            out.extend(folder.images)
            names.extend(pathlib.Path(f).stem for f in folder.paths)
        else:
            out.append(images_io.load_image(str(p), size=size))
            names.append(p.stem)
    if not out:
        raise DataError(f"no {what} images given (use --{what}=FILE)")
    images = np.stack(out).astype(np.float32)
    return (images, names) if with_names else images


def model_name(model):
    """A model's label in the grids: its workdir's name (or the export's) and content_dim."""
    path = pathlib.Path(str(model.path))
    name = path.parent.name if path.name == "export" else path.name
    return f"{name}\ncontent_dim {model.content_dim}"


def _short(name, n=12):
    return name if len(name) <= n else name[:n - 1] + "~"


def _pair_labels(content_names, style_names, n):
    """Column labels of n cycled pairs (as _cycled_pairs): content name over style name."""
    return [f"{_short(content_names[i % len(content_names)])}\n"
            f"{_short(style_names[i % len(style_names)])}" for i in range(n)]


def _cycled_pairs(c, s):
    """Content i with style i for i < max(len(c), len(s)), the shorter list repeating."""
    n = max(len(c), len(s))
    return c[np.arange(n) % len(c)], s[np.arange(n) % len(s)]


def stylize(model_paths, contents, styles, out, strength=1.0, mode="transfer", precision="auto",
            labels=True):
    """Writes the requested grid to `out` (PNG) and returns its path.

    Modes: "transfer", a content x style grid per model; "pairs", content i with style i
    (one image pairs with many); "figure6", reconstructions per model; "figure7", a
    transfer strip per model (the seed's Figures 6 and 7); "strength", for content i with
    style i, one row per model: content, style, then the transfers at strengths SWEEP
    (the --strength flag is not used). precision: the transfers' (StyleModel).
    labels: draw row labels (models, images) and column labels (image names, strengths)
    around a grid of cells enlarged 2x; False gives the bare grid at the models' size.
    """
    if mode not in MODES:
        raise DataError(f"--mode={mode!r}: use one of {MODES}")
    if not 0.0 <= strength <= 1.0:
        raise DataError(f"--strength={strength} must lie in [0, 1]")
    models = [StyleModel(p, precision=precision) for p in model_paths]
    size = models[0].image_size
    if any(m.image_size != size for m in models):
        raise DataError(f"the models work at different image sizes "
                        f"{[m.image_size for m in models]}")
    c, cn = load_images(contents, size, "content", with_names=True)
    s, sn = ((load_images(styles, size, "style", with_names=True)) if mode != "figure6" or styles
             else (np.zeros((0, size, size, 3), np.float32), []))
    names = [model_name(m) for m in models]
    blank = np.ones((1, size, size, 3), np.float32)
    if mode == "transfer":
        rows, row_labels = [], []
        every_c, every_s = np.repeat(c, len(s), axis=0), np.tile(s, (len(c), 1, 1, 1))
        for m, name in zip(models, names):
            made = m.transfer(every_c, every_s, strength).reshape((len(c), len(s)) + c.shape[1:])
            rows.append(np.concatenate([blank, s]))
            row_labels.append(name + "\n(styles)")
            for i in range(len(c)):
                rows.append(np.concatenate([c[i:i + 1], made[i]]))
                row_labels.append(_short(cn[i]))
        ncols, col_labels = 1 + len(s), ["content"] + [_short(n) for n in sn]
    elif mode == "pairs":
        ci, si = _cycled_pairs(c, s)
        rows, ncols = [m.transfer(c, s, strength) for m in models], len(ci)
        row_labels, col_labels = names, _pair_labels(cn, sn, len(ci))
    elif mode == "figure6":
        inputs = np.concatenate([c, s]) if len(s) else c
        rows, ncols = [inputs] + [m.reconstruct(inputs) for m in models], len(inputs)
        row_labels, col_labels = ["input"] + names, [_short(n) for n in cn + sn]
    elif mode == "strength":
        ci, si = _cycled_pairs(c, s)
        sweeps = [np.stack([m.transfer(ci, si, t) for t in SWEEP], axis=1)  # (n, 5, S, S, 3)
                  for m in models]
        rows = [np.concatenate([ci[i:i + 1], si[i:i + 1], sweep[i]])
                for i in range(len(ci)) for sweep in sweeps]
        row_labels = [name for _ in range(len(ci)) for name in names]
        ncols = 2 + len(SWEEP)
        col_labels = ["content", "style"] + [f"strength\n{t:g}" for t in SWEEP]
    else:  # figure7
        ci, si = _cycled_pairs(c, s)
        rows, ncols = [ci, si] + [m.transfer(ci, si, strength) for m in models], len(ci)
        row_labels = ["content", "style"] + names
        col_labels = _pair_labels(cn, sn, len(ci))
    images = np.concatenate(rows)
    if labels:
        image = grid.labelled_grid(images, ncols, row_labels=row_labels, col_labels=col_labels)
    else:
        image = grid.image_grid(images, ncols=ncols)
    grid.save_png(image, out)
    print(f"Wrote {out} ({mode}; models with content_dim {[m.content_dim for m in models]}).")
    return out
