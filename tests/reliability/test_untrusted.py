"""Untrusted input: hostile pickles (with a canary), memory bombs, odd images and extreme stroke values."""

import builtins
import collections
import copyreg
import dataclasses
import fractions
import io
import os
import pickle
import resource
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest
from numpy.lib import format as npformat
from PIL import Image

from common.images import io as images
from common.strokes import render
from common.strokes import safe_npz
from common.strokes import dataset as stroke_data
from common.errors import DataError, SketchStyleError, UnsafeFileError
from common.strokes.safe_npz import load_npz

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKETCH = np.array([[1, 2, 0], [3, 4, 1]], dtype=np.int16)


def npy(payload, shape=(1,), descr="|O"):
    buf = io.BytesIO()
    npformat.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + payload


def write_npz(path, payload, shape=(1,)):
    """An npz whose three splits all hold the same object-array pickle."""
    with zipfile.ZipFile(path, "w") as zf:
        for split in ("train", "valid", "test"):
            zf.writestr(f"{split}.npy", npy(payload, shape))
    return path


def object_array(*items):
    arr = np.empty(len(items), dtype=object)
    for i, x in enumerate(items):
        arr[i] = x
    return arr


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- pickle canaries


class RunsSystem:
    def __init__(self, canary):
        self.canary = canary

    def __reduce__(self):
        return (os.system, (f"touch {self.canary}",))


class RunsExec:
    def __init__(self, canary):
        self.canary = canary

    def __reduce__(self):
        return (builtins.exec, (f"open({self.canary!r}, 'w').close()",))


class RunsPopen:
    def __init__(self, canary):
        self.canary = canary

    def __reduce__(self):
        return (subprocess.Popen, (["touch", self.canary],))


class Harmless:
    """A plain class from this module: not numpy, so refused."""

    def __init__(self, canary):
        self.canary = canary


def _hostile_payloads(canary, module_name):
    """name -> (pickle bytes, what it would do if loaded without restrictions)."""
    c = str(canary)
    out = {}
    for cls in (RunsSystem, RunsExec, RunsPopen):
        for proto in (2, 3, 4, 5):
            out[f"{cls.__name__}-p{proto}"] = pickle.dumps(object_array(cls(c)), protocol=proto)
    # Nested: an object array inside the object array, holding the payload.
    out["nested"] = pickle.dumps(object_array(object_array(RunsSystem(c))), protocol=3)
    # Hand-written GLOBAL of a module that does not exist yet: importing it runs its code.
    out["import"] = (b"\x80\x02c" + module_name.encode() + b"\nanything\n)R.")
    # The same through protocol 4's STACK_GLOBAL.
    out["import-stack-global"] = (b"\x80\x04\x8c" + bytes([len(module_name)]) + module_name.encode()
                                  + b"\x8c\x08anything\x93)R.")
    out["builtins.eval"] = (b"\x80\x02cbuiltins\neval\nX" + len(f"open({c!r}, 'w')").to_bytes(
        4, "little") + f"open({c!r}, 'w')".encode() + b"\x85R.")
    out["posix.system (py2 name)"] = (b"\x80\x02cposix\nsystem\nU" + bytes([len(f"touch {c}")])
                                      + f"touch {c}".encode() + b"\x85R.")
    out["Fraction"] = pickle.dumps(object_array(fractions.Fraction(1, 3)), protocol=3)
    out["OrderedDict"] = pickle.dumps(object_array(collections.OrderedDict()), protocol=3)
    out["this module's class"] = pickle.dumps(object_array(Harmless(c)), protocol=3)
    out["numpy.load"] = b"\x80\x02cnumpy\nload\nX\x01\x00\x00\x00x\x85R."
    out["persistent id"] = b"\x80\x02X\x01\x00\x00\x00xQ."
    return out


@pytest.fixture
def canary_module(tmp_path, monkeypatch):
    """A module on sys.path whose import would create the canary file."""
    name = "sketchstyle_canary_mod"
    canary = tmp_path / "canary"
    (tmp_path / f"{name}.py").write_text(f"open({str(canary)!r}, 'w').close()\nanything = print\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)
    return name, canary


def test_hostile_pickles_are_refused_and_nothing_runs(tmp_path, canary_module, record):
    name, canary = canary_module
    refused = {}
    for label, payload in _hostile_payloads(canary, name).items():
        path = write_npz(tmp_path / "hostile.npz", payload)
        with pytest.raises(DataError) as info:  # UnsafeFileError is a DataError.
            load_npz(path)
        assert "hostile.npz" in str(info.value), label
        refused[label] = type(info.value).__name__
        assert not canary.exists(), f"{label} ran code"
    assert name not in sys.modules  # The module was never imported.
    # Every payload that names a global is refused as unsafe, before anything is called.
    assert all(v == "UnsafeFileError" for v in refused.values()), refused
    record("untrusted_pickles", cases=len(refused), refused=refused, canary_created=False)


def test_canary_payloads_are_live(tmp_path, canary_module):
    """Control: without the restricted loader the same payloads do run."""
    name, canary = canary_module
    payloads = _hostile_payloads(canary, name)
    pickle.loads(payloads["import"])
    assert canary.exists() and name in sys.modules
    canary.unlink()
    pickle.loads(payloads["RunsExec-p3"])
    assert canary.exists()


def test_copyreg_extension_codes_are_refused(tmp_path):
    """EXT opcodes name globals through copyreg; they reach find_class too."""
    canary = tmp_path / "canary"
    copyreg.add_extension("os", "system", 0x7F00)
    try:
        cmd = f"touch {canary}".encode()
        payload = b"\x80\x02\x83\x00\x7fU" + bytes([len(cmd)]) + cmd + b"\x85R."
        with pytest.raises(UnsafeFileError, match="os.system"):
            load_npz(write_npz(tmp_path / "ext.npz", payload))
    finally:
        copyreg.remove_extension("os", "system", 0x7F00)
    assert not canary.exists()


# ----------------------------------------------------------------------------- memory bombs

_RECON = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"


def _int_pickle(n):
    return pickle.dumps(n, protocol=2)[2:-1]


@pytest.mark.parametrize("label, payload", [
    # _reconstruct(ndarray, (1e10,), "O") with no state: numpy would allocate 80 GB.
    ("reconstruct-huge", b"\x80\x02" + _RECON + _int_pickle(10**10) + b"\x85U\x01O\x87R."),
    # numpy.ndarray((1e10,), "O") called directly.
    ("ndarray-call", b"\x80\x02cnumpy\nndarray\n" + _int_pickle(10**10) + b"\x85U\x01O\x86R."),
    # A state whose shape is far larger than its item list: numpy reads past the list.
    ("state-shape-vs-list", b"\x80\x02" + _RECON + b"K\x00\x85U\x01b\x87R(K\x01"
     + _int_pickle(10**9) + b"\x85cnumpy\ndtype\nU\x02O8K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff"
     b"\xff\xffJ\xff\xff\xff\xffK?tb\x89]tb."),
])
def test_pickle_memory_bombs_are_refused_cheaply(tmp_path, label, payload):
    before = peak_rss_mb()
    with pytest.raises(DataError):
        load_npz(write_npz(tmp_path / f"{label}.npz", payload, shape=(1,)))
    assert peak_rss_mb() - before < 200, label


def test_numpy_setstate_crash_is_unreachable(tmp_path):
    """Run in a child: before the fix this npz killed the process with SIGSEGV."""
    bomb = (b"\x80\x02" + _RECON + b"K\x00\x85U\x01b\x87R(K\x01K\x64\x85cnumpy\ndtype\nU\x02O8"
            b"K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb\x89]tb.")
    path = write_npz(tmp_path / "segv.npz", bomb, shape=(100,))
    code = ("from common.strokes.safe_npz import load_npz\nfrom common.errors import DataError\n"
            f"try:\n    load_npz({str(path)!r})\nexcept DataError as e:\n    print('refused', e)\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, PYTHONPATH=REPO))
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])
    assert "refused" in res.stdout and "needs 100 items" in res.stdout


def test_zip_bomb_member_is_refused(tmp_path, monkeypatch):
    # A member that inflates far beyond its compressed size is refused from its declared size.
    monkeypatch.setattr(safe_npz, "MAX_MEMBER_BYTES", 1 << 20)
    path = tmp_path / "zipbomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train.npy", npy(bytes(4 << 20), shape=(699050, 3), descr="<i2"))
    assert path.stat().st_size < 20_000
    with pytest.raises(UnsafeFileError, match="declares .* bytes"):
        load_npz(path, splits=("train",))
    # A member that lies (declares less than it inflates to) stops at the declared size.
    raw = bytearray(path.read_bytes())
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):
        at = raw.index(sig)
        off = at + (22 if sig == b"PK\x03\x04" else 24)
        raw[off:off + 4] = struct.pack("<I", 1000)
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="zipbomb.npz"):
        load_npz(path, splits=("train",))


# ----------------------------------------------------------------------------- images


def _png(img, **kw):
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _declared_png(width, height):
    """A 1x1 PNG whose IHDR claims width x height."""
    data = bytearray(_png(Image.new("L", (1, 1))))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


def _jpeg():
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((48, 48, 3)) * 255).astype(np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


grey = np.full((8, 8), 51, dtype=np.uint8)
rgba = np.zeros((8, 8, 4), dtype=np.uint8)
rgba[..., 0] = 255
rgba[:, :4, 3] = 255  # Left half opaque red, right half fully transparent.
IMAGE_CASES = {
    # name: (file bytes, expected exception or None, check on the loaded (8, 8, 3) array)
    "zero-byte.png": (b"", DataError, None),
    "truncated.png": (_png(Image.fromarray(np.random.default_rng(1).integers(
        0, 255, (64, 64, 3), dtype=np.uint8)))[:300], DataError, None),
    "truncated.jpg": (_jpeg()[:400], DataError, None),
    "bomb.png": (_declared_png(100_000, 100_000), UnsafeFileError, None),
    "text.png": (b"this is not an image\n" * 10, DataError, None),
    "html.jpg": (b"<html><body>hi</body></html>", DataError, None),
    "grey.png": (_png(Image.fromarray(grey, mode="L")), None,
                 lambda a: np.allclose(a, 51 / 255, atol=1e-3)),
    "rgba.png": (_png(Image.fromarray(rgba, mode="RGBA")), None,
                 lambda a: np.allclose(a[:, 0], [1, 0, 0], atol=1e-3)
                 and np.allclose(a[:, -1], 1.0, atol=1e-3)),
    "16bit.png": (_png(Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16))), None,
                  lambda a: np.allclose(a, 32768 / 65535, atol=1e-3)),
}


def test_images_error_or_documented_conversion(tmp_path, record):
    results = {}
    for name, (data, exc, ok) in IMAGE_CASES.items():
        path = tmp_path / name
        path.write_bytes(data)
        if exc is not None:
            with pytest.raises(exc) as info:
                images.load_image(path, size=8)
            assert str(path) in str(info.value), name  # The message names the file.
            results[name] = type(info.value).__name__
        else:
            arr = images.load_image(path, size=8)
            assert arr.shape == (8, 8, 3) and arr.dtype == np.float32, name
            assert ok(arr), (name, arr[0, :, :])
            results[name] = "converted to RGB"
    # A folder load skips and lists every bad file, and keeps the good ones.
    folder = images.load_image_folder(tmp_path, size=8)
    bad = sorted(n for n, (_, exc, _) in IMAGE_CASES.items() if exc is not None)
    assert sorted(os.path.basename(p) for p, _ in folder.skipped) == bad
    assert folder.images.shape == (3, 8, 8, 3)
    record("untrusted_images", cases=len(results), outcomes=results,
           folder_skipped=len(folder.skipped))


@pytest.mark.slow
def test_image_at_the_pixel_cap_loads_with_bounded_memory(tmp_path, record):
    """The biggest image the guard lets through (8000 x 8000) in a child: time and peak RSS."""
    path = tmp_path / "big.png"
    Image.new("L", (8000, 8000), 128).save(path)
    code = ("import resource, time\nfrom common.images import io as images\nt = time.time()\n"
            f"a = images.load_image({str(path)!r}, size=64)\n"
            "print(a.shape, round(time.time() - t, 2),"
            " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=600, env=dict(os.environ, PYTHONPATH=REPO))
    assert res.returncode == 0, res.stderr[-2000:]
    shape, seconds, rss = res.stdout.strip().rsplit(" ", 2)
    assert shape == "(64, 64, 3)"
    record("untrusted_image_at_cap", pixels=64_000_000, file_bytes=path.stat().st_size,
           seconds=float(seconds), peak_rss_mb=int(rss))
    assert int(rss) < 4096


# ----------------------------------------------------------------------------- extreme strokes


def _extreme_npz(path, max_len):
    rng = np.random.default_rng(0)

    def normal(n):
        s = np.zeros((n, 3), dtype=np.int32)
        s[:, :2] = rng.integers(-40, 40, size=(n, 2))
        s[-1, 2] = 1
        return s

    huge = normal(6)
    huge[1, :2] = (1_000_000, -1_000_000)
    identical = np.zeros((5, 3), dtype=np.int32)  # Every point at the origin.
    identical[-1, 2] = 1
    single = np.array([[7, -3, 1]], dtype=np.int32)
    too_long = normal(max_len + 1)
    split = object_array(normal(8), huge, identical, single, too_long, normal(12))
    np.savez(path, train=split, valid=split, test=split)
    return path


def test_extreme_stroke_values_are_clamped_kept_or_counted(tmp_path, record):
    path = _extreme_npz(tmp_path / "extreme.npz", max_len=16)
    sp = stroke_data.load_strokes([str(path)], max_seq_len=16)
    for k in ("train", "valid", "test"):
        assert sp.n_dropped[k] == 1  # The sketch longer than max_seq_len, counted.
        assert sp.n_clamped[k] == 1  # The +-1e6 offsets, clamped to +-1000 and counted.
    kept = sp.train
    assert len(kept) == 5
    assert max(float(np.abs(s[:, :2]).max()) for s in kept) == pytest.approx(
        1000 / sp.scale_factor, rel=1e-6)
    assert any(len(s) == 1 for s in kept)  # Single point kept.
    assert any(len(s) == 5 and not np.any(s[:, :2]) for s in kept)  # All-identical kept.
    assert all(np.all(np.isfinite(s)) for s in kept)
    # Rendering copes with each: a dot for the identical points, a fitted line for 1e6.
    for s in kept:
        img = render.rasterize(s, size=32)
        assert np.isfinite(img).all() and img.max() > 0
    # Sketch RNN gives a finite loss on a batch of them.
    import tensorflow as tf
    from sketch_rnn import configs, losses
    from sketch_rnn.model import SketchRNN
    config = dataclasses.replace(configs.SketchRNNConfig.testing(), max_seq_len=16)
    pipe = stroke_data.StrokePipeline(kept, sp.train_labels, batch_size=5, max_seq_len=16,
                                      seed=0, augment=False)
    batch = {k: tf.constant(v) for k, v in pipe.batch(0).items() if k != "labels"}
    model = SketchRNN(config)
    values = losses.compute_losses(model(batch, training=True), batch, tf.constant(0, tf.int64),
                                   config)
    assert np.isfinite(float(values["loss"]))
    record("untrusted_extreme_strokes", dropped=sp.n_dropped, clamped=sp.n_clamped,
           kept=len(kept), loss=float(values["loss"]))


def test_all_identical_training_data_is_refused_clearly(tmp_path):
    flat = np.zeros((4, 3), dtype=np.int16)
    flat[-1, 2] = 1
    split = object_array(flat, flat.copy())
    np.savez(tmp_path / "flat.npz", train=split, valid=split, test=split)
    with pytest.raises(DataError, match="std of the offsets is 0"):
        stroke_data.load_strokes([str(tmp_path / "flat.npz")])


def test_extreme_ndjson_coordinates(tmp_path):
    from common.strokes.quickdraw import load_ndjson
    lines = [
        '{"drawing": [[[0, 1000000], [0, -1000000]]], "key_id": "1"}',  # Raw: scaled to 255.
        '{"drawing": [[[5, 5, 5], [9, 9, 9]]], "key_id": "2"}',  # All points identical.
        '{"drawing": [[[5], [9]]], "key_id": "3"}',  # Single point.
        '{"drawing": [[[0, 1%s], [0, 1]]], "key_id": "4"}' % ("0" * 400),  # Beyond float64.
        '{"drawing": [[[0, 1e308, -1e308], [0, 1, 2]]], "key_id": "5"}',  # Span overflows.
    ]
    path = tmp_path / "x.ndjson"
    path.write_text("\n".join(lines) + "\n")
    qd = load_ndjson(path)
    assert qd.key_ids == ["1", "2", "3"] and qd.skipped_lines == [4, 5]
    assert np.abs(np.cumsum(qd.sketches[0][:, :2], axis=0)).max() == 255
    assert "out of range" in qd.errors[0] and "float64" in qd.errors[1]
    raw = load_ndjson(path, simplify=False)  # Unscaled 1e6 does not fit int16: skipped.
    assert raw.skipped_lines == [1, 4, 5] and "int16" in raw.errors[0]
    assert "int64" in raw.errors[2]  # Before the fix: silently zero offsets.
    with pytest.raises(DataError, match=r"x.ndjson:4"):
        load_ndjson(path, on_error="raise", simplify=True)
    assert issubclass(DataError, SketchStyleError)


# ----------------------------------------------------------------------------- sizes from files


def _cli(*args):
    """Runs `python -m args...` from the repo root; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, PYTHONPATH=REPO))


def _one_line_error(res, *expected):
    """The command failed with one "error: ..." line holding `expected`, and no traceback."""
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and all(e in errors[0] for e in expected), res.stderr[-2000:]


def _tiny_gen_json(path, max_seq_len):
    from sketch_rnn import js_format
    rng = np.random.default_rng(0)
    shapes = {"output_w": (8, 15), "output_b": (15,), "W_xh": (5, 32), "W_hh": (8, 32),
              "bias": (32,)}  # 8 units, 2 mixture components.
    weights = {k: rng.uniform(-1, 1, s).astype(np.float32) for k, s in shapes.items()}
    js_format.write_gen_json(path, {"max_seq_len": max_seq_len, "name": "tiny",
                                    "scale_factor": 20.0}, weights)
    return path


def test_absurd_max_seq_len_in_a_gen_json_is_refused_at_import(tmp_path, shared_data):
    """Google's sheep with info.max_seq_len = 1e9 once imported and then sampling ran out of memory."""
    import json
    sheep = shared_data / "pretrained_sketch_rnn" / "sheep.gen.json"
    if not sheep.is_file():
        pytest.skip(f"shared data missing: {sheep}")
    doc = json.loads(sheep.read_text())
    doc[0]["max_seq_len"] = 10**9
    path = tmp_path / "sheep.gen.json"
    path.write_text(json.dumps(doc))
    res = _cli("scripts.import_sketch_rnn_js", f"--input={path}", f"--workdir={tmp_path / 'run'}")
    _one_line_error(res, f"{path}: info max_seq_len 1000000000 is out of range (at most 10,000)")
    assert not (tmp_path / "run").exists()


def test_sampling_sizes_from_an_export_or_flags_are_bounded(tmp_path, monkeypatch):
    """An export made before the bounds (max_seq_len 1e9 in its metadata) and absurd --n or
    --max_len: one-line errors before anything is allocated."""
    from common import limits
    from sketch_rnn import pretrained
    from sketch_rnn.client import SketchModel

    good, bad = tmp_path / "good", tmp_path / "bad"
    pretrained.import_gen_json(_tiny_gen_json(tmp_path / "good.gen.json", 32), good)
    with monkeypatch.context() as m:  # What an import did before the bounds.
        m.setattr(limits, "MAX_SEQ_LEN", 10**10)
        m.setitem(limits.FIELD_BOUNDS, "max_seq_len", 10**10)
        pretrained.import_gen_json(_tiny_gen_json(tmp_path / "bad.gen.json", 10**9), bad)
    with pytest.raises(DataError, match=r"export: metadata config max_seq_len 1000000000 is out "
                                        r"of range \(at most 10,000\)$"):
        SketchModel(bad)
    model = SketchModel(good)
    for kwargs, match in [(dict(n=10**5), r"^number of sketches 100000 is out of range"),
                          (dict(n=1, max_len=10**6), r"^max_len 1000000 is out of range"),
                          (dict(n=2000, max_len=10_000), r"^2000 sketches x max_len 10000 = "
                                                         r"20000000 is out of range")]:
        with pytest.raises(DataError, match=match):
            model.sample(temperature=0.5, seed=0, **kwargs)
    with pytest.raises(DataError, match=r"^number of sketches 100000 is out of range"):
        model.complete(SKETCH, 10**5, 0.5, 0)
    assert len(model.sample(3, 0.5, 0, max_len=5)) == 3  # Sane sizes still sample.
    out = tmp_path / "samples"
    _one_line_error(_cli("scripts.sample", f"--model={bad}", f"--out={out}"),
                    f"{bad / 'export'}: metadata config max_seq_len 1000000000 is out of range")
    _one_line_error(_cli("scripts.sample", f"--model={good}", f"--out={out}", "--n=100000"),
                    "number of sketches 100000 is out of range (at most 10,000)")
    assert not list(tmp_path.glob("samples*"))
