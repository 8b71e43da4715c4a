"""A gallery folder of PNG and SVG results with an index.html, and the demo runner."""

import html
import pathlib
import time

from common import files
from common.images import grid
from common.strokes import render


class Gallery:
    """Collects pictures into sections and writes `index.html` that shows them.

    Args:
      root: the gallery folder (created if missing).
      title: the page title.
    """

    def __init__(self, root, title="Gallery"):
        self.root = pathlib.Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.title = title
        self.sections = {}

    def _add(self, section, entry):
        self.sections.setdefault(section, []).append(entry)

    def add_sketches(self, section, name, sketches, ncols, caption="", labels=None, cell=128):
        """Writes `name`.png and `name`.svg grids of stroke-3 sketches."""
        png = self.root / f"{name}.png"
        svg = self.root / f"{name}.svg"
        grid.save_png(render.sketch_grid(sketches, ncols=ncols, cell=cell, labels=labels), png)
        files.atomic_write_text(
            svg, render.sketch_grid_svg(sketches, ncols=ncols, cell=cell, labels=labels))
        self._add(section, {"img": png.name, "svg": svg.name, "caption": caption})

    def add_images(self, section, name, images, ncols, caption=""):
        """Writes `name`.png, a grid of (N, H, W, 3) images in [0, 1]."""
        png = self.root / f"{name}.png"
        grid.save_png(grid.image_grid(images, ncols=ncols), png)
        self._add(section, {"img": png.name, "svg": None, "caption": caption})

    def add_png(self, section, name, array, caption=""):
        """Writes one uint8 or [0, 1] float image as `name`.png."""
        png = self.root / f"{name}.png"
        grid.save_png(array, png)
        self._add(section, {"img": png.name, "svg": None, "caption": caption})

    def write_index(self):
        parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}"
                 "</title><style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
                 "figure{display:inline-block;margin:.5em;vertical-align:top}"
                 "img{image-rendering:pixelated;max-width:100%;border:1px solid #ddd}"
                 "figcaption{font-size:.9em;color:#333;max-width:520px}</style></head><body>",
                 f"<h1>{html.escape(self.title)}</h1>"]
        for section, entries in self.sections.items():
            parts.append(f"<h2>{html.escape(section)}</h2>")
            for e in entries:
                link = f" (<a href='{e['svg']}'>SVG</a>)" if e["svg"] else ""
                parts.append(f"<figure><img src='{e['img']}' alt='{html.escape(e['caption'])}'>"
                             f"<figcaption>{html.escape(e['caption'])}{link}</figcaption></figure>")
        parts.append("</body></html>\n")
        path = self.root / "index.html"
        files.atomic_write_text(path, "\n".join(parts))
        return path


def run_demo(out, parts, title="sketchstyle demo"):
    """Runs demo parts (one per model) into `out` and writes one gallery for them all.

    Each part has `name` (its workdir under out), `title`, `check()` (fails fast on bad
    input, before anything trains) and `run(workdir, gallery)` (trains, adds its gallery
    sections and returns a printable description of its outputs). The parts come from the
    model packages (demo.sketch, demo.style), so this runner imports no model.

    Returns:
        The path of the gallery's index.html.
    """
    out = pathlib.Path(out)
    t0 = time.time()
    for part in parts:
        part.check()
    gallery = Gallery(out / "gallery", title=title)
    described = []
    for part in parts:
        print(f"== {part.title} ==", flush=True)
        described.append((part.name, part.run(out / part.name, gallery)))
        print(f"{part.title} done after {time.time() - t0:.0f} s.", flush=True)
    index = gallery.write_index()
    print(f"\nDemo finished in {time.time() - t0:.0f} s.")
    for name, text in described:
        print(f"\n[{name}]\n{text}")
    print(f"\nGallery: {index}  (open it in a browser)")
    print(f"TensorBoard: tensorboard --logdir {out}")
    return index
