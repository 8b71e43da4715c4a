"""The pretrained report's inputs: model and drawing files, and the imports it keeps up to date."""

import pathlib
import time

from common import files
from common.errors import DataError
from common.strokes.quickdraw import load_ndjson
from common.training import layout
from sketch_rnn import js_format
from sketch_rnn import pretrained

RAW_FOLDERS = ("quickdraw_exupery_raw", "quickdraw_exupery_raw_more")  # Raw QuickDraw ndjson.
AARON_SHEEP = ("hardmaru_sketch-rnn-datasets", "aaron_sheep.npz")


def find_models(models_dir, names=None):
    """{name: path} of the `.gen.json` files in a folder (all, or only `names`).

    Raises:
        DataError: no such folder, no `.gen.json` in it, or a named model is missing.
    """
    folder = pathlib.Path(models_dir)
    if not folder.is_dir():
        raise DataError(f"--models={models_dir}: no such folder")
    files = {f.name.removesuffix(".gen.json"): f for f in sorted(folder.glob("*.gen.json"))}
    if not files:
        raise DataError(f"--models={models_dir}: no .gen.json files in the folder")
    if names:
        missing = [n for n in names if n not in files]
        if missing:
            wanted = ", ".join(m + ".gen.json" for m in missing)
            raise DataError(f"--models={models_dir}: no {wanted} (it has {', '.join(files)})")
        files = {n: files[n] for n in names}
    return files

def find_class_files(sketches_dir, classes):
    """{class: raw QuickDraw ndjson} from sketches_dir/quickdraw_exupery_raw*/.

    Raises:
        DataError: no such folder, no raw QuickDraw folder in it, or a class without a file.
    """
    root = pathlib.Path(sketches_dir)
    if not root.is_dir():
        raise DataError(f"--sketches={sketches_dir}: no such folder")
    folders = [root / f for f in RAW_FOLDERS if (root / f).is_dir()]
    if not folders:
        raise DataError(f"--sketches={sketches_dir}: no {' or '.join(f + '/' for f in RAW_FOLDERS)}"
                        " folder of raw QuickDraw ndjson in it")
    out, missing = {}, []
    for cls in classes:
        found = [f / f"{cls}.ndjson" for f in folders if (f / f"{cls}.ndjson").is_file()]
        if found:
            out[cls] = found[0]
        else:
            missing.append(cls)
    if missing:
        raise DataError(f"--sketches={sketches_dir}: no raw drawings for {', '.join(missing)} "
                        f"(looked for CLASS.ndjson in {', '.join(f.name for f in folders)})")
    return out

def aaron_sheep_file(sketches_dir):
    """sketches_dir/hardmaru_sketch-rnn-datasets/aaron_sheep.npz, or a DataError."""
    path = pathlib.Path(sketches_dir).joinpath(*AARON_SHEEP)
    if not path.is_file():
        raise DataError(f"--sketches={sketches_dir}: no {'/'.join(AARON_SHEEP)} (turn the "
                        "aaron_sheep part off with --noaaron_sheep)")
    return path

def check_out(out):
    """The output folder as a Path; refuses a path that is a file."""
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out={out}: exists and is not a folder")
    return out

def load_classes(class_files):
    """{class: QuickDrawFile} through the QuickDraw recipe (raw -> 256-pixel stroke-3).

    Raises:
        DataError: a file with no readable drawing.
    """
    out = {}
    for cls, path in class_files.items():
        got = load_ndjson(path)
        if not got.sketches:
            raise DataError(f"{path}: no readable drawings ({got.n_skipped} bad lines)")
        out[cls] = got
    return out

def imported_source(workdir):
    """The "source" section of an import workdir whose export exists, else None."""
    try:
        raw = layout.read_json(pathlib.Path(workdir) / layout.CONFIG, "config")
    except DataError:
        return None
    if not layout.has_export(workdir):
        return None
    source = raw.get(layout.SOURCE)
    return source if isinstance(source, dict) else None

def import_models(model_files, workdirs, normaliser=None, log=print):
    """Imports each `.gen.json` into workdirs/<name>, skipping ones already there.

    A workdir is kept when its config records the same file sha256 and the same normaliser
    and its export exists; otherwise it is (re)imported, an old one moved aside.

    Returns:
        {name: {"workdir", "skipped", "seconds", "normaliser", "normaliser_from"}}.
    """
    out = {}
    for name, path in model_files.items():
        workdir = pathlib.Path(workdirs) / name
        t0 = time.perf_counter()
        source = imported_source(workdir)
        want = None
        if source and source.get("sha256") == files.sha256(path):
            want = pretrained.resolve_normaliser(normaliser, js_format.read_gen_json(path))[0]
        if want is not None and source.get("normaliser") == want:
            skipped = True
        else:
            skipped = False
            pretrained.import_gen_json(path, workdir, normaliser, overwrite=True)
            source = imported_source(workdir)
        seconds = time.perf_counter() - t0
        out[name] = {"workdir": str(workdir), "skipped": skipped, "seconds": round(seconds, 2),
                     "normaliser": source["normaliser"],
                     "normaliser_from": source.get("normaliser_from", "")}
        log(f"{'kept' if skipped else 'imported'} {name} -> {workdir} "
            f"(normaliser {source['normaliser']:.4g}, {seconds:.1f} s)")
    return out
