"""The `.gen.json` reader and writer on Google's pretrained decoders and on broken files."""

import base64
import hashlib
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from common.errors import DataError
from sketch_rnn import js_format

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SHA256 = {
    "sheep": "02de4ccaa4abe221a8aab889e37746bc498d1433ea5808f0155960ac429941c0",
    "bicycle": "cc99844c4d2ba7f88695065d3a541e00ab454587577c77a0cccfc81e67e7ef52",
}
INFO = {
    "sheep": {"mode": 2, "version": 6, "max_seq_len": 156, "name": "sheep",
              "scale_factor": 63.0983},
    "bicycle": {"mode": 2, "version": 6, "max_seq_len": 139, "name": "bicycle",
                "scale_factor": 86.8476},
}


@pytest.fixture
def pretrained(shared_data):
    """Path of one of Google's decoders in the shared data, by class name."""
    def path_of(name):
        path = shared_data / "pretrained_sketch_rnn" / f"{name}.gen.json"
        if not path.is_file():
            pytest.skip(f"shared data missing: {path}")
        return path
    return path_of


def random_weights(rng, units=8, mixtures=2, scale=3.0):
    width = 6 * mixtures + 3
    shapes = {"output_w": (units, width), "output_b": (width,), "W_xh": (5, 4 * units),
              "W_hh": (units, 4 * units), "bias": (4 * units,)}
    return {name: np.clip(rng.normal(0, scale, shape), -10, 10).astype(np.float32)
            for name, shape in shapes.items()}


@pytest.fixture
def tiny(tmp_path):
    """A small valid model (H=8, M=2) on disk, and its parsed JSON."""
    path = tmp_path / "tiny.gen.json"
    js_format.write_gen_json(path, {"max_seq_len": 50, "name": "tiny", "scale_factor": 20.5},
                             random_weights(np.random.default_rng(0)))
    return path, json.loads(path.read_text())


@pytest.mark.parametrize("name", ["sheep", "bicycle"])
def test_reads_google_decoders(pretrained, name):
    path = pretrained(name)
    gen = js_format.read_gen_json(path)
    assert gen.path == str(path)
    assert gen.info == INFO[name]
    assert gen.sha256 == SHA256[name] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (gen.num_units, gen.num_mixture) == (512, 20)
    assert gen.max_seq_len == INFO[name]["max_seq_len"]
    assert gen.scale_factor == INFO[name]["scale_factor"]
    assert gen.name == name
    shapes = {"output_w": (512, 123), "output_b": (123,), "W_xh": (5, 2048),
              "W_hh": (512, 2048), "bias": (2048,)}
    assert {k: (w.shape, w.dtype) for k, w in gen.weights.items()} == {
        k: (s, np.float32) for k, s in shapes.items()}
    assert not gen.weights["W_hh"].flags.writeable
    # Every value is int16 * 10 / 32767, as magenta-js computes it.
    codes = np.frombuffer(base64.b64decode(json.loads(path.read_text())[2][3]), "<i2")
    np.testing.assert_array_equal(gen.weights["W_hh"].ravel(),
                                  (codes * 10.0 / 32767).astype(np.float32))


def test_rewriting_a_google_file_reproduces_it_byte_for_byte(pretrained, tmp_path):
    gen = js_format.read_gen_json(pretrained("sheep"))
    out = tmp_path / "sheep.gen.json"
    js_format.write_gen_json(out, gen.info, gen.weights)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == SHA256["sheep"]


def test_round_trip_equals_quantise(tmp_path):
    weights = random_weights(np.random.default_rng(1))
    weights["W_hh"][0, :3] = [10.0, -10.0, 0.0]
    info = {"max_seq_len": 99, "name": "rt", "scale_factor": 12.0}
    path = tmp_path / "rt.gen.json"
    js_format.write_gen_json(path, info, weights)
    gen = js_format.read_gen_json(path)
    assert gen.info == {"mode": 2, "version": 6, **info}
    assert list(json.loads(path.read_text())[0]) == ["mode", "version", "max_seq_len", "name",
                                                      "scale_factor"]
    assert (gen.num_units, gen.num_mixture) == (8, 2)
    for name, w in weights.items():
        np.testing.assert_array_equal(gen.weights[name], js_format.quantise(w), err_msg=name)
        assert np.max(np.abs(gen.weights[name] - w)) <= 10 / 32767 / 2 + 1e-6
    assert os.listdir(tmp_path) == ["rt.gen.json"]  # No temp file left behind.


def test_reads_the_older_gen_header(tmp_path):
    info = {"mode": "gen", "version": 2, "max_seq_len": 120, "name": "cat",
            "scale_factor": 70.5, "r_loss": -0.92, "kl_loss": 0.0, "training_size": 70000}
    path = tmp_path / "cat.gen.json"
    js_format.write_gen_json(path, info, random_weights(np.random.default_rng(2)))
    gen = js_format.read_gen_json(path)
    assert gen.info == info
    assert (gen.name, gen.max_seq_len, gen.scale_factor) == ("cat", 120, 70.5)


def test_refuses_weights_beyond_ten(tmp_path):
    weights = random_weights(np.random.default_rng(3))
    weights["W_hh"][2, 5] = -12.3
    path = tmp_path / "big.gen.json"
    with pytest.raises(DataError, match=r"W_hh: largest \|weight\| 12.3 exceeds the format's "
                                        r"limit of 10") as err:
        js_format.write_gen_json(path, {"max_seq_len": 9, "scale_factor": 1.0}, weights)
    assert str(err.value).startswith(str(path))
    assert os.listdir(tmp_path) == []


def test_writer_refuses_inconsistent_shapes(tmp_path):
    weights = random_weights(np.random.default_rng(4))
    weights["bias"] = weights["bias"][:-4]
    path = tmp_path / "bad.gen.json"
    with pytest.raises(DataError, match=r"dims entry 4 \(bias\) has shape \[28\], expected \[32\]"):
        js_format.write_gen_json(path, {"max_seq_len": 9, "scale_factor": 1.0}, weights)
    with pytest.raises(DataError, match="weights have keys"):
        js_format.write_gen_json(path, {"max_seq_len": 9, "scale_factor": 1.0},
                                 {"W_hh": weights["W_hh"]})


def _set(index, value):
    """A mutation of the parsed [info, dims, blobs] document."""
    def mutate(doc):
        target = doc
        for key in index[:-1]:
            target = target[key]
        target[index[-1]] = value
        return json.dumps(doc).encode()
    return mutate


def _truncated(doc):
    text = json.dumps(doc).encode()
    return text[:len(text) // 2]


def _drop_info_key(key):
    def mutate(doc):
        del doc[0][key]
        return json.dumps(doc).encode()
    return mutate


def _layer_norm_dims(doc):
    doc[1] = [[8, 15], [15], [13, 32], [32], [32], [8]]
    doc[2] += ["AAAA"]
    return json.dumps(doc).encode()


def _short_blob(doc):
    doc[2][3] = base64.b64encode(base64.b64decode(doc[2][3])[:-2]).decode()
    return json.dumps(doc).encode()


BAD_FILES = {
    "not JSON": (lambda doc: b"hello, not json", "not JSON"),
    "empty": (lambda doc: b"", "empty file"),
    "not UTF-8": (lambda doc: b"\xff\xfe[1]", "not UTF-8"),
    "truncated": (_truncated, "truncated JSON"),
    "an object": (lambda doc: b'{"mode": 2}', "found a dict"),
    "two elements": (lambda doc: json.dumps(doc[:2]).encode(), "found an array of 2 elements"),
    "VAE mode 0": (_set((0, "mode"), 0), "with an encoder; only decoder-only \"gen\" models"),
    "unknown mode": (_set((0, "mode"), 7), "unknown info mode 7"),
    "wrong W_xh dims": (_set((1, 2), [5, 30]),
                        r"dims entry 2 (W_xh) has shape [5, 30], expected [5, 32]"),
    "LayerNorm dims": (_layer_norm_dims, "dims lists 6 tensors, expected the 5"),
    "bad base64": (_set((2, 1), "!!not base64!!"), "blob 1 (output_b) is not valid base64"),
    "short blob": (_short_blob, "blob 3 (W_hh) holds 510 bytes, expected 512"),
    "NaN scale": (_set((0, "scale_factor"), float("nan")), "scale_factor nan is not a finite"),
    "no max_seq_len": (_drop_info_key("max_seq_len"), "info has no max_seq_len"),
    # Sizes are bounded before anything is decoded or built.
    "absurd max_seq_len": (_set((0, "max_seq_len"), 10**9),
                           "info max_seq_len 1000000000 is out of range (at most 10,000)"),
    "absurd units": (_set((1, 0), [10**6, 15]),
                     "dims entry 0 (output_w) units 1000000 is out of range (at most 8,192)"),
    "absurd mixtures": (_set((1, 0), [8, 6 * 10**4 + 3]),
                        "mixture components 10000 is out of range (at most 100)"),
    "shape of strings": (_set((1, 3), ["8", "32"]), "dims entry 3 (W_hh) is ['8', '32'], not a "
                                                   "list of positive integers"),
    "nested shape": (_set((1, 0), [[8], 15]), "dims entry 0 (output_w) is [[8], 15]"),
    "dims not a list": (_set((1,), {"output_w": [8, 15]}), "entry 1 (dims) is a dict"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_raise_one_line_data_errors(tiny, case):
    path, doc = tiny
    make, expected = BAD_FILES[case]
    path.write_bytes(make(doc))
    with pytest.raises(DataError) as err:
        js_format.read_gen_json(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    assert expected in message


def test_missing_file_is_a_data_error(tmp_path):
    path = tmp_path / "absent.gen.json"
    with pytest.raises(DataError, match="cannot read the file") as err:
        js_format.read_gen_json(path)
    assert str(err.value).startswith(str(path))


def test_truncated_google_file(pretrained, tmp_path):
    path = tmp_path / "sheep.gen.json"
    path.write_bytes(pretrained("sheep").read_bytes()[:1_000_000])
    with pytest.raises(DataError, match="truncated JSON"):
        js_format.read_gen_json(path)


def test_numpy_decoder_step_batches_and_matches_a_plain_lstm(tiny):
    gen = js_format.read_gen_json(tiny[0])
    rng = np.random.default_rng(5)
    x, h, c = rng.normal(size=(3, 5)), rng.normal(size=(3, 8)), rng.normal(size=(3, 8))
    h2, c2, head = js_format.numpy_decoder_step(gen, x, h, c)
    assert (h2.shape, c2.shape, head.shape) == ((3, 8), (3, 8), (3, 15))
    w = {k: v.astype(np.float64) for k, v in gen.weights.items()}
    gates = np.concatenate([x, h], 1) @ np.concatenate([w["W_xh"], w["W_hh"]]) + w["bias"]
    i, j, f, o = np.split(gates, 4, 1)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    want_c = c * sig(f + 1.0) + sig(i) * np.tanh(j)
    np.testing.assert_allclose(c2, want_c, atol=1e-12)
    np.testing.assert_allclose(h2, np.tanh(want_c) * sig(o), atol=1e-12)
    np.testing.assert_allclose(head, h2 @ w["output_w"] + w["output_b"], atol=1e-12)
    one = js_format.numpy_decoder_step(gen, x[1], h[1], c[1])
    np.testing.assert_allclose(one[2], head[1], atol=1e-12)


def test_module_does_not_import_tensorflow():
    code = ("import sys, sketch_rnn.js_format; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=120)


def test_writer_refuses_an_absurd_max_seq_len(tmp_path):
    path = tmp_path / "long.gen.json"
    with pytest.raises(DataError, match=r"info max_seq_len 1000000 is out of range"):
        js_format.write_gen_json(path, {"max_seq_len": 10**6, "scale_factor": 1.0},
                                 random_weights(np.random.default_rng(0)))
    assert not path.exists()
