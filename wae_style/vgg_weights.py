"""VGG16 weights: the packaged ImageNet asset, Keras 3 .weights.h5 and legacy .h5 readers, checks."""

import dataclasses
import hashlib
import importlib.resources
import io
import os
import re
import zipfile

import numpy as np

from common import files
from common.errors import DataError
from wae_style import configs

# Output channels of VGG16's conv layers (configs.VGG16_CONV_LAYERS order); kernels are 3x3.
_VGG16_CHANNELS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
# The classifier head of VGG16(include_top=True); a file with it is a "with-top" file.
TOP_LAYERS = ("fc1", "fc2", "predictions")
# vgg_weights="imagenet": the ImageNet VGG16 up to block3_conv1, shipped in wae_style/assets.
ASSET_NAME = "vgg16_block3_conv1.npz"
ASSET_LAYERS = configs.VGG16_CONV_LAYERS[:5]
ASSET_SHA256 = "65330499c592de4d84adb5f2ea2b50ef306f66f7f914b3884732e6b37fc1fe03"
# The file the asset is cut from (the shared data's weights/vgg16_imagenet_notop.weights.h5).
SOURCE_NAME = "vgg16_imagenet_notop.weights.h5"
SOURCE_SHA256 = "a2f51117308129c3de9a523c91d35160eb75a6a9e5db1e2afb4f48e48dfb733a"


def vgg16_shapes():
    """{conv layer name: [kernel shape, bias shape]} of VGG16(include_top=False)."""
    shapes, cin = {}, 3
    for name, cout in zip(configs.VGG16_CONV_LAYERS, _VGG16_CHANNELS):
        shapes[name] = [(3, 3, cin, cout), (cout,)]
        cin = cout
    return shapes


def file_sha256(path, chunk=1 << 20):
    """Hex sha256 of a file's bytes (DataError naming the file if it cannot be read)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(chunk), b""):
                h.update(block)
    except OSError as e:
        raise DataError(f"VGG16 weights file {path} cannot be read ({_line(e)})") from None
    return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class WeightsFile:
    """A checked VGG16 weights file.

    Attributes:
      path: the file.
      sha256: hex sha256 of its bytes.
      layout: "keras3" (.weights.h5), "legacy" (Keras 2 .h5, as in the Keras cache) or
        "asset" (the packaged .npz).
      weights: {conv layer name: [kernel (3, 3, Cin, Cout), bias (Cout,)]}: all 13 layers,
        or ASSET_LAYERS for the asset.
      note: what was done beyond a plain load (a with-top file's head was ignored), or "".
    """

    path: str
    sha256: str
    layout: str
    weights: dict
    note: str = ""


def _line(err):
    """An exception's text on one line."""
    text = " ".join(str(err).split())
    return text or type(err).__name__


def _natural(key):
    """Sort key so that conv2d_2 comes before conv2d_10 (Keras 3 numbers layers by creation)."""
    m = re.fullmatch(r"(.*?)(?:_(\d+))?", key)
    return (m.group(1), int(m.group(2) or 0))


def _as_str(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


# Keras 3 names unnamed-in-file layers after their class; by position they are VGG16's layers.
_BY_POSITION = {"conv2d": configs.VGG16_CONV_LAYERS, "dense": TOP_LAYERS}


def _keras3_entries(h5, h5py):
    """[(layer name, [h5py datasets])] from a Keras 3 .weights.h5 tree, in network order."""
    entries = []

    def walk(group):
        for key in sorted(group.keys(), key=_natural):
            item = group[key]
            if not isinstance(item, h5py.Group):
                continue
            if "vars" in item and isinstance(item["vars"], h5py.Group):
                vars_ = item["vars"]
                arrays = [vars_[k] for k in sorted(vars_.keys(), key=lambda k: int(k))
                          if isinstance(vars_[k], h5py.Dataset)]
                if arrays:
                    name = _as_str(vars_.attrs["name"]) if "name" in vars_.attrs else key
                    base, index = _natural(key)
                    if "name" not in vars_.attrs and base in _BY_POSITION:
                        known = _BY_POSITION[base]
                        name = known[index] if index < len(known) else key
                    entries.append((name, arrays))
            walk(item)

    walk(h5)
    return entries


def _legacy_entries(root):
    """[(layer name, [h5py datasets])] from a Keras 2 .h5 (layer_names, weight_names attrs)."""
    entries, index = [], {}
    for group_name in (_as_str(n) for n in root.attrs["layer_names"]):
        group = root[group_name]
        for weight_name in (_as_str(n) for n in group.attrs.get("weight_names", [])):
            # "block1_conv1/kernel:0" (Keras 2), "block1_conv1_W_1:0" (the Keras 1 era cache
            # file), or "vgg16/block1_conv1/kernel:0"-like names under a nested model's group.
            parts = weight_name.split("/")
            layer = parts[-2] if len(parts) > 1 else group_name
            if layer not in index:
                index[layer] = len(entries)
                entries.append((layer, []))
            entries[index[layer]][1].append(group[weight_name])
    return entries


def _load(path):
    """(layout, conv weights, note) of an HDF5 weights file; DataError if unreadable or wrong."""
    import h5py  # Installed with Keras; imported here so the package loads without it.

    try:
        h5 = h5py.File(path, "r")
    except OSError as e:
        text = _line(e)
        what = ("is truncated" if "truncated" in text else
                "is not an HDF5 file" if "signature" in text else "is not a readable HDF5 file")
        raise DataError(f"VGG16 weights file {path} {what} ({text})") from None
    try:
        with h5:
            root = h5
            if "layer_names" not in h5.attrs and isinstance(h5.get("model_weights"), h5py.Group):
                root = h5["model_weights"]  # A whole legacy model file.
            if "layer_names" in root.attrs:
                layout, entries = "legacy", _legacy_entries(root)
            elif any(k in h5 for k in ("layers", "vars", "_layer_checkpoint_dependencies")):
                layout, entries = "keras3", _keras3_entries(h5, h5py)
            else:
                keys = ", ".join(sorted(h5.keys())[:5]) or "none"
                raise DataError(f"VGG16 weights file {path} is neither a Keras 3 .weights.h5 nor "
                                f"a legacy Keras .h5 weights file (top-level keys: {keys})")
            # Only the conv layers are read: a with-top file's fc1 alone is 411 MB.
            return (layout, *_check(path, entries))
    except (OSError, KeyError, ValueError, TypeError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"VGG16 weights file {path} is damaged or truncated ({_line(e)})") from None


def _check(path, entries):
    """(conv weights, note) from [(layer, [datasets])]; DataError names the first bad layer."""
    prefix = f"VGG16 weights file {path} does not fit VGG16(include_top=False)"
    if not entries:
        raise DataError(f"{prefix}: it holds no layer weights")
    names = [n for n, _ in entries]
    for n in names:
        if names.count(n) > 1:
            raise DataError(f"{prefix}: layer {n} appears {names.count(n)} times")
    expected = vgg16_shapes()
    top = [n for n in names if n in TOP_LAYERS]
    what = f" (a VGG16 classifier, include_top file: {', '.join(top)})" if top else ""
    unknown = [n for n in names if n not in expected and n not in TOP_LAYERS]
    if unknown:
        hint = ""
        if re.fullmatch(r"block[345]_conv4", unknown[0]):
            hint = "; VGG19 has it: is this a VGG19 file?"
        raise DataError(f"{prefix}: its layer {unknown[0]} is not a VGG16 conv layer{hint} "
                        f"(the file has {len(names)} weighted layers, VGG16 no-top has 13)")
    found = dict(entries)
    weights = {}
    for name, shapes in expected.items():
        if name not in found:
            raise DataError(f"{prefix}: layer {name} is missing (the file has "
                            f"{len(names)} weighted layers){what}")
        arrays = found[name]
        if len(arrays) != 2:
            raise DataError(f"{prefix}: layer {name} has {len(arrays)} weight arrays, "
                            f"VGG16 needs 2 (kernel, bias){what}")
        for part, array, shape in zip(("kernel", "bias"), arrays, shapes):
            if tuple(array.shape) != shape:
                raise DataError(f"{prefix}: layer {name} {part} has shape {tuple(array.shape)}, "
                                f"VGG16 needs {shape}{what}")
            if not np.issubdtype(array.dtype, np.floating):
                raise DataError(f"{prefix}: layer {name} {part} has dtype {array.dtype}, "
                                f"not floats{what}")
        values = [np.asarray(a[()], np.float32) for a in arrays]
        if not all(np.all(np.isfinite(v)) for v in values):
            raise DataError(f"{prefix}: layer {name} holds NaN or infinite values{what}")
        weights[name] = values
    note = ""
    if top:
        note = (f"VGG16 weights file {path} is a VGG16 classifier (include_top) file: using "
                f"its 13 conv layers, ignoring {', '.join(top)}")
    return weights, note


def read(path):
    """Reads and checks a VGG16 weights file (Keras 3 .weights.h5 or legacy Keras 2 .h5).

    The format is told from the contents, not the name. A with-top (classifier) VGG16
    file is accepted: its 13 conv layers are used and the note says so.

    Args:
      path: the file.

    Returns:
      A WeightsFile.

    Raises:
      DataError: one line naming the file: missing, unreadable, not HDF5, truncated, or
        not VGG16 (the first extra, missing or mis-shaped layer is named).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"VGG16 weights file {path} does not exist")
    if not os.path.isfile(path):
        raise DataError(f"VGG16 weights file {path} is not a file")
    sha = file_sha256(path)
    layout, weights, note = _load(path)
    return WeightsFile(path=path, sha256=sha, layout=layout, weights=weights, note=note)


def asset_path():
    """Where the packaged ImageNet VGG16 asset lives (inside the installed package)."""
    return str(importlib.resources.files("wae_style").joinpath("assets", ASSET_NAME))


def _npz_bytes(arrays):
    """A byte-reproducible .npz: uncompressed members in the given order, fixed timestamps."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def make_asset(source, out):
    """Cuts the ImageNet VGG16 asset (block1_conv1 to block3_conv1) out of the full file.

    Args:
      source: the full no-top file, vgg16_imagenet_notop.weights.h5; its sha256 must be
        SOURCE_SHA256.
      out: the .npz to write (atomically). Its bytes depend only on the weights.

    Returns:
      The written file's hex sha256 (ASSET_SHA256 for the pinned source).

    Raises:
      DataError: one line naming `source` when it is not the pinned file.
    """
    wf = read(source)
    if wf.sha256 != SOURCE_SHA256:
        raise DataError(f"VGG16 weights file {wf.path} has sha256 {wf.sha256}, but the asset is "
                        f"cut from {SOURCE_NAME} with sha256 {SOURCE_SHA256}")
    arrays = {"source_sha256": np.array(SOURCE_SHA256)}
    for name in ASSET_LAYERS:
        kernel, bias = wf.weights[name]
        arrays[f"{name}.kernel"], arrays[f"{name}.bias"] = kernel, bias
    data = _npz_bytes(arrays)
    files.atomic_write(out, lambda f: f.write(data))
    return hashlib.sha256(data).hexdigest()


def read_asset(path=None, sha256=ASSET_SHA256):
    """Reads the packaged ImageNet VGG16 weights (block1_conv1 to block3_conv1).

    Args:
      path: the asset; default asset_path().
      sha256: its pinned sha256; a file with another hash is refused.

    Returns:
      A WeightsFile with layout "asset" and the ASSET_LAYERS weights.

    Raises:
      DataError: one line naming the file when it is missing, unreadable or not the pinned asset.
    """
    path = os.fspath(path or asset_path())
    if not os.path.isfile(path):
        raise DataError(f"the packaged ImageNet VGG16 weights {path} are missing (a broken "
                        "install: reinstall sketchstyle, or pass the full file as "
                        f"vgg_weights=/path/to/{SOURCE_NAME})")
    actual = file_sha256(path)
    if actual != sha256:
        raise DataError(f"the packaged ImageNet VGG16 weights {path} have sha256 {actual}, not "
                        f"the pinned {sha256}: the file is damaged or was replaced; reinstall "
                        "sketchstyle")
    with np.load(path, allow_pickle=False) as npz:
        weights = {name: [npz[f"{name}.kernel"], npz[f"{name}.bias"]] for name in ASSET_LAYERS}
    return WeightsFile(path=path, sha256=actual, layout="asset", weights=weights)


def imagenet_layers_error(layers):
    """DataError text when `layers` reach past the asset's last layer, else ""."""
    deeper = [n for n in layers if n not in ASSET_LAYERS]
    if not deeper:
        return ""
    return (f'vgg_weights="imagenet" is the packaged ImageNet VGG16 up to {ASSET_LAYERS[-1]}, '
            f"but the model reads {', '.join(deeper)}: pass the full no-top file, "
            f"vgg_weights=/path/to/{SOURCE_NAME} (sha256 {SOURCE_SHA256[:12]}...) or Keras' "
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")


def imagenet_record_note(recorded):
    """A note when an "imagenet" config records another sha256 than the asset's, else "".

    Before the asset, "imagenet" meant Keras' download
    (vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5, checked by Keras against its md5),
    and config.json recorded that file's sha256. It holds the same ImageNet weights, so such
    a record is accepted and the asset is used.
    """
    if not recorded or recorded == ASSET_SHA256:
        return ""
    return (f'vgg_weights="imagenet" records sha256 {recorded}, the Keras download\'s from '
            f"before the packaged weights: using the packaged ImageNet weights (sha256 "
            f"{ASSET_SHA256})")


def check_sha256(path, actual, expected, what="the config"):
    """DataError when `expected` (a recorded sha256, "" = unknown) differs from `actual`.

    For path "imagenet" (the setting, not a file) a record from before the packaged asset
    passes (imagenet_record_note): the asset itself is pinned by ASSET_SHA256.
    """
    if path == "imagenet" and imagenet_record_note(expected):
        return
    if expected and actual != expected:
        raise DataError(f"VGG16 weights file {path} has sha256 {actual}, but {what} records "
                        f"{expected}: it is not the file the model was trained with")
