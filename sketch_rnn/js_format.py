"""The `.gen.json` decoder files of sketch-rnn-js / magenta-js: reader, writer, numpy reference."""

import base64
import binascii
import collections.abc
import dataclasses
import hashlib
import json
import math
import numbers
import os

import numpy as np

from common import limits
from common.errors import DataError
from common.files import atomic_write_bytes

# The five tensors of a decoder-only LSTM model, in the order of the file's dims and blobs.
TENSOR_NAMES = ("output_w", "output_b", "W_xh", "W_hh", "bias")
# The exporter clips weights to +-MAX_WEIGHT and stores round(w * 32767 / MAX_WEIGHT) as int16.
MAX_WEIGHT = 10.0
INT16_MAX = 32767
# Modes that sketch-rnn-js reads as a full VAE (encoder, z and decoder).
VAE_MODES = (0, 1, "vae")
GEN_MODES = (2, "gen")
FORGET_BIAS = 1.0
INPUT_SIZE = 5


@dataclasses.dataclass(frozen=True, eq=False)
class GenJSON:
    """A decoder-only Sketch RNN model read from a `.gen.json` file.

    Attributes:
      path: The file it was read from.
      info: The file's info object, unchanged (mode, version, max_seq_len, name, scale_factor...).
      weights: Read-only float32 arrays keyed by TENSOR_NAMES: "output_w" (H, 6M+3),
        "output_b" (6M+3,), "W_xh" (5, 4H), "W_hh" (H, 4H) and "bias" (4H,).
      sha256: Hex SHA-256 of the file's bytes.
    """

    path: str
    info: dict
    weights: dict
    sha256: str

    @property
    def num_units(self):
        """H, the LSTM's number of units."""
        return self.weights["W_hh"].shape[0]

    @property
    def num_mixture(self):
        """M, the number of Gaussian mixture components in the head."""
        return (self.weights["output_b"].shape[0] - 3) // 6

    @property
    def max_seq_len(self):
        """The longest sketch (in stroke-5 rows) seen in training."""
        return int(self.info["max_seq_len"])

    @property
    def scale_factor(self):
        """The normaliser: model units times scale_factor are QuickDraw-app pixels."""
        return float(self.info["scale_factor"])

    @property
    def name(self):
        """The info's name, else the file name without `.gen.json`."""
        base = os.path.basename(self.path)
        return self.info.get("name", base.removesuffix(".gen.json"))


def _error(path, what):
    """A one-line DataError that starts with the file path."""
    return DataError(f"{path}: {what}".replace("\n", " "))


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_info(path, info):
    """Refuses an info object that is not a decoder-only model with usable metadata."""
    if not isinstance(info, dict):
        raise _error(path, f"entry 0 (info) is a {type(info).__name__}, expected an object")
    if "mode" not in info:
        raise _error(path, "info has no mode; expected 2 or \"gen\" (a decoder-only model)")
    mode = info["mode"]
    if not isinstance(mode, bool) and mode in VAE_MODES:
        raise _error(path, f"info mode {mode!r} is a VAE model with an encoder; only decoder-only "
                           "\"gen\" models (mode 2 or \"gen\") are supported")
    if isinstance(mode, bool) or mode not in GEN_MODES:
        raise _error(path, f"unknown info mode {mode!r}; only decoder-only \"gen\" models "
                           "(mode 2 or \"gen\") are supported")
    if "version" in info and not _is_int(info["version"]):
        raise _error(path, f"info version {info['version']!r} is not an integer")
    if "max_seq_len" not in info:
        raise _error(path, "info has no max_seq_len")
    if not _is_int(info["max_seq_len"]) or info["max_seq_len"] <= 0:
        raise _error(path, f"info max_seq_len {info['max_seq_len']!r} is not a positive integer")
    limits.check(info["max_seq_len"], limits.MAX_SEQ_LEN, f"{path}: info max_seq_len")
    if "scale_factor" not in info:
        raise _error(path, "info has no scale_factor")
    scale = info["scale_factor"]
    if (not isinstance(scale, numbers.Real) or isinstance(scale, bool) or not math.isfinite(scale)
            or scale <= 0):
        raise _error(path, f"info scale_factor {scale!r} is not a finite positive number")
    if "name" in info and not isinstance(info["name"], str):
        raise _error(path, f"info name {info['name']!r} is not a string")


def _check_dims(path, dims):
    """Checks the five shapes of an LSTM decoder; returns them as tuples."""
    if not isinstance(dims, list):
        raise _error(path, f"entry 1 (dims) is a {type(dims).__name__}, expected a list of shapes")
    if len(dims) != len(TENSOR_NAMES):
        raise _error(path, f"dims lists {len(dims)} tensors, expected the {len(TENSOR_NAMES)} of "
                           f"an LSTM decoder ({', '.join(TENSOR_NAMES)}); LayerNorm, HyperLSTM "
                           "and VAE models have other tensors and are not supported")
    for i, (name, shape) in enumerate(zip(TENSOR_NAMES, dims)):
        if not isinstance(shape, list) or not all(_is_int(d) and d > 0 for d in shape):
            raise _error(path, f"dims entry {i} ({name}) is {shape!r}, not a list of positive "
                               "integers")
    out_w = dims[0]
    if len(out_w) != 2 or out_w[1] < 9 or (out_w[1] - 3) % 6:
        raise _error(path, f"dims entry 0 (output_w) has shape {out_w}, expected [H, 6M+3] "
                           "(3 pen logits and 6 numbers per mixture component)")
    units, width = out_w
    limits.check(units, limits.MAX_UNITS, f"{path}: dims entry 0 (output_w) units")
    limits.check((width - 3) // 6, limits.MAX_MIXTURE,
                 f"{path}: dims entry 0 (output_w) mixture components")
    expected = ([units, width], [width], [INPUT_SIZE, 4 * units], [units, 4 * units], [4 * units])
    for i, (name, shape, want) in enumerate(zip(TENSOR_NAMES, dims, expected)):
        if list(shape) != want:
            raise _error(path, f"dims entry {i} ({name}) has shape {list(shape)}, expected {want} "
                               f"for an LSTM decoder with {units} units and {(width - 3) // 6} "
                               "mixture components")
    return [tuple(shape) for shape in dims]


def _dequantise(q):
    """int16 codes to float32 as magenta-js does: float32(10 * q / 32767) computed in float64."""
    return (q.astype(np.float64) * MAX_WEIGHT / INT16_MAX).astype(np.float32)


def _decode_blob(path, i, blob, shape):
    """Decodes one base64 blob of little-endian int16 into a float32 array of `shape`."""
    name = TENSOR_NAMES[i]
    if not isinstance(blob, str):
        raise _error(path, f"blob {i} ({name}) is a {type(blob).__name__}, expected a base64 "
                           "string")
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError) as err:
        raise _error(path, f"blob {i} ({name}) is not valid base64: {err}") from err
    want = 2 * math.prod(shape)
    if len(raw) != want:
        raise _error(path, f"blob {i} ({name}) holds {len(raw)} bytes, expected {want} "
                           f"(int16 x {list(shape)})")
    return _dequantise(np.frombuffer(raw, dtype="<i2").reshape(shape))


def _parse_json(path, data):
    """Parses the file's bytes, telling a truncated file from other broken JSON."""
    if not data.strip():
        raise _error(path, "empty file, expected a JSON array [info, dims, blobs]")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _error(path, f"not JSON: not UTF-8 text ({err.reason} at byte {err.start})") from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        if err.msg.startswith("Unterminated string") or err.pos >= len(text.rstrip()):
            raise _error(path, f"truncated JSON: the file ends ({len(data)} bytes) before the "
                               f"document does ({err.msg} char {err.pos}); an interrupted download?"
                         ) from err
        raise _error(path, f"not JSON: {err.msg} at line {err.lineno} column {err.colno}") from err
    except RecursionError as err:
        raise _error(path, "not JSON: nested too deeply") from err


def read_gen_json(path):
    """Reads a decoder-only `.gen.json` model (new mode-2 header or the older "gen" one).

    Args:
      path: The file (str or path-like).

    Returns:
      A GenJSON.

    Raises:
      DataError: The file cannot be read, is not such a model, or is corrupt. The one-line
        message starts with the path.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise _error(path, f"cannot read the file: {err.strerror or err}") from err
    doc = _parse_json(path, data)
    if not isinstance(doc, list) or len(doc) != 3:
        found = (f"an array of {len(doc)} elements" if isinstance(doc, list)
                 else f"a {type(doc).__name__}")
        raise _error(path, f"expected a JSON array [info, dims, blobs], found {found}")
    info, dims, blobs = doc
    _check_info(path, info)
    shapes = _check_dims(path, dims)
    if not isinstance(blobs, list) or len(blobs) != len(shapes):
        found = f"{len(blobs)} blobs" if isinstance(blobs, list) else f"a {type(blobs).__name__}"
        raise _error(path, f"entry 2 (blobs) is {found}, expected a list of {len(shapes)} base64 "
                           "strings")
    weights = {}
    for i, (name, blob, shape) in enumerate(zip(TENSOR_NAMES, blobs, shapes)):
        weights[name] = _decode_blob(path, i, blob, shape)
        weights[name].setflags(write=False)
    return GenJSON(path=path, info=info, weights=weights, sha256=hashlib.sha256(data).hexdigest())


def _to_int16(name, w):
    """Quantises float weights to the format's int16 codes; refuses values it cannot hold."""
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise DataError(f"{name}: contains NaN or infinite weights")
    largest = float(np.max(np.abs(w))) if w.size else 0.0
    if largest > MAX_WEIGHT:
        raise DataError(f"{name}: largest |weight| {largest:.6g} exceeds the format's limit of "
                        f"{MAX_WEIGHT:g}")
    return np.rint(w * INT16_MAX / MAX_WEIGHT).astype("<i2")


def quantise(w):
    """Returns `w` after the format's int16 round trip, as float32 (what a reader would load).

    Args:
      w: Array-like of finite weights with |w| <= 10.

    Raises:
      DataError: Some weight is not finite or exceeds 10 in absolute value.
    """
    return _dequantise(_to_int16("weights", w))


def write_gen_json(path, info, weights):
    """Writes a decoder-only model as `.gen.json`, in the layout of Google's files.

    Reading the result gives quantise(w) for every tensor; writing weights that were read from
    a Google file reproduces that file byte for byte.

    Args:
      path: The file to write (atomically; missing folders are made).
      info: The info object; needs max_seq_len and scale_factor, usually has name. "mode": 2 and
        "version": 6 are put first unless info sets them.
      weights: Arrays keyed by TENSOR_NAMES with the shapes listed in GenJSON, |w| <= 10.

    Raises:
      DataError: Bad info, missing or extra tensors, inconsistent shapes or a weight that the
        int16 format cannot hold; the message starts with the path and names the tensor.
      OSError: The file cannot be written (e.g. a read-only folder or a full disk).
    """
    path = os.fspath(path)
    if not isinstance(info, dict):
        raise _error(path, f"info is a {type(info).__name__}, expected a dict")
    info = {"mode": 2, "version": 6, **info}
    _check_info(path, info)
    info["max_seq_len"] = int(info["max_seq_len"])
    info["scale_factor"] = float(info["scale_factor"])
    if not isinstance(weights, collections.abc.Mapping):
        raise _error(path, f"weights is a {type(weights).__name__}, expected a dict of arrays")
    if set(weights) != set(TENSOR_NAMES):
        raise _error(path, f"weights have keys {sorted(weights)}, expected {list(TENSOR_NAMES)}")
    arrays = [np.asarray(weights[name]) for name in TENSOR_NAMES]
    shapes = _check_dims(path, [list(a.shape) for a in arrays])
    blobs = []
    for name, array in zip(TENSOR_NAMES, arrays):
        try:
            codes = _to_int16(name, array)
        except DataError as err:
            raise _error(path, str(err)) from err
        blobs.append(base64.b64encode(codes.tobytes()).decode("ascii"))
    try:
        text = json.dumps([info, [list(s) for s in shapes], blobs], separators=(",", ":"),
                          allow_nan=False)
    except (TypeError, ValueError) as err:
        raise _error(path, f"info cannot be written as JSON: {err}") from err
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # Equals 1 / (1 + exp(-x)) without overflow.


def numpy_decoder_step(gen, x5, h, c):
    """One step of the decoder in float64 numpy: an independent reference for other ports.

    magenta's LSTM: gates = [x; h] @ [W_xh; W_hh] + bias split as i, j, f, o; the forget bias
    1.0 is added at run time. The head is h' @ output_w + output_b: 3 pen logits, then M each of
    pi logits, mu_x, mu_y, log sigma_x, log sigma_y and pre-tanh rho.

    Args:
      gen: A GenJSON.
      x5: Stroke-5 input(s) in model units, shape (5,) or (B, 5).
      h: Hidden state, shape (H,) or (B, H); zeros at the start.
      c: Cell state, same shape as h.

    Returns:
      (h', c', head) as float64 arrays; head has shape (..., 6M+3).
    """
    w = {name: gen.weights[name].astype(np.float64) for name in TENSOR_NAMES}
    x5, h, c = (np.asarray(a, dtype=np.float64) for a in (x5, h, c))
    gates = x5 @ w["W_xh"] + h @ w["W_hh"] + w["bias"]  # (B, 4H) = [x; h] @ [W_xh; W_hh] + b
    i, j, f, o = np.split(gates, 4, axis=-1)  # (B, H) each
    c = c * _sigmoid(f + FORGET_BIAS) + _sigmoid(i) * np.tanh(j)
    h = np.tanh(c) * _sigmoid(o)
    head = h @ w["output_w"] + w["output_b"]  # (B, 6M+3)
    return h, c, head
