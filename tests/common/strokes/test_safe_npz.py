"""Tests for common.strokes.safe_npz: real sketch-rnn files, malicious pickles and corrupt files."""

import builtins
import io
import os
import pickle
import zipfile

import numpy as np
import pytest
from numpy.lib import format as npformat

from common.errors import DataError, UnsafeFileError
from common.strokes.safe_npz import RestrictedUnpickler, load_npz

HARDMARU = "hardmaru_sketch-rnn-datasets"


def npy_bytes(payload, shape=(1,), descr="|O"):
    """A .npy member: header + raw payload (a pickle for object arrays)."""
    buf = io.BytesIO()
    npformat.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                          "shape": shape})
    return buf.getvalue() + payload


def write_npz(path, members):
    """Writes name -> bytes members (".npy" is appended) into a zip."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name + ".npy", data)
    return path


def object_array(items):
    arr = np.empty(len(items), dtype=object)
    for i, x in enumerate(items):
        arr[i] = x
    return arr


def save_npz(path, **splits):
    """np.savez with object arrays (writing pickles is fine; only reading is restricted)."""
    np.savez(path, **splits)
    return path


def good(n=3):
    return np.array([[1, 2, 0]] * (n - 1) + [[3, 4, 1]], dtype=np.int16)


def splits_with(**override):
    d = {k: object_array([good(), good(5)]) for k in ("train", "valid", "test")}
    d.update(override)
    return d


class Evil:
    """Creates a canary file when unpickled."""

    def __init__(self, canary):
        self.canary = canary

    def __reduce__(self):
        return (builtins.open, (self.canary, "w"))


class EvilSystem:
    def __init__(self, canary):
        self.canary = canary

    def __reduce__(self):
        return (os.system, (f"touch {self.canary}",))


# Real files

def test_real_aaron_sheep(sketches_dir):
    data = load_npz(sketches_dir / HARDMARU / "aaron_sheep.npz")
    assert {k: len(v) for k, v in data.items()} == {"train": 7400, "valid": 300, "test": 300}
    s = data["train"][0]
    assert s.dtype == np.int16 and s.ndim == 2 and s.shape[1] == 3
    assert max(len(x) for v in data.values() for x in v) == 250
    assert all(set(np.unique(x[:, 2])) <= {0, 1} for x in data["valid"])


@pytest.mark.parametrize("name,counts", [("omniglot", (30000, 1000, 1000)),
                                         ("short_kanji", (10000, 600, 500))])
def test_real_other_files(sketches_dir, name, counts):
    data = load_npz(sketches_dir / HARDMARU / f"{name}.npz")
    assert tuple(len(data[k]) for k in ("train", "valid", "test")) == counts


def test_round_trip_of_numpy_saved_file(tmp_path):
    d = splits_with()
    data = load_npz(save_npz(tmp_path / "x.npz", **d))
    for k in d:
        for a, b in zip(data[k], d[k]):
            np.testing.assert_array_equal(a, b)
            assert a.dtype == np.int16


def test_python2_style_pickle_names(tmp_path):
    # The old numpy.core module name, as in the real (Python 2) files.
    payload = pickle.dumps(object_array([good()]), protocol=3)
    payload = payload.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"cnumpy.core.multiarray\n" in payload
    members = {k: npy_bytes(payload) for k in ("train", "valid", "test")}
    data = load_npz(write_npz(tmp_path / "py2.npz", members))
    np.testing.assert_array_equal(data["valid"][0], good())


def test_plain_numeric_npz(tmp_path):
    arr = np.stack([good(4), good(4)])  # (2, 4, 3), no pickle at all.
    data = load_npz(save_npz(tmp_path / "plain.npz", train=arr, valid=arr[:1], test=arr[:0]))
    assert len(data["train"]) == 2 and len(data["valid"]) == 1 and data["test"] == []
    np.testing.assert_array_equal(data["train"][1], good(4))


# Malicious pickles

@pytest.mark.parametrize("evil_cls,forbidden", [(Evil, "io.open"),
                                                (EvilSystem, "system")])
def test_code_running_pickle_refused(tmp_path, evil_cls, forbidden):
    canary = tmp_path / "canary"
    payload = pickle.dumps(object_array([evil_cls(str(canary))]), protocol=3)
    members = {k: npy_bytes(payload) for k in ("train", "valid", "test")}
    path = write_npz(tmp_path / "evil.npz", members)
    with pytest.raises(UnsafeFileError, match=forbidden) as info:
        load_npz(path)
    assert "evil.npz" in str(info.value)
    assert not canary.exists()


def test_evil_payload_is_live(tmp_path):
    # Proves the payload above really runs code when unpickled without restrictions.
    canary = tmp_path / "canary"
    pickle.loads(pickle.dumps(object_array([Evil(str(canary))]), protocol=3))[0].close()
    assert canary.exists()


def test_top_level_exec_pickle_refused(tmp_path):
    canary = tmp_path / "canary2"
    code = f"open({str(canary)!r}, 'w')"
    payload = (b"\x80\x02cbuiltins\nexec\nq\x00X" + len(code).to_bytes(4, "little")
               + code.encode() + b"\x85R.")
    path = write_npz(tmp_path / "exec.npz", {"train": npy_bytes(payload)})
    with pytest.raises(UnsafeFileError, match="builtins.exec"):
        load_npz(path, splits=("train",))
    assert not canary.exists()


def test_non_numpy_objects_refused(tmp_path):
    from fractions import Fraction
    payload = pickle.dumps(object_array([Fraction(1, 2)]), protocol=3)
    path = write_npz(tmp_path / "frac.npz", {"train": npy_bytes(payload)})
    with pytest.raises(UnsafeFileError, match="fractions.Fraction"):
        load_npz(path, splits=("train",))
    # A numpy function that is not an array constructor is refused too.
    with pytest.raises(UnsafeFileError, match="numpy.load"):
        RestrictedUnpickler(io.BytesIO(b"\x80\x02cnumpy\nload\n."), "x").load()


def test_pickle_of_plain_python_objects_is_data_error(tmp_path):
    payload = pickle.dumps([good()], protocol=3)  # A list, not an ndarray.
    path = write_npz(tmp_path / "list.npz", {"train": npy_bytes(payload)})
    with pytest.raises(DataError, match="list.npz:train.*list"):
        load_npz(path, splits=("train",))
    payload = pickle.dumps(object_array(["not a sketch"]), protocol=3)
    path = write_npz(tmp_path / "str.npz", {"train": npy_bytes(payload)})
    with pytest.raises(DataError, match=r"str.npz:train\[0\].*str"):
        load_npz(path, splits=("train",))


# Bad files

@pytest.mark.parametrize("bad,match", [
    (good().astype(np.float32)[:, :2], r"\[1\].*shape"),
    (np.zeros((0, 3), dtype=np.int16), r"\[1\].*empty"),
    (np.array([[1.0, np.nan, 1.0]]), r"\[1\].*NaN"),
    (np.array([[1.0, np.inf, 1.0]]), r"\[1\].*NaN or inf"),
    (np.array([[1, 2, 3]], dtype=np.int16), r"\[1\].*lift"),
    (np.array([["a", "b", "c"]]), r"\[1\].*dtype"),
    (np.array([[1, 2, 1]], dtype=np.complex64), r"\[1\].*dtype"),
    (object_array([good()]), r"\[1\].*dtype object"),
])
def test_bad_sketches_named(tmp_path, bad, match):
    path = save_npz(tmp_path / "bad.npz", **splits_with(valid=object_array([good(), bad])))
    with pytest.raises(DataError, match="bad.npz:valid" + match):
        load_npz(path)


def test_bad_split_arrays(tmp_path):
    path = save_npz(tmp_path / "flat.npz", **splits_with(test=np.zeros((4, 3))))
    with pytest.raises(DataError, match="flat.npz:test.*shape"):
        load_npz(path)
    path = save_npz(tmp_path / "obj2d.npz", **splits_with(train=np.empty((2, 2), dtype=object)))
    with pytest.raises(DataError, match="obj2d.npz:train.*1-D"):
        load_npz(path)


def test_missing_key_and_file(tmp_path):
    d = splits_with()
    del d["valid"]
    with pytest.raises(DataError, match="nokey.npz.*'valid'"):
        load_npz(save_npz(tmp_path / "nokey.npz", **d))
    with pytest.raises(DataError, match="nothere.npz"):
        load_npz(tmp_path / "nothere.npz")


def test_truncated_and_corrupt_files(tmp_path, sketches_dir):
    blob = (sketches_dir / HARDMARU / "aaron_sheep.npz").read_bytes()
    for cut in (10, len(blob) // 2, len(blob) - 100):
        path = tmp_path / f"trunc{cut}.npz"
        path.write_bytes(blob[:cut])
        with pytest.raises(DataError, match=f"trunc{cut}.npz"):
            load_npz(path)
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"not a zip at all" * 10)
    with pytest.raises(DataError, match="garbage.npz"):
        load_npz(path)
    # Flip bytes inside the compressed data of a small file.
    good_path = save_npz(tmp_path / "ok.npz", **splits_with())
    raw = bytearray(good_path.read_bytes())
    raw[60:80] = bytes(20)
    path = tmp_path / "flipped.npz"
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="flipped.npz"):
        load_npz(path)


def test_truncated_member_payloads(tmp_path):
    payload = pickle.dumps(object_array([good()]), protocol=3)
    path = write_npz(tmp_path / "shortpkl.npz", {"train": npy_bytes(payload[:-10])})
    with pytest.raises(DataError, match="shortpkl.npz:train"):
        load_npz(path, splits=("train",))
    raw = npy_bytes(np.zeros(5, np.int16).tobytes(), shape=(2, 2, 3), descr="<i2")
    path = write_npz(tmp_path / "shortraw.npz", {"train": raw})
    with pytest.raises(DataError, match="shortraw.npz:train.*truncated"):
        load_npz(path, splits=("train",))
    path = write_npz(tmp_path / "hdr.npz", {"train": b"\x93NUMPY\x01\x00\x05\x00{'a'}"})
    with pytest.raises(DataError, match="hdr.npz:train"):
        load_npz(path, splits=("train",))
    path = write_npz(tmp_path / "magic.npz", {"train": b"PK not npy"})
    with pytest.raises(DataError, match="magic.npz:train"):
        load_npz(path, splits=("train",))


def test_absurd_sizes_are_refused_before_reading(tmp_path):
    """Headers may claim anything: the claim is checked before a byte of data is read."""
    raw = npy_bytes(b"\0" * 12, shape=(10**12, 3), descr="<i2")
    path = write_npz(tmp_path / "huge.npz", {"train": raw})
    with pytest.raises(DataError) as err:
        load_npz(path, splits=("train",))
    assert str(err.value) == ("huge.npz:train: header shape (1000000000000, 3) asks for "
                              "6000000000000 bytes, more than the cap of 1073741824")
    path = write_npz(tmp_path / "hugeobj.npz", {"train": npy_bytes(
        pickle.dumps(object_array([good()]), protocol=3), shape=(10**12,))})
    with pytest.raises(DataError, match=r"hugeobj.npz:train: pickled array shape \(1,\) != "
                                        r"header \(1000000000000,\)"):
        load_npz(path, splits=("train",))
    long = np.zeros((1, 1_000_001, 3), np.int16)  # One sketch of a million and one points.
    np.savez_compressed(tmp_path / "long.npz", train=long)
    with pytest.raises(DataError, match=r"^long.npz:train\[0\]: points 1000001 is out of "
                                        r"range \(at most 1,000,000\)$"):
        load_npz(tmp_path / "long.npz", splits=("train",))


def test_write_npz_round_trip(tmp_path):
    from common.strokes.safe_npz import write_npz as write
    rng = np.random.default_rng(0)
    splits = {k: [rng.integers(-50, 50, (int(n), 3)).astype(np.int16) for n in rng.integers(2, 9, 4)]
              for k in ("train", "valid")}
    for sketches in splits.values():
        for s in sketches:
            s[:, 2] = rng.integers(0, 2, len(s))  # Pen states 0 / 1.
    path = tmp_path / "out" / "cls.npz"
    path.parent.mkdir()
    write(path, splits)
    data = load_npz(path, splits=("train", "valid"))
    for k, sketches in splits.items():
        assert len(data[k]) == len(sketches)
        for a, b in zip(data[k], sketches):
            np.testing.assert_array_equal(np.asarray(a), b)
    assert [p.name for p in path.parent.iterdir()] == ["cls.npz"]  # No temporary left behind.
