"""Stylises images with an exported WAE: python -m scripts.stylize --model=WORKDIR --content=a.jpg --style=b.jpg --out=o.png."""

import json
import pathlib

import numpy as np
from absl import app
from absl import flags

from common import cli
from common import images as images_lib
from common import render
from common.errors import DataError
from wae_style import export as export_lib

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("model", None, "Exported SavedModel folder or workdir (repeat for several).",
                          required=True)
flags.DEFINE_multi_string("content", [], "Content image files or folders.")
flags.DEFINE_multi_string("style", [], "Style image files or folders.")
flags.DEFINE_string("out", "stylized.png", "Output PNG.")
flags.DEFINE_float("strength", 1.0, "Style strength in [0, 1]: 0 keeps the content's own style.")
flags.DEFINE_enum("mode", "transfer", ["transfer", "pairs", "figure6", "figure7"],
                  "transfer: a content x style grid; pairs: content i with style i (broadcasting "
                  "one against many); figure6: reconstructions per model; figure7: a transfer "
                  "strip per model (the seed's Figures 6 and 7).")


def _load(paths, size, what):
    out = []
    for p in paths:
        p = pathlib.Path(p)
        if p.is_dir():
            folder = images_lib.load_image_folder([str(p)], size=size)
            for path, why in folder.skipped:
                print(f"skipped {path}: {why}")
            out.extend(folder.images)
        else:
            out.append(images_lib.load_image(str(p), size=size))
    if not out:
        raise DataError(f"no {what} images given (use --{what}=FILE)")
    return np.stack(out).astype(np.float32)


def _model(path):
    m = export_lib.load(path)
    meta = json.loads(m.metadata()["json"].numpy())
    return m, meta


def _transfer(m, content, style, strength):
    return m.transfer(content=content, style=style, strength=np.float32(strength))["images"].numpy()


def stylize(model_paths, contents, styles, out, strength=1.0, mode="transfer"):
    """Writes the requested grid to `out` and returns its path."""
    if not 0.0 <= strength <= 1.0:
        raise DataError(f"--strength={strength} must lie in [0, 1]")
    models = [_model(p) for p in model_paths]
    size = models[0][1]["image_size"]
    c = _load(contents, size, "content")
    s = _load(styles, size, "style") if mode != "figure6" or styles else np.zeros((0, size, size, 3))
    rows, ncols = [], None
    if mode == "transfer":
        for m, _ in models:
            header = np.concatenate([np.ones((1, size, size, 3), np.float32), s])
            rows.append(header)
            for ci in c:
                rows.append(np.concatenate([ci[None], _transfer(m, ci[None], s, strength)]))
        ncols = len(s) + 1
    elif mode == "pairs":
        for m, _ in models:
            rows.append(_transfer(m, c, s, strength))
        ncols = max(len(c), len(s))
    elif mode == "figure6":
        inputs = np.concatenate([c, s]) if len(s) else c
        rows.append(inputs)
        for m, _ in models:
            rows.append(m.reconstruct(images=inputs)["images"].numpy())
        ncols = len(inputs)
    else:  # figure7
        n = max(len(c), len(s))
        ci, si = c[np.arange(n) % len(c)], s[np.arange(n) % len(s)]
        rows += [ci, si]
        for m, _ in models:
            rows.append(_transfer(m, ci, si, strength))
        ncols = n
    grid = render.image_grid(np.concatenate(rows), ncols=ncols)
    render.save_png(grid, out)
    labels = [meta["config"].get("content_dim") for _, meta in models]
    print(f"Wrote {out} ({mode}; models with content_dim {labels}).")
    return out


def main(argv):
    del argv
    cli.quiet_logging()
    cli.exit_on_error(stylize, FLAGS.model, FLAGS.content, FLAGS.style, FLAGS.out,
                      FLAGS.strength, FLAGS.mode)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
