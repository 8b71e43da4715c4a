"""VGG16 weights files: sha256, Keras 3 .weights.h5 and legacy Keras 2 .h5 readers, layer checks."""

import dataclasses
import hashlib
import os
import re

import numpy as np

from common.errors import DataError
from wae_style import configs

# Output channels of VGG16's conv layers (configs.VGG16_CONV_LAYERS order); kernels are 3x3.
_VGG16_CHANNELS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
# The classifier head of VGG16(include_top=True); a file with it is a "with-top" file.
TOP_LAYERS = ("fc1", "fc2", "predictions")
# What keras.applications.VGG16(include_top=False, weights="imagenet") fetches (Keras 3.15).
IMAGENET_NOTOP = dict(
    fname="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    origin=("https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    cache_subdir="models", file_hash="6d6bbae143d832006294945121d1f1fc")


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
      layout: "keras3" (.weights.h5) or "legacy" (Keras 2 .h5, as in the Keras cache).
      weights: {conv layer name: [kernel (3, 3, Cin, Cout), bias (Cout,)]}, all 13 layers.
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


def imagenet_file():
    """The Keras cache's ImageNet VGG16 no-top file, fetched as Keras would (may download).

    Raises:
      Whatever keras.utils.get_file raises (no network, bad hash).
    """
    import keras

    return keras.utils.get_file(**IMAGENET_NOTOP)


def check_sha256(path, actual, expected, what="the config"):
    """DataError when `expected` (a recorded sha256, "" = unknown) differs from `actual`."""
    if expected and actual != expected:
        raise DataError(f"VGG16 weights file {path} has sha256 {actual}, but {what} records "
                        f"{expected}: it is not the file the model was trained with")
