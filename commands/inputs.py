"""Command-line values: temperatures, interpolation pairs and the drawings to score."""

import os
import pathlib

from commands import sketch_files
from common.errors import DataError
from sketch_rnn import client

DEFAULT_QUICKDRAW = os.path.join("..", "shared", "data", "sketches", "quickdraw_exupery_raw")
SEED_PAIRS = (("fork", "cloud"), ("donut", "moon"))  # The seed's Figures 1 and 2.


def parse_temperatures(values):
    """['0.1', '0.5'] -> [0.1, 0.5]; each must be a number > 0."""
    temps = []
    for v in values:
        try:
            t = float(v)
        except ValueError:
            raise DataError(f"--temperature: {v!r} is not a number") from None
        if not t > 0 or t != t or t == float("inf"):
            raise DataError(f"--temperature: {v!r} must be a finite number > 0")
        temps.append(t)
    if not temps:
        raise DataError("--temperature: give at least one temperature")
    return temps

def parse_discrete_temperature(value):
    """--discrete_temperature: 'paper', 'web' or a number > 0 (sketch_rnn.client), one-line error."""
    try:
        return client.parse_discrete_temperature(value)
    except DataError as e:
        raise DataError(f"--{e}") from None

def parse_discrete_temperatures(values):
    """--discrete_temperature as a list: ['paper', 'WEB', '0.80'] -> ['paper', 'web', '0.8'].

    Each setting as parse_discrete_temperature, named by its canonical label (a number as
    `:g`); a bad, repeated or missing setting is a one-line DataError naming it.
    """
    labels = []
    for v in values:
        setting = parse_discrete_temperature(v)
        label = setting if isinstance(setting, str) else f"{setting:g}"
        if label in labels:
            raise DataError(f"--discrete_temperature: {v!r} is given twice")
        labels.append(label)
    if not labels:
        raise DataError("--discrete_temperature: give at least one setting ('paper', 'web' or "
                        "a number > 0)")
    return labels

def parse_pairs(pairs, quickdraw_dir, index):
    """--pair values -> [(name, ref_a, ref_b)]; the seed's pairs when none are given."""
    if not pairs:
        return [(f"{a}_to_{b}", os.path.join(quickdraw_dir, f"{a}.ndjson") + f":{index}",
                 os.path.join(quickdraw_dir, f"{b}.ndjson") + f":{index}") for a, b in SEED_PAIRS]
    out = []
    for p in pairs:
        parts = p.split(",")
        if len(parts) != 2 or not all(parts):
            raise DataError(f"--pair={p!r}: expected 'REF_A,REF_B'")
        name = "_to_".join(_stem(x) for x in parts)
        out.append((name, parts[0], parts[1]))
    return out

def _stem(ref):
    path, _, index = sketch_files.parse_sketch_ref(ref)
    return f"{pathlib.Path(path).stem}{index}"

def expand_inputs(inputs):
    """--input values -> [(class name, path, split or None)]: files, FILE.npz:SPLIT, folders."""
    out = []
    for ref in inputs:
        ref = str(ref)
        path, split = ref, None
        if not os.path.exists(ref) and ":" in ref:
            path, split = ref.rsplit(":", 1)
            if split not in ("train", "valid", "test"):
                raise DataError(f"--input={ref}: use FILE, FILE.npz:SPLIT (train, valid, test) "
                                "or a folder")
        if os.path.isdir(path):
            files = sorted(f for f in os.listdir(path) if f.endswith((".npz", ".ndjson")))
            if not files:
                raise DataError(f"--input={ref}: no .npz or .ndjson files in the folder")
            out += [(pathlib.Path(f).stem, os.path.join(path, f), split) for f in files]
        else:
            out.append((pathlib.Path(path).stem, path, split))
    if not out:
        raise DataError("give the drawings to score with --input")
    return out
