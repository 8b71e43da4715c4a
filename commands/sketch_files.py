"""Sketch files: drawings by reference (FILE[:SPLIT]:INDEX) or whole, and PNG + SVG sketch grids."""

import os

import numpy as np

from common import files
from common.errors import DataError
from common.images import grid
from common.strokes import render
from common.strokes.quickdraw import load_ndjson
from common.strokes.safe_npz import load_npz


def parse_sketch_ref(ref):
    """'FILE', 'FILE:INDEX' or 'FILE:SPLIT:INDEX' (npz) -> (path, split or None, index)."""
    parts = str(ref).rsplit(":", 2)
    path, split, index = str(ref), None, 0
    if len(parts) >= 2 and parts[-1].lstrip("-").isdigit() and not os.path.exists(str(ref)):
        index = int(parts[-1])
        path = ":".join(parts[:-1])
        if len(parts) == 3 and parts[1] in ("train", "valid", "test") and not os.path.exists(path):
            path, split = parts[0], parts[1]
    return path, split, index


def read_sketches(path, split=None, ref=None, max_sketches=None):
    """All raw stroke-3 sketches of one file: (list of arrays, a description of where).

    ndjson (QuickDraw raw or simplified) goes through the QuickDraw recipe
    (common.strokes.quickdraw.load_ndjson); npz through the safe loader (split "test" by default).
    A raw ndjson drawing comes out in QuickDraw's 256-pixel units. max_sketches keeps only the
    first that many (an ndjson is parsed no further).

    Raises:
        DataError: missing or unreadable file, unknown extension or split.
    """
    ref = ref or path
    if not os.path.isfile(path):
        raise DataError(f"{ref}: no such file {path!r}")
    if path.endswith(".ndjson"):  # max_sketches: parse no further than needed.
        return list(load_ndjson(path, max_sketches=max_sketches).sketches), path
    if path.endswith(".npz"):
        split = split or "test"
        data = load_npz(path)
        if split not in data:
            raise DataError(f"{ref}: no split {split!r} in {path} (it has {sorted(data)})")
        return list(data[split])[:max_sketches], f"{path} [{split}]"
    raise DataError(f"{ref}: expected an .ndjson or .npz file")


def load_sketch(ref):
    """One raw stroke-3 sketch from 'FILE[:INDEX]' or 'FILE.npz[:SPLIT]:INDEX' (see read_sketches).

    Raises:
        DataError: missing or unreadable file, unknown extension, index out of range.
    """
    path, split, index = parse_sketch_ref(ref)
    sketches, where = read_sketches(path, split, ref, max_sketches=index + 1 if index >= 0 else None)
    if not -len(sketches) <= index < len(sketches):
        raise DataError(f"{ref}: index {index} out of range; {where} holds {len(sketches)} "
                        "readable sketches")
    return np.asarray(sketches[index], np.float32)


def save_grid(sketches, out_prefix, ncols, labels=None, cell=128):
    """Writes OUT_PREFIX.png and OUT_PREFIX.svg (atomically) and returns both paths."""
    out_prefix = str(out_prefix)
    for suffix in (".png", ".svg"):
        if out_prefix.endswith(suffix):
            out_prefix = out_prefix[:-len(suffix)]
    parent = os.path.dirname(out_prefix)
    if parent:
        os.makedirs(parent, exist_ok=True)
    png, svg = out_prefix + ".png", out_prefix + ".svg"
    grid.save_png(render.sketch_grid(sketches, ncols=ncols, cell=cell, labels=labels), png)
    files.atomic_write_text(svg, render.sketch_grid_svg(sketches, ncols=ncols, cell=cell, labels=labels))
    return png, svg
