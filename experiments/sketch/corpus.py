"""A sketch corpus sampled from Sketch RNN exports (e.g. Google's decoders), as sketch-rnn .npz files."""

import dataclasses
import pathlib
import time

import numpy as np

from common.errors import DataError
from common.strokes.safe_npz import load_npz
from common.strokes.safe_npz import write_npz
from sketch_rnn.client import SketchModel


@dataclasses.dataclass
class ClassReport:
    """What sampling one class gave."""

    name: str
    model: str
    train: int
    valid: int
    drawn: int
    unfinished: int
    mean_points: float
    seconds: float


def find_models(models):
    """{class name: export or workdir} from workdirs or a folder of workdirs (one per class).

    A workdir's class is its data's single class name (an imported model's file name),
    else the folder name.
    """
    found = {}
    for value in models:
        path = pathlib.Path(value)
        if (path / "saved_model.pb").is_file() or (path / "export" / "saved_model.pb").is_file():
            candidates = [path]
        elif path.is_dir():
            candidates = sorted(p for p in path.iterdir()
                                if (p / "export" / "saved_model.pb").is_file())
        else:
            candidates = []
        if not candidates:
            raise DataError(f"{value}: not an export, a workdir, or a folder of workdirs")
        for p in candidates:
            found[p.name if p.name != "export" else p.parent.name] = p
    return found


def sample_class(model, count, temperature, seed, batch_size, max_len=None):
    """`count` finished drawings from `model` as rounded int16 stroke-3 (the QuickDraw kind).

    Samples that run to max_len without the end-of-sketch state are left out (real drawings
    always end) and counted. Batch b uses seed (seed * 100003 + b) mod 2^31 - 1, so the result depends only on the
    seed and the counts.

    Returns:
        (list of (N_i, 3) int16 arrays, number drawn, number left out as unfinished).
    """
    max_len = model.max_seq_len if max_len is None else int(max_len)
    out, drawn, unfinished, batch = [], 0, 0, 0
    while len(out) < count:
        if batch > 4 * (count // max(batch_size, 1) + 1) + 10:
            raise DataError(f"{model.path}: fewer than 1 in 4 samples finish within {max_len} "
                            "points; is it a working decoder?")
        batch_seed = (seed * 100_003 + batch) % (2 ** 31 - 1)
        for s in model.sample(batch_size, temperature, batch_seed, max_len):
            drawn += 1
            if len(s) >= max_len or len(s) == 0:
                unfinished += 1
                continue
            s3 = np.round(s).astype(np.int16)
            s3[:, 2] = (s[:, 2] > 0.5)
            out.append(s3)
            if len(out) == count:
                break
        batch += 1
    return out, drawn, unfinished


def make_corpus(models, out, train=20_000, valid=500, temperature=1.0, seed=0,
                batch_size=1000, classes=None):
    """Samples train/valid drawings from each class's model into out/<class>.npz.

    The test split of each file is empty: test with real drawings. Existing files with the
    requested counts are kept, so an interrupted run continues where it stopped.

    Args:
        models: workdirs / exports, or folders of them (one model per class).
        out: output folder.
        train, valid: drawings per class.
        temperature: sampling temperature (1.0: the model's learned distribution).
        seed: base seed (class k uses seed + k).
        batch_size: drawings per call of the export.
        classes: optional subset of class names.

    Returns:
        list of ClassReport.
    """
    if train < 1 or valid < 0 or batch_size < 1:
        raise DataError(f"train={train}, valid={valid}, batch_size={batch_size}: need "
                        "train >= 1, valid >= 0 and batch_size >= 1")
    if not temperature > 0:
        raise DataError(f"temperature={temperature} must be > 0")
    found = find_models(models)
    if classes:
        missing = sorted(set(classes) - set(found))
        if missing:
            raise DataError(f"no model for classes {missing}; have {sorted(found)}")
        found = {k: v for k, v in found.items() if k in set(classes)}
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reports = []
    for k, (name, path) in enumerate(sorted(found.items())):
        target = out / f"{name}.npz"
        if target.is_file():

            have = load_npz(target)
            if (len(have["train"]), len(have["valid"])) == (train, valid):
                print(f"{name}: {target} already has {train} / {valid}; kept.", flush=True)
                continue
        t0 = time.perf_counter()
        model = SketchModel(path)
        sketches, drawn, unfinished = sample_class(model, train + valid, temperature, seed + k,
                                                   batch_size)
        write_npz(target, {"train": sketches[:train], "valid": sketches[train:],
                           "test": []})
        report = ClassReport(name, str(path), train, valid, drawn, unfinished,
                             float(np.mean([len(s) for s in sketches])),
                             time.perf_counter() - t0)
        reports.append(report)
        print(f"{name}: {train} train / {valid} valid in {report.seconds:.0f} s "
              f"({drawn} drawn, {unfinished} unfinished left out, mean "
              f"{report.mean_points:.0f} points) -> {target}", flush=True)
    return reports
