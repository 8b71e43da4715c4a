"""Reads sketch-rnn .npz files without ever running arbitrary pickle code, and writes them."""

import ast
import io
import math
import os
import pickle
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npformat

from common import limits
from common.errors import DataError, UnsafeFileError
from common.files import atomic_write
from common.strokes.formats import validate_stroke3

SPLITS = ("train", "valid", "test")
_MAX_HEADER = 10_000
# Zip-bomb guard: a .npy member may declare at most this many uncompressed bytes.
MAX_MEMBER_BYTES = 1 << 30

try:
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy < 2.
    from numpy.core import multiarray as _multiarray


class _NdarrayName:
    """What a pickle gets for `numpy.ndarray`: usable only as _reconstruct's first argument.

    Calling numpy.ndarray(shape, dtype) from a pickle would allocate any size (a memory bomb).
    """

    __slots__ = ()

    def __call__(self, *args, **kwargs):
        raise ValueError("pickle calls numpy.ndarray directly; refused")


_NDARRAY = _NdarrayName()


class _PickledArray:
    """Stands in for numpy's _reconstruct result; the array is built from a CHECKED state.

    numpy's own ndarray.__setstate__ trusts the pickle: an object array whose shape is larger
    than its item list reads past the list and crashes the process (segmentation fault), and
    _reconstruct(ndarray, shape, "O") allocates whatever shape it is given.
    """

    __slots__ = ("array",)

    def __init__(self):
        self.array = None

    def __setstate__(self, state):
        self.array = _array_from_state(state)


def _reconstruct(subtype, shape, dtype):
    """Safe stand-in for numpy's _reconstruct: only plain ndarrays, built later by BUILD."""
    del shape, dtype  # numpy always pickles (0,), "b" here; the real values come in the state.
    if subtype is not _NDARRAY:
        raise ValueError(f"_reconstruct of {type(subtype).__name__}; only numpy.ndarray is allowed")
    return _PickledArray()


def _unwrap(x):
    """A built _PickledArray becomes its ndarray; other objects pass through."""
    if isinstance(x, _PickledArray):
        if x.array is None:
            raise ValueError("pickle uses an array before its state was set")
        return x.array
    return x


def _array_from_state(state):
    """Builds an ndarray from an ndarray.__setstate__ tuple after checking every field."""
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise ValueError("bad ndarray state")
    shape, dtype, fortran, data = state[-4:]
    if (not isinstance(shape, tuple) or len(shape) > 32
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise ValueError(f"bad array shape {shape!r}")
    if not isinstance(dtype, np.dtype) or not isinstance(fortran, bool):
        raise ValueError("bad array dtype or order")
    n = math.prod(shape)
    if dtype.hasobject:
        if dtype.fields is not None or dtype.subdtype is not None or dtype.kind != "O":
            raise ValueError(f"structured dtype {dtype} with objects")
        if not isinstance(data, list) or len(data) != n:
            raise ValueError(f"object array of shape {shape} needs {n} items, "
                             f"got {len(data) if isinstance(data, list) else type(data).__name__}")
        arr = np.empty(n, dtype=object)
        for i, x in enumerate(data):
            arr[i] = _unwrap(x)
        return arr.reshape(shape)  # numpy lists object items in C order.
    if dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"unsupported dtype {dtype}")
    clean = np.dtype(dtype.str)  # A fresh descriptor: the pickled one may be malformed.
    if clean.itemsize != dtype.itemsize or clean.itemsize == 0:
        raise ValueError(f"malformed dtype {dtype}")
    if isinstance(data, str):  # Python 2 str payloads arrive decoded as latin1.
        data = data.encode("latin1")
    if not isinstance(data, (bytes, bytearray)) or len(data) != n * clean.itemsize:
        raise ValueError(f"array data does not match shape {shape} and dtype {dtype}")
    arr = np.frombuffer(data, dtype=clean, count=n).copy()
    return arr.reshape(shape, order="F" if fortran else "C")


# The only globals a pickle may name: what numpy needs to rebuild arrays, dtypes and scalars.
# Both module spellings map to the same functions (no import of the deprecated numpy.core).
# Arrays are rebuilt by _PickledArray, never by numpy's unchecked __setstate__.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): np.dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays, dtypes and scalars.

    Any other global (os.system, builtins.exec, a class with __reduce__, ...) raises
    UnsafeFileError before anything is called. Persistent ids are refused too.

    Args:
        file: binary file object holding the pickle.
        source: file name used in error messages.

    Reference: Python docs, pickle, "Restricting Globals".
    """

    def __init__(self, file, source):
        super().__init__(file, encoding="latin1", fix_imports=True)
        self._source = source

    def find_class(self, module, name):
        fn = _ALLOWED.get((module, name))
        if fn is None:
            raise UnsafeFileError(
                f"{self._source}: pickle asks for forbidden global {module}.{name}; refused")
        return fn

    def persistent_load(self, pid):
        raise UnsafeFileError(f"{self._source}: pickle uses persistent id {pid!r}; refused")

    def load(self):
        return _unwrap(super().load())


def _read_header(fp, source):
    """Parses a .npy header; returns (dtype, shape, fortran_order)."""
    try:
        major, minor = npformat.read_magic(fp)
    except ValueError as e:
        raise DataError(f"{source}: not a .npy member ({e})") from None
    if (major, minor) == (1, 0):
        size_bytes, encoding = 2, "latin1"
    elif (major, minor) in ((2, 0), (3, 0)):
        size_bytes, encoding = 4, "latin1" if major == 2 else "utf8"
    else:
        raise DataError(f"{source}: unsupported .npy version {major}.{minor}")
    raw = fp.read(size_bytes)
    if len(raw) != size_bytes:
        raise DataError(f"{source}: truncated .npy header")
    hlen = int.from_bytes(raw, "little")
    if hlen > _MAX_HEADER:
        raise DataError(f"{source}: .npy header of {hlen} bytes is too large")
    text = fp.read(hlen)
    if len(text) != hlen:
        raise DataError(f"{source}: truncated .npy header")
    try:
        d = ast.literal_eval(text.decode(encoding))
    except (SyntaxError, ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{source}: bad .npy header ({e})") from None
    if (not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}
            or not isinstance(d["shape"], tuple)
            or not all(isinstance(x, int) and x >= 0 for x in d["shape"])
            or not isinstance(d["fortran_order"], bool)):
        raise DataError(f"{source}: bad .npy header {d!r}")
    try:
        dtype = npformat.descr_to_dtype(d["descr"])
    except (TypeError, ValueError) as e:
        raise DataError(f"{source}: bad dtype {d['descr']!r} ({e})") from None
    return dtype, d["shape"], d["fortran_order"]


def read_npy(fp, source):
    """Reads one .npy stream; object arrays go through RestrictedUnpickler.

    Args:
        fp: binary file object positioned at the .npy magic.
        source: name for error messages (e.g. "cat.npz:train").

    Returns:
        np.ndarray.
    """
    dtype, shape, fortran = _read_header(fp, source)
    count = math.prod(shape)  # Python ints: no int64 wrap-around on hostile shapes.
    if dtype.hasobject:
        try:
            arr = RestrictedUnpickler(fp, source).load()
        except UnsafeFileError:
            raise
        except Exception as e:  # Corrupt pickles raise many types.
            raise DataError(f"{source}: cannot read pickled array ({type(e).__name__}: {e})"
                            ) from None
        if not isinstance(arr, np.ndarray):
            raise DataError(f"{source}: pickle holds {type(arr).__name__}, not an ndarray")
        if arr.shape != tuple(shape):
            raise DataError(f"{source}: pickled array shape {arr.shape} != header {shape}")
        return arr
    nbytes = count * dtype.itemsize
    if nbytes > MAX_MEMBER_BYTES:  # Refused before reading: the header may claim anything.
        raise DataError(f"{source}: header shape {shape} asks for {nbytes} bytes, more than "
                        f"the cap of {MAX_MEMBER_BYTES}")
    data = fp.read(nbytes)
    if len(data) != nbytes:
        raise DataError(f"{source}: truncated data ({len(data)} of {nbytes} bytes)")
    order = "F" if fortran else "C"
    try:  # Subarray dtypes or absurd zero-size shapes do not fit the header's shape.
        return np.frombuffer(data, dtype=dtype, count=count).reshape(shape, order=order).copy()
    except ValueError as e:
        raise DataError(f"{source}: data does not fit shape {shape} ({e})") from None


def _to_sketches(arr, source):
    """Turns a split array into a list of validated (N, 3) sketches."""
    if arr.dtype.hasobject:
        if arr.ndim != 1:
            raise DataError(f"{source}: object array has shape {arr.shape}, expected 1-D")
        items = list(arr)
    elif arr.ndim == 3 and arr.shape[2] == 3:
        items = list(arr)  # Plain (K, N, 3) array of equal-length sketches.
    else:
        raise DataError(
            f"{source}: array of dtype {arr.dtype} and shape {arr.shape} is neither a 1-D "
            "object array of sketches nor a (K, N, 3) numeric array")
    out = []
    for i, s in enumerate(items):
        if not isinstance(s, np.ndarray):
            raise DataError(f"{source}[{i}]: element is {type(s).__name__}, not an ndarray")
        limits.check(len(s), limits.MAX_POINTS, f"{source}[{i}]: points")
        out.append(validate_stroke3(s, name=f"{source}[{i}]"))
    return out


def load_npz(path, splits=SPLITS):
    """Loads a sketch-rnn .npz file safely.

    Only the members named in `splits` are read. Object arrays (the usual format, possibly
    pickled by Python 2) are unpickled by RestrictedUnpickler; plain numeric (K, N, 3) arrays are
    read without pickle. Every sketch is checked with `validate_stroke3` (dtype kept, usually
    int16).

    Args:
        path: .npz file.
        splits: member names to load.

    Returns:
        dict split -> list of (N, 3) arrays.

    Raises:
        UnsafeFileError: a pickle names anything but numpy's array/dtype/scalar constructors.
        DataError: missing file or key, corrupt or truncated zip, bad shape, dtype or values;
            the message names the file (and key and index where it applies).
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npz (zip) file ({e})") from None
    result = {}
    with zf:
        members = set(zf.namelist())
        for split in splits:
            member = f"{split}.npy"
            source = f"{name}:{split}"
            if member not in members:
                raise DataError(f"{path}: missing key {split!r} (has {sorted(members)})")
            size = zf.getinfo(member).file_size
            if size > MAX_MEMBER_BYTES:
                raise UnsafeFileError(f"{path}: member {member} declares {size} bytes, more than "
                                      f"the cap of {MAX_MEMBER_BYTES}; refused")
            try:
                with zf.open(member) as f:
                    buf = io.BytesIO(f.read())
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as e:
                raise DataError(f"{path}: member {member} is corrupt ({e})") from None
            arr = read_npy(buf, source)
            if buf.read(1):
                raise DataError(f"{source}: trailing bytes after the array")
            result[split] = _to_sketches(arr, source)
    return result


def write_npz(path, splits):
    """Writes {split: list of (N_i, 3) int16 stroke-3 arrays} as a sketch-rnn .npz, atomically.

    Each split becomes an object array of the given arrays, as in sketch-rnn's own files;
    load_npz reads it back.
    """
    arrays = {}
    for name, sketches in splits.items():
        arr = np.empty(len(sketches), dtype=object)  # (K,) of (N_i, 3) int16
        arr[:] = list(sketches)
        arrays[name] = arr
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
