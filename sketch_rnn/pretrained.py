"""Google's sketch-rnn-js models in, ours out: `.gen.json` <-> a Sketch RNN workdir with its SavedModel."""

import dataclasses
import datetime
import json
import os
import pathlib
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from common import files
from common.errors import DataError, WorkdirError
from common.strokes import dataset as stroke_data
from common.training import checkpoints as checkpoints_lib
from common.training import layout
from common.training import strategies
from common.training import steps as train_steps
from sketch_rnn import export as export_lib
from sketch_rnn import js_format
from sketch_rnn import train as train_lib
from sketch_rnn.configs import SketchRNNConfig, read_workdir_config
from sketch_rnn.model import SketchRNN

SOURCE_KEY = layout.SOURCE  # config.json section describing an imported model's file.
JS_PIXEL_FACTOR = 2.0  # @magenta/sketch divides info.scale_factor by this for canvas pixels.
JS_NUM_MIXTURE = 20  # @magenta/sketch 0.2.0 hard-codes 20 mixture components.
FORMATS = ("a SavedModel (workdir/export/, written by every training run and import)",
           "a .gen.json for sketch-rnn-js / @magenta/sketch (unconditional models with an "
           f"LSTM decoder and {JS_NUM_MIXTURE} mixture components)")


def resolve_normaliser(spec, gen, max_seq_len=250):
    """The normaliser (data units per model unit) an imported model's export divides by.

    Args:
        spec: None or "magenta_js" (the default): info.scale_factor / 2, the canvas-pixel
            units @magenta/sketch's demos draw in, close to the 256-pixel QuickDraw box
            the studio and our QuickDraw recipe use (sheep: 31.5, against 24.2 for the
            std of real 256-pixel sheep drawings); "scale_factor": the file's own value
            (QuickDraw-app pixels); a positive number; or a stroke source (.npz[:split is
            ignored] / .ndjson / folder): the std of its train split's offsets, as training
            computes it (right for drawings in their own units, e.g. aaron_sheep: 18.52).
        gen: the GenJSON being imported.
        max_seq_len: sketches longer than this are left out of a source's std (magenta).

    Returns:
        (normaliser, a description of where it came from).
    """
    if spec in (None, "", "magenta_js"):
        return (gen.scale_factor / JS_PIXEL_FACTOR,
                f"info.scale_factor / {JS_PIXEL_FACTOR:g} of {files.display_path(gen.path)} (magenta-js canvas pixels)")
    if spec == "scale_factor":
        return gen.scale_factor, f"info.scale_factor of {files.display_path(gen.path)}"
    try:
        value = float(spec)
    except (TypeError, ValueError):
        value = None
    if value is not None:
        if not (np.isfinite(value) and value > 0):
            raise DataError(f"--normaliser={spec!r} must be a positive number, a stroke file, "
                            "'magenta_js' or 'scale_factor'")
        return value, "given"
    source = str(spec).split(":", 1)[0] if not os.path.exists(str(spec)) else str(spec)
    splits = stroke_data.load_strokes([source], max_seq_len=max_seq_len)
    return float(splits.scale_factor), f"std of the train split of {files.display_path(source)}"


def config_for(gen):
    """The SketchRNNConfig of a `.gen.json` model: unconditional, LSTM decoder of its size."""
    return dataclasses.replace(
        SketchRNNConfig.default(), conditional=False, dec_model="lstm",
        dec_rnn_size=gen.num_units, num_mixture=gen.num_mixture, max_seq_len=gen.max_seq_len,
        forget_bias=js_format.FORGET_BIAS, matmul_dtype="float32", num_steps=0)


def assign_weights(model, gen):
    """Copies a GenJSON's weights into an unconditional LSTM SketchRNN of the same size.

    magenta's LSTM and ours agree: gates [i, j, f, o] from [x; h] @ [W_xh; W_hh] + b with
    the forget bias (1.0) added at run time, so the kernel is the two matrices stacked.
    """
    w = gen.weights
    cell = model.dec_cell
    cell.kernel.assign(np.concatenate([w["W_xh"], w["W_hh"]], axis=0))  # (5 + H, 4H)
    cell.bias.assign(w["bias"])
    model.head.kernel.assign(w["output_w"])
    model.head.bias.assign(w["output_b"])


def _stage_dir(workdir):
    workdir.parent.mkdir(parents=True, exist_ok=True)
    return pathlib.Path(tempfile.mkdtemp(prefix=f".{workdir.name}.import-", dir=workdir.parent))


def _move_in(stage, workdir, overwrite):
    """Puts the staged workdir in place; an old non-empty workdir is moved aside first."""
    if workdir.exists() and any(workdir.iterdir()):
        if not overwrite:
            raise WorkdirError(f"workdir {workdir} is not empty; use another --workdir, or pass "
                               "--overwrite to move its contents aside")
        backup = workdir / f"replaced-{datetime.datetime.now():%Y%m%d-%H%M%S}"
        backup.mkdir()
        for entry in list(workdir.iterdir()):
            if entry != backup and not entry.name.startswith("replaced-"):
                os.replace(entry, backup / entry.name)
        for entry in stage.iterdir():
            os.replace(entry, workdir / entry.name)
        stage.rmdir()
        return
    if workdir.exists():
        workdir.rmdir()
    os.replace(stage, workdir)


def import_gen_json(path, workdir, normaliser=None, overwrite=False):
    """Imports a `.gen.json` decoder as a workdir like a training run leaves.

    Writes config.json (with a "source" section: the file, its sha256, its info and the
    normaliser), data.json, a checkpoint (step 0) and the SavedModel in export/. Everything
    is built in a staging folder beside the workdir and moved in at the end, so a bad file
    or a failure leaves the workdir as it was.

    Args:
        path: the `.gen.json` file.
        workdir: where the run goes (must be empty unless `overwrite`).
        normaliser: see resolve_normaliser.
        overwrite: move an existing workdir's contents into replaced-<time>/.

    Returns:
        (workdir, metadata dict of the export).

    Raises:
        DataError: a bad file or normaliser (the message names it).
        WorkdirError: the workdir holds something and overwrite is False.
    """
    gen = js_format.read_gen_json(path)
    workdir = pathlib.Path(workdir)
    if workdir.exists() and any(workdir.iterdir()) and not overwrite:
        raise WorkdirError(f"workdir {workdir} is not empty; use another --workdir, or pass "
                           "--overwrite to move its contents aside")
    scale, how = resolve_normaliser(normaliser, gen)
    config = config_for(gen)
    model, step, optimizer = train_lib.build(config, strategies.make_strategy("default"))
    assign_weights(model, gen)
    source = {"file": files.display_path(path), "sha256": gen.sha256,
              "info": gen.info, "normaliser": scale, "normaliser_from": how}
    info = {"scale_factor": scale, "class_names": [gen.name], "max_seq_len": gen.max_seq_len,
            "num_train": 0, "num_valid": 0, "num_test": 0, SOURCE_KEY: source}
    stage = _stage_dir(workdir)
    try:
        files.atomic_write_text(
            stage / layout.CONFIG,
            json.dumps({**config.to_dict(), SOURCE_KEY: source}, indent=2, sort_keys=True) + "\n")
        files.atomic_write_text(stage / layout.DATA, json.dumps(info, indent=2) + "\n")
        ckpt = checkpoints_lib.Checkpoints(stage, {"model": model, "optimizer": optimizer, "step": step,
                                            "rng": train_steps.seed_generator_states(model)})
        ckpt.save(0)
        export_lib.export(model, config, info, stage / "export")
        _move_in(stage, workdir, overwrite)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return workdir, json.loads((workdir / layout.EXPORT / export_lib.METADATA).read_text())


def import_and_report(path, workdir, normaliser=None, overwrite=False):
    """import_gen_json with a printed summary; a folder imports each .gen.json in it into
    workdir/<name> (the studio's --sketch_model takes that folder). Returns the workdirs."""
    path, workdir = pathlib.Path(path), pathlib.Path(workdir)
    if path.is_dir():
        files = sorted(path.glob("*.gen.json"))
        if not files:
            raise DataError(f"{path}: no .gen.json files in the folder")
        return [import_and_report(f, workdir / f.name.removesuffix(".gen.json"), normaliser,
                                  overwrite)[0] for f in files]
    workdir, meta = import_gen_json(path, workdir, normaliser, overwrite)
    source = meta["data"][SOURCE_KEY]
    cfg = meta["config"]
    print(f"Imported {path} ({source['info'].get('name', '?')}: LSTM {cfg['dec_rnn_size']}, "
          f"M = {cfg['num_mixture']}, max_seq_len {cfg['max_seq_len']}) into {workdir}.\n"
          f"Normaliser {source['normaliser']:.6g} ({source['normaliser_from']}): the export "
          f"speaks stroke-3 in those units. Signatures: {', '.join(meta['signatures'])}.",
          flush=True)
    return [workdir]


def _check_exportable(config, where):
    why = None
    if config.conditional:
        why = "a conditional model (it has an encoder and z)"
    elif config.dec_model != "lstm":
        why = f"a {config.dec_model!r} decoder"
    elif config.num_mixture != JS_NUM_MIXTURE:
        why = f"{config.num_mixture} mixture components"
    if why:
        raise DataError(f"{where} is {why}; the .gen.json format holds only unconditional LSTM "
                        f"decoders with {JS_NUM_MIXTURE} mixture components. Formats: "
                        + "; ".join(FORMATS))


def export_gen_json(workdir, out, name=None):
    """Writes a workdir's latest checkpoint as a `.gen.json` that @magenta/sketch loads.

    Args:
        workdir: a training (or import) workdir with config.json, data.json and checkpoints/.
        out: the `.gen.json` file to write (atomically).
        name: the model name in info (default: the data's first class name).

    The file's scale_factor is twice the run's normaliser, so that @magenta/sketch (which
    divides it by its pixel factor 2) draws in the run's data units, and importing the file
    with the default normaliser gives the run's normaliser back.

    Returns:
        The info written.

    Raises:
        DataError: the model is not an unconditional LSTM decoder with 20 mixture
            components, has a weight beyond +-10 (named with its largest value), or the
            workdir is incomplete.
    """
    workdir = pathlib.Path(workdir)
    config, _ = read_workdir_config(workdir)
    _check_exportable(config, workdir)
    data_info = layout.read_data_info(workdir)
    latest = checkpoints_lib.latest_checkpoint(workdir)
    if latest is None:
        raise DataError(f"{workdir}: no checkpoint in checkpoints/")
    model = SketchRNN(config)
    tf.train.Checkpoint(model=model).restore(latest).expect_partial()
    kernel = model.dec_cell.kernel.numpy()
    bias = model.dec_cell.bias.numpy().copy()
    units = config.dec_rnn_size
    bias[2 * units:3 * units] += config.forget_bias - js_format.FORGET_BIAS  # Fold into f.
    weights = {"output_w": model.head.kernel.numpy(), "output_b": model.head.bias.numpy(),
               "W_xh": kernel[:5], "W_hh": kernel[5:], "bias": bias}
    classes = data_info.get("class_names") or [workdir.name]
    info = {"mode": 2, "version": 6, "max_seq_len": int(config.max_seq_len),
            "name": name or "_".join(classes),
            # magenta-js draws in canvas pixels of scale_factor / 2 per model unit: make
            # those our data's units (the inverse of the "magenta_js" import normaliser).
            "scale_factor": JS_PIXEL_FACTOR * float(data_info["scale_factor"])}
    js_format.write_gen_json(out, info, weights)
    return info
