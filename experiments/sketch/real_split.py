"""Real QuickDraw drawings split apart by class and drawing: Experiment 1 inputs, scorer train, scorer test."""

import dataclasses
import json
import os
import pathlib
import zlib

import numpy as np

from common.errors import DataError
from common.files import atomic_write_bytes
from common.files import atomic_write_text
from common.strokes import quickdraw

PARTS = ("inputs", "train", "test")
SPLIT_INFO = "split.json"


@dataclasses.dataclass
class ClassDrawings:
    """The usable drawings of one class, in source order, one per key_id.

    Attributes:
      lines: the drawings' original ndjson lines (bytes, no newline).
      key_ids: their key_id ("" when missing).
      skipped, duplicates, too_long: lines left out as unreadable, as a key_id already seen,
        or as longer than max_seq_len points after the loaders' simplification.
    """

    lines: list = dataclasses.field(default_factory=list)
    key_ids: list = dataclasses.field(default_factory=list)
    skipped: int = 0
    duplicates: int = 0
    too_long: int = 0
    seen: set = dataclasses.field(default_factory=set, repr=False)


def ndjson_files(sources):
    """[(class name, path)] of the .ndjson files of `sources` (files or folders, in order)."""
    found = []
    for src in sources:
        path = pathlib.Path(src)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix == ".ndjson" and p.is_file())
            if not files:
                raise DataError(f"{src}: folder without .ndjson files")
        elif path.is_file() and path.suffix == ".ndjson":
            files = [path]
        else:
            raise DataError(f"{src}: not an .ndjson file or a folder of them (real drawings "
                            "need their key_id, which .npz files do not keep)")
        found += [(p.stem, p) for p in files]
    if not found:
        raise DataError("no real drawing sources given")
    return found


def read_class_drawings(sources, max_seq_len=250, classes=None):
    """{class name: ClassDrawings}, read the way the stroke loaders read them.

    Lines are read in source order; a key_id already seen in the class is a duplicate (the raw
    and simplified QuickDraw folders hold the same drawings); lines the loaders would skip or
    drop for length are left out and counted.
    """
    out = {}
    for name, path in ndjson_files(sources):
        if classes is not None and name not in classes:
            continue
        drawings = out.setdefault(name, ClassDrawings())
        qd = quickdraw.load_ndjson(path, keep_lines=True)  # The loaders' parse and skips.
        drawings.skipped += qd.n_skipped
        for s3, key, line in zip(qd.sketches, qd.key_ids, qd.lines):
            if key and key in drawings.seen:
                drawings.duplicates += 1
                continue
            drawings.seen.add(key)
            if len(s3) > max_seq_len:
                drawings.too_long += 1
                continue
            drawings.lines.append(line)
            drawings.key_ids.append(key)
    return out


def class_names_from(folder):
    """The class names of a corpus folder (its .npz / .ndjson file stems)."""
    path = pathlib.Path(folder)
    if not path.is_dir():
        raise DataError(f"{folder}: not a folder (give the corpus the models train on)")
    names = sorted(p.stem for p in path.iterdir() if p.suffix in (".npz", ".ndjson"))
    if not names:
        raise DataError(f"{folder}: no .npz or .ndjson files")
    return names


def spread(keys, total):
    """{key: count} sharing `total` over `keys` in their order: total // n each, and one more
    for the first total % n (how Experiment 1 spreads its inputs over the classes)."""
    keys = list(keys)
    return {k: total // len(keys) + (i < total % len(keys)) for i, k in enumerate(keys)}


def split_real(sources, out, classes=None, num_inputs=60, train_fraction=0.5, seed=0,
               max_seq_len=250):
    """Writes out/{inputs,train,test}/<class>.ndjson and out/split.json.

    Per class: the first drawings (the Experiment 1 inputs, `num_inputs` spread over the
    classes), then a seeded permutation (np.random.default_rng([seed, crc32(class)])) of the
    rest: round(train_fraction * rest) for training the scorer, the others to test it. The
    three parts share no drawing (key_id); lines are copied unchanged.

    Args:
        sources: .ndjson files or folders of them (class = file name), e.g. the QuickDraw raw
            and simplified folders.
        out: output folder.
        classes: class names to keep (e.g. class_names_from(corpus)); None keeps every class.
        num_inputs: Experiment 1 inputs in all.
        train_fraction: share of the other drawings for the scorer's training.
        seed: permutation seed.
        max_seq_len: drawings longer than this (after the loaders' simplification) are left out.

    Returns:
        The split.json dict.

    Raises:
        DataError: bad sources, no drawing of the classes, bad fractions, or an `out` that holds
        a different split.
    """
    if not 0 <= train_fraction <= 1:
        raise DataError(f"train_fraction={train_fraction} must be in [0, 1]")
    if num_inputs < 0 or max_seq_len < 1:
        raise DataError(f"num_inputs={num_inputs} must be >= 0 and max_seq_len={max_seq_len} >= 1")
    wanted = None if classes is None else set(classes)
    drawings = {k: v for k, v in read_class_drawings(sources, max_seq_len, wanted).items()
                if v.lines}
    if not drawings:
        raise DataError(f"no usable drawing of the classes {sorted(wanted or [])[:5]} in "
                        f"{list(map(str, sources))}")
    params = {"sources": [os.fspath(s) for s in sources], "num_inputs": int(num_inputs),
              "train_fraction": float(train_fraction), "seed": int(seed),
              "max_seq_len": int(max_seq_len)}
    out = pathlib.Path(out)
    info_path = out / SPLIT_INFO
    if info_path.is_file():
        try:
            old = json.loads(info_path.read_text())
        except (OSError, ValueError):
            old = None
        if not isinstance(old, dict) or old.get("params") != params:
            raise DataError(f"{info_path}: {out} holds a different split; choose another --out")
    quota = spread(sorted(drawings), num_inputs)
    info = {"params": params, "classes": {}}
    for name in sorted(drawings):
        d = drawings[name]
        n_in = min(quota[name], len(d.lines))
        rest = np.arange(n_in, len(d.lines))
        rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
        rest = rest[rng.permutation(len(rest))]
        n_train = int(round(train_fraction * len(rest)))
        parts = {"inputs": np.arange(n_in), "train": np.sort(rest[:n_train]),
                 "test": np.sort(rest[n_train:])}
        for part, idx in parts.items():
            target = out / part / f"{name}.ndjson"
            if len(idx):
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(target, b"\n".join(d.lines[i] for i in idx) + b"\n")
            elif target.exists():
                target.unlink()
        info["classes"][name] = {
            **{part: [d.key_ids[i] for i in idx] for part, idx in parts.items()},
            "skipped": d.skipped, "duplicates": d.duplicates, "too_long": d.too_long}
    missing = sorted((wanted or set()) - set(drawings))
    info["classes_without_drawings"] = missing
    info["counts"] = {part: sum(len(c[part]) for c in info["classes"].values()) for part in PARTS}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(info_path, json.dumps(info, indent=1) + "\n")
    return info
