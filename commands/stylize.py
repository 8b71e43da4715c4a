"""The command-line tools' work for the WAE: stylise image files into grids through the client."""

import pathlib

import numpy as np

from common.errors import DataError
from common.images import grid
from common.images import io as images_io
from wae_style.client import StyleModel

MODES = ("transfer", "pairs", "figure6", "figure7", "strength")
SWEEP = (0.0, 0.25, 0.5, 0.75, 1.0)  # Style strengths of the "strength" mode.


def load_images(paths, size, what):
    """Image files and folders (searched recursively) -> (N, size, size, 3) float32 in [0, 1]."""
    out = []
    for p in paths:
        p = pathlib.Path(p)
        if p.is_dir():
            folder = images_io.load_image_folder([str(p)], size=size)
            for path, why in folder.skipped:
                print(f"skipped {path}: {why}")
            out.extend(folder.images)
        else:
            out.append(images_io.load_image(str(p), size=size))
    if not out:
        raise DataError(f"no {what} images given (use --{what}=FILE)")
    return np.stack(out).astype(np.float32)


def _cycled_pairs(c, s):
    """Content i with style i for i < max(len(c), len(s)), the shorter list repeating."""
    n = max(len(c), len(s))
    return c[np.arange(n) % len(c)], s[np.arange(n) % len(s)]


def stylize(model_paths, contents, styles, out, strength=1.0, mode="transfer", precision="auto"):
    """Writes the requested grid to `out` (PNG) and returns its path.

    Modes: "transfer", a content x style grid per model; "pairs", content i with style i
    (one image pairs with many); "figure6", reconstructions per model; "figure7", a
    transfer strip per model (the seed's Figures 6 and 7); "strength", for content i with
    style i, one row per model: content, style, then the transfers at strengths SWEEP
    (the --strength flag is not used). precision: the transfers' (StyleModel).
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
    c = load_images(contents, size, "content")
    s = (load_images(styles, size, "style") if mode != "figure6" or styles
         else np.zeros((0, size, size, 3), np.float32))
    if mode == "transfer":
        image = np.concatenate([m.transfer_grid(c, s, strength) for m in models], axis=0)
    else:
        if mode == "pairs":
            rows, ncols = [m.transfer(c, s, strength) for m in models], max(len(c), len(s))
        elif mode == "figure6":
            inputs = np.concatenate([c, s]) if len(s) else c
            rows, ncols = [inputs] + [m.reconstruct(inputs) for m in models], len(inputs)
        elif mode == "strength":
            ci, si = _cycled_pairs(c, s)
            sweeps = [np.stack([m.transfer(ci, si, t) for t in SWEEP], axis=1)  # (n, 5, S, S, 3)
                      for m in models]
            rows = [np.concatenate([ci[i:i + 1], si[i:i + 1], sweep[i]])
                    for i in range(len(ci)) for sweep in sweeps]
            ncols = 2 + len(SWEEP)
        else:  # figure7
            ci, si = _cycled_pairs(c, s)
            rows, ncols = [ci, si] + [m.transfer(ci, si, strength) for m in models], len(ci)
        image = grid.image_grid(np.concatenate(rows), ncols=ncols)
    grid.save_png(image, out)
    print(f"Wrote {out} ({mode}; models with content_dim {[m.content_dim for m in models]}).")
    return out
