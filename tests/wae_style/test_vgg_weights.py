"""VGG16 weights: the packaged ImageNet asset, the shared file, legacy layouts, refusals, sha256s."""

import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import zipfile

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from common.errors import DataError, WorkdirError
from tests.support import REPO_ROOT, SHARED_DATA, shared_file
from wae_style import configs
from wae_style import export as export_lib
from wae_style import model as wm
from wae_style import train
from wae_style import vgg_weights as vw

REPO = str(REPO_ROOT)
SHARED_WEIGHTS = SHARED_DATA / "weights" / "vgg16_imagenet_notop.weights.h5"
# From ../shared/data/weights/README.md.
SHARED_SHA256 = "a2f51117308129c3de9a523c91d35160eb75a6a9e5db1e2afb4f48e48dfb733a"
LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1")

# Features of pattern() from plain Keras, computed once with
#   base = keras.applications.VGG16(include_top=False, weights=SHARED_WEIGHTS)
#   base-cut model(keras.applications.vgg16.preprocess_input(255 * pattern()))
# layer: (mean, std, {index: value}); five entries above 0.3 x the layer's maximum.
REFERENCE = {
    "block1_conv1": (36.04391041407208, 58.469643493837395, {
        (0, 39, 12, 1): 320.6314392089844, (0, 32, 8, 18): 261.4166564941406,
        (0, 17, 59, 12): 354.2752685546875, (0, 19, 50, 36): 283.009521484375,
        (0, 53, 17, 18): 233.0413818359375}),
    "block2_conv1": (329.8969258936338, 549.5768688305932, {
        (0, 25, 7, 86): 2833.3515625, (0, 16, 6, 70): 5750.55517578125,
        (0, 20, 23, 56): 3469.14208984375, (0, 28, 27, 117): 4396.49462890625,
        (0, 19, 12, 70): 2698.26806640625}),
    "block3_conv1": (862.9155967510728, 1239.0193380851001, {
        (0, 10, 10, 157): 7295.01513671875, (0, 12, 12, 39): 8847.59375,
        (0, 4, 9, 87): 8851.0546875, (0, 14, 15, 13): 6286.24951171875,
        (0, 9, 1, 46): 6735.9296875}),
}


def pattern():
    """A fixed, smooth 64x64 RGB image in [0, 1], (1, 64, 64, 3)."""
    i, j = np.meshgrid(np.arange(64), np.arange(64), indexing="ij")
    chans = [0.5 + 0.5 * np.sin(0.31 * i + 0.17 * j * (c + 1) + c)
             * np.cos(0.05 * (i - j) * (c + 2)) for c in range(3)]
    return np.stack(chans, -1)[None].astype(np.float32)


@pytest.fixture(scope="module")
def shared_weights():
    return shared_file(*SHARED_WEIGHTS.relative_to(SHARED_DATA).parts)


@pytest.fixture(scope="module")
def seeded_vgg16():
    """A VGG16 no-top with seeded random weights (stands in for real weights in format tests)."""
    keras.utils.set_random_seed(3)
    return keras.applications.VGG16(include_top=False, weights=None)


@pytest.fixture(scope="module")
def seeded_file(seeded_vgg16, tmp_path_factory):
    path = tmp_path_factory.mktemp("seeded") / "seeded_vgg16.weights.h5"
    seeded_vgg16.save_weights(path)
    return path


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _conv_weights(model):
    return {layer.name: [_np(w) for w in layer.weights] for layer in model.layers
            if isinstance(layer, keras.layers.Conv2D)}


def _write_legacy(path, layers, style="keras2"):
    """A Keras 2 .h5 weights file: [(layer name, [arrays])], datasets named as `style` says.

    "keras2": block1_conv1/kernel:0 (nested groups); "keras1": block1_conv1_W_1:0 (flat),
    as in the Keras cache's vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5.
    """
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n, _ in layers])
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        for name, arrays in layers:
            group = f.create_group(name)
            if style == "keras2":
                names = [f"{name}/{w}:0" for w in ("kernel", "bias")][:len(arrays)]
            else:
                names = [f"{name}_{w}_1:0" for w in ("W", "b")][:len(arrays)]
            group.attrs["weight_names"] = np.array([n.encode() for n in names])
            for n, a in zip(names, arrays):
                group.create_dataset(n, data=a)


def _legacy_layers(model):
    """[(layer name, [arrays])] of every layer of a Keras model, weightless ones included."""
    return [(layer.name, [_np(w) for w in layer.weights]) for layer in model.layers]


def _one_line_naming(err, path):
    text = str(err.value)
    assert "\n" not in text and str(path) in text, text
    return text


# The shared ImageNet file.

def test_shared_file_loads_like_plain_keras(shared_weights):
    wf = vw.read(shared_weights)
    assert wf.sha256 == SHARED_SHA256 and wf.layout == "keras3" and not wf.note
    keras_vgg = keras.applications.VGG16(include_top=False, weights=str(shared_weights))
    want = _conv_weights(keras_vgg)
    assert list(wf.weights) == list(configs.VGG16_CONV_LAYERS) == list(want)
    for name, (kernel, bias) in wf.weights.items():
        np.testing.assert_array_equal(kernel, want[name][0], err_msg=name)
        np.testing.assert_array_equal(bias, want[name][1], err_msg=name)
    vgg = wm.build_vgg(str(shared_weights), sha256=SHARED_SHA256)
    for name, arrays in _conv_weights(vgg).items():
        np.testing.assert_array_equal(arrays[0], want[name][0], err_msg=name)
    with pytest.raises(DataError, match="not the file the model was trained with") as err:
        wm.build_vgg(str(shared_weights), sha256="0" * 64)
    _one_line_naming(err, shared_weights)


def test_preprocessing_and_features_match_plain_keras(shared_weights):
    """VGGPreprocess (RGB in [0, 1]) + our VGG = keras preprocess_input(255 x) + Keras' VGG16."""
    x = pattern()
    ours = {k: _np(v).astype(np.float64) for k, v in wm.build_vgg(str(shared_weights))(x).items()}
    assert set(ours) == set(LAYERS)
    for name, (mean, std, entries) in REFERENCE.items():
        got = ours[name]
        np.testing.assert_allclose(got.mean(), mean, rtol=1e-4, err_msg=name)
        np.testing.assert_allclose(got.std(), std, rtol=1e-4, err_msg=name)
        for index, value in entries.items():
            np.testing.assert_allclose(got[index], value, rtol=1e-4, err_msg=f"{name}{index}")
    # Live: the same numbers from plain Keras on this machine.
    base = keras.applications.VGG16(include_top=False, weights=str(shared_weights))
    cut = keras.Model(base.input, [base.get_layer(n).output for n in LAYERS])
    live = cut(keras.applications.vgg16.preprocess_input(255.0 * x))
    for name, want in zip(LAYERS, live):
        np.testing.assert_allclose(ours[name], _np(want), rtol=1e-4, atol=1e-3, err_msg=name)


# The packaged ImageNet asset ("imagenet").

def test_asset_is_the_shared_file_cut_at_block3_conv1(shared_weights, seeded_file, tmp_path):
    asset = vw.read_asset()
    assert asset.sha256 == vw.ASSET_SHA256 == vw.file_sha256(vw.asset_path())
    assert list(asset.weights) == list(vw.ASSET_LAYERS) == list(configs.VGG16_CONV_LAYERS[:5])
    assert sum(a.size for arrays in asset.weights.values() for a in arrays) == 555_328
    full = vw.read(shared_weights)
    for name, (kernel, bias) in asset.weights.items():
        assert kernel.dtype == bias.dtype == np.float32
        np.testing.assert_array_equal(kernel, full.weights[name][0], err_msg=name)
        np.testing.assert_array_equal(bias, full.weights[name][1], err_msg=name)
    # The committed asset is exactly what the library cuts from the pinned file, and it
    # holds plain arrays (np.load with allow_pickle=False).
    out = tmp_path / "again.npz"
    assert vw.make_asset(shared_weights, out) == vw.ASSET_SHA256
    assert out.read_bytes() == pathlib.Path(vw.asset_path()).read_bytes()
    with np.load(out, allow_pickle=False) as npz:
        assert str(npz["source_sha256"]) == SHARED_SHA256 == vw.SOURCE_SHA256
    with pytest.raises(DataError) as err:
        vw.make_asset(seeded_file, tmp_path / "bad.npz")
    assert vw.SOURCE_SHA256 in _one_line_naming(err, seeded_file)
    assert not (tmp_path / "bad.npz").exists()


def test_asset_script_makes_the_same_bytes(shared_weights, tmp_path):
    out = tmp_path / "asset.npz"
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run([sys.executable, "-m", "scripts.make_vgg16_asset",
                          f"--source={shared_weights}", f"--out={out}"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"sha256 {vw.ASSET_SHA256}" in res.stdout
    assert out.read_bytes() == pathlib.Path(vw.asset_path()).read_bytes()


def test_imagenet_needs_no_network_and_matches_plain_keras(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("no download may be tried")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    vgg = wm.build_vgg("imagenet", sha256=vw.ASSET_SHA256)
    ours = {k: _np(v).astype(np.float64) for k, v in vgg(pattern()).items()}
    for name, (mean, std, entries) in REFERENCE.items():  # Plain Keras on the full file.
        np.testing.assert_allclose(ours[name].mean(), mean, rtol=1e-4, err_msg=name)
        np.testing.assert_allclose(ours[name].std(), std, rtol=1e-4, err_msg=name)
        for index, value in entries.items():
            np.testing.assert_allclose(ours[name][index], value, rtol=1e-4)


def test_damaged_or_missing_asset_is_refused(monkeypatch, tmp_path):
    damaged = tmp_path / vw.ASSET_NAME
    data = bytearray(pathlib.Path(vw.asset_path()).read_bytes())
    data[-100] ^= 1
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(vw, "asset_path", lambda: str(damaged))
    with pytest.raises(DataError, match=f"not the pinned {vw.ASSET_SHA256}") as err:
        wm.build_vgg("imagenet")
    _one_line_naming(err, damaged)
    damaged.unlink()
    with pytest.raises(DataError, match="missing") as err:
        train.resolve_config(_config(vgg_weights="imagenet"))
    assert vw.SOURCE_NAME in _one_line_naming(err, damaged)


def test_imagenet_layers_past_the_asset_need_the_full_file(shared_weights, tmp_path):
    with pytest.raises(DataError) as err:
        wm.build_vgg("imagenet", layers=("block1_conv1", "block4_conv1"))
    text = _one_line_naming(err, vw.SOURCE_NAME)
    assert "block4_conv1" in text and "block3_conv1" in text
    deep = _config(vgg_weights="imagenet", style_layers=("block1_conv1", "block4_conv1"))
    with pytest.raises(DataError, match=vw.SOURCE_NAME):
        train.train_and_evaluate(deep, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(DataError, match=vw.SOURCE_NAME):
        wm.resolve_vgg_weights("imagenet", deep.vgg_layers)
    full = wm.build_vgg(str(shared_weights), layers=("block4_conv1",))  # The full file works.
    assert full.output["block4_conv1"].shape[-1] == 512


def test_old_imagenet_record_still_loads(no_training, tmp_path):
    """config.json files from before the asset record the Keras download's sha256."""
    keras_download = "3" * 64  # Stands in for that file's sha256 (it was never here).
    old = _config(vgg_weights="imagenet", vgg_weights_sha256=keras_download)
    old_dict = {k: v for k, v in old.to_dict().items() if k != "subpixel_init"}
    config = configs.WAEConfig.from_dict(old_dict)
    model = wm.WAEStyle(config)  # Builds on the packaged weights.
    asset = vw.read_asset().weights["block1_conv1"][0]
    np.testing.assert_array_equal(_np(model.vgg.get_layer("block1_conv1").kernel), asset)
    assert vw.imagenet_record_note(keras_download) and not vw.imagenet_record_note("")
    assert train.resolve_config(config)[0].vgg_weights_sha256 == vw.ASSET_SHA256
    # Resuming such a run is refused naming both hashes (pass the Keras file to resume).
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config.json").write_text(json.dumps(old_dict))
    with pytest.raises(WorkdirError) as err:
        train.train_and_evaluate(_config(vgg_weights="imagenet"), workdir)
    assert keras_download in str(err.value) and vw.ASSET_SHA256 in str(err.value)


def test_wheel_ships_the_asset(tmp_path):
    """A built (not editable) install finds the asset from outside the repository."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, src / name)
    for top in REPO_ROOT.iterdir():  # Every top-level package but the tests.
        if (top / "__init__.py").exists() and top.name != "tests":
            shutil.copytree(top, src / top.name, ignore=shutil.ignore_patterns("__pycache__"))
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                          "--no-build-isolation", "--no-cache-dir", "-q", "-w",
                          str(tmp_path / "dist"), str(src)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("sketchstyle-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        assert f"wae_style/assets/{vw.ASSET_NAME}" in zf.namelist()
        zf.extractall(site)
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(site)!r})
        import keras
        keras.utils.get_file = None  # No download.
        from wae_style import model, vgg_weights
        assert model.__file__.startswith({str(site)!r}), model.__file__
        vgg = model.build_vgg("imagenet", sha256=vgg_weights.ASSET_SHA256)
        print("OK", vgg_weights.asset_path(), len(vgg.weights))
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"OK {site / 'wae_style' / 'assets' / vw.ASSET_NAME} 10" in res.stdout


# File layouts.

@pytest.mark.parametrize("style", ["keras2", "keras1"])
def test_legacy_h5_layouts_load_like_keras(seeded_vgg16, tmp_path, style):
    path = tmp_path / "vgg16_legacy_notop.h5"
    _write_legacy(path, _legacy_layers(seeded_vgg16), style)
    wf = vw.read(path)
    assert wf.layout == "legacy" and not wf.note
    keras_vgg = keras.applications.VGG16(include_top=False, weights=str(path))
    want = _conv_weights(keras_vgg)
    for name, arrays in _conv_weights(seeded_vgg16).items():
        np.testing.assert_array_equal(want[name][0], arrays[0])  # Keras reads it the same way.
        np.testing.assert_array_equal(wf.weights[name][0], arrays[0], err_msg=name)
        np.testing.assert_array_equal(wf.weights[name][1], arrays[1], err_msg=name)


def _top(name, n_in, n_out):
    rng = np.random.default_rng(0)
    return (name, [rng.normal(size=(n_in, n_out)).astype("float32"), np.zeros(n_out, "float32")])


@pytest.mark.parametrize("layout", ["legacy", "keras3"])
def test_classifier_file_uses_its_conv_layers_and_says_so(seeded_vgg16, seeded_file, tmp_path,
                                                          layout):
    # Small stand-ins for fc1/fc2/predictions (the real ones are 500 MB); only their names count.
    head = [_top("fc1", 8, 4), _top("fc2", 4, 4), _top("predictions", 4, 3)]
    if layout == "legacy":
        path = tmp_path / "vgg16_with_top.h5"
        _write_legacy(path, _legacy_layers(seeded_vgg16) + [("flatten", [])] + head)
    else:
        path = tmp_path / "vgg16_with_top.weights.h5"
        shutil.copy(seeded_file, path)
        with h5py.File(path, "a") as f:
            for i, (name, arrays) in enumerate(head):
                group = f.create_group(f"layers/dense{'_%d' % i if i else ''}/vars")
                group.attrs["name"] = name
                for k, a in enumerate(arrays):
                    group[str(k)] = a
    wf = vw.read(path)
    assert "classifier (include_top)" in wf.note and "fc1, fc2, predictions" in wf.note
    assert str(path) in wf.note
    for name, arrays in _conv_weights(seeded_vgg16).items():
        np.testing.assert_array_equal(wf.weights[name][0], arrays[0], err_msg=name)
    vgg = wm.build_vgg(str(path), layers=("block1_conv1",))
    np.testing.assert_array_equal(_np(vgg.get_layer("block1_conv1").kernel),
                                  _np(seeded_vgg16.get_layer("block1_conv1").kernel))


# Refusals: one line naming the file (and the layer).

def test_vgg19_file_is_refused_naming_the_first_extra_layer(tmp_path):
    path = tmp_path / "vgg19_notop.weights.h5"
    keras.applications.VGG19(include_top=False, weights=None).save_weights(path)
    with pytest.raises(DataError) as err:
        vw.read(path)
    text = _one_line_naming(err, path)
    assert "block3_conv4" in text and "VGG19" in text


def test_wrong_shape_missing_layer_and_classifier_hint(seeded_vgg16, tmp_path):
    layers = _legacy_layers(seeded_vgg16)
    bad = [(n, [a[..., :64] if n == "block2_conv1" and a.ndim == 4 else a for a in arrays])
           for n, arrays in layers]
    path = tmp_path / "wrong_shape.h5"
    _write_legacy(path, bad)
    with pytest.raises(DataError) as err:
        vw.read(path)
    text = _one_line_naming(err, path)
    assert "block2_conv1 kernel has shape (3, 3, 64, 64), VGG16 needs (3, 3, 64, 128)" in text
    path = tmp_path / "missing.h5"
    _write_legacy(path, [x for x in layers if x[0] != "block5_conv3"] + [_top("fc1", 8, 4)])
    with pytest.raises(DataError) as err:
        vw.read(path)
    text = _one_line_naming(err, path)
    assert "block5_conv3 is missing" in text and "classifier" in text


def test_unreadable_files_are_named(seeded_file, tmp_path):
    truncated = tmp_path / "truncated.weights.h5"  # The first 1 MB of a 59 MB file.
    with open(seeded_file, "rb") as f:
        truncated.write_bytes(f.read(1 << 20))
    cases = [(truncated, "truncated"), (tmp_path / "missing.weights.h5", "does not exist")]
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    cases.append((text, "not an HDF5 file"))
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.create_group("something")
    cases.append((empty, "neither a Keras 3"))
    folder = tmp_path / "folder.h5"
    folder.mkdir()
    cases.append((folder, "is not a file"))
    for path, needle in cases:
        with pytest.raises(DataError) as err:
            wm.build_vgg(str(path))
        assert needle in _one_line_naming(err, path)
    with pytest.raises(DataError, match="imagenett"):
        wm.build_vgg("imagenett")


# The trainer: checks before writing, sha256 in config.json and the export, resume.

def _config(**kw):
    return dataclasses.replace(configs.WAEConfig.testing(), num_steps=1, **kw)


def test_trainer_refuses_bad_files_before_touching_the_workdir(seeded_file, tmp_path):
    v19 = tmp_path / "vgg19.weights.h5"
    keras.applications.VGG19(include_top=False, weights=None).save_weights(v19)
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "config.json").write_text("{}\n")
    for bad in (v19, text, tmp_path / "missing.h5"):
        for workdir in (tmp_path / "new", existing):
            with pytest.raises(DataError) as err:
                train.train_and_evaluate(_config(vgg_weights=str(bad)), workdir)
            _one_line_naming(err, bad)
            assert not (tmp_path / "new").exists()
            assert sorted(p.name for p in existing.iterdir()) == ["config.json"]
            assert (existing / "config.json").read_text() == "{}\n"
    with pytest.raises(DataError, match="not the file the model was trained with"):
        train.train_and_evaluate(_config(vgg_weights=str(seeded_file), vgg_weights_sha256="0" * 64),
                                 tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_config_field_checks():
    with pytest.raises(ValueError, match="vgg_weights_sha256"):
        _config(vgg_weights="a.h5", vgg_weights_sha256="ABC")
    with pytest.raises(ValueError, match="vgg_weights_sha256"):
        _config(vgg_weights_sha256="0" * 64)  # testing() is "random".
    assert configs.WAEConfig.from_dict(
        {k: v for k, v in configs.WAEConfig.testing().to_dict().items() if k != "vgg_weights_sha256"}
    ).vgg_weights_sha256 == ""


def test_imagenet_sha256_is_the_asset():
    config, note = train.resolve_config(_config(vgg_weights="imagenet"))
    assert config.vgg_weights_sha256 == vw.ASSET_SHA256 and not note
    assert train.resolve_config(_config())[0].vgg_weights_sha256 == ""


@pytest.fixture
def no_training(monkeypatch):
    """train_and_evaluate checks weights and writes config.json, then stops before step 1."""
    monkeypatch.setattr(train, "_train", lambda config, workdir, *prepared: {})


def test_sha256_in_config_json_and_export(shared_weights, no_training, tmp_path):
    train.train_and_evaluate(_config(vgg_weights=str(shared_weights)), tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["vgg_weights"] == str(shared_weights)
    assert saved["vgg_weights_sha256"] == SHARED_SHA256
    config = configs.WAEConfig.from_dict(saved)
    model = train.build(config, tf.distribute.get_strategy())[0]
    export_lib.export(model, config, tmp_path / "export")
    meta = json.loads((tmp_path / "export" / "metadata.json").read_text())
    assert meta["vgg_weights_sha256"] == SHARED_SHA256
    assert meta["config"]["vgg_weights_sha256"] == SHARED_SHA256


def test_resume_checks_the_weights_hash(shared_weights, seeded_file, no_training, tmp_path):
    workdir = tmp_path / "run"
    train.train_and_evaluate(_config(vgg_weights=str(shared_weights)), workdir)
    # The same file elsewhere: same hash, so the run resumes and records the new path.
    moved = tmp_path / "moved.weights.h5"
    shutil.copy(shared_weights, moved)
    train.train_and_evaluate(_config(vgg_weights=str(moved)), workdir)
    assert json.loads((workdir / "config.json").read_text())["vgg_weights"] == str(moved)
    # Another file: refused, naming both hashes.
    before = (workdir / "config.json").read_text()
    with pytest.raises(WorkdirError, match="vgg_weights_sha256") as err:
        train.train_and_evaluate(_config(vgg_weights=str(seeded_file)), workdir)
    assert SHARED_SHA256 in str(err.value) and vw.file_sha256(seeded_file) in str(err.value)
    assert (workdir / "config.json").read_text() == before
    # A workdir from before the field: resumes, and the hash is recorded from now on.
    old = json.loads(before)
    del old["vgg_weights_sha256"]
    (workdir / "config.json").write_text(json.dumps(old))
    train.train_and_evaluate(_config(vgg_weights=str(moved)), workdir)
    assert json.loads((workdir / "config.json").read_text())["vgg_weights_sha256"] == SHARED_SHA256


@pytest.mark.slow
def test_one_step_run_on_the_shared_weights(shared_weights, tmp_path):
    """The whole trainer for one step (20-45 s on 2 cores): config.json and export agree."""
    train.train_and_evaluate(_config(vgg_weights=str(shared_weights)), tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["vgg_weights_sha256"] == SHARED_SHA256
    meta = json.loads((tmp_path / "export" / "metadata.json").read_text())
    assert meta["vgg_weights_sha256"] == SHARED_SHA256


def test_train_script_names_a_truncated_file(seeded_file, tmp_path):
    truncated = tmp_path / "truncated.weights.h5"
    with open(seeded_file, "rb") as f:
        truncated.write_bytes(f.read(1 << 20))
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run(
        [sys.executable, "-m", "scripts.train_wae_style", "--config=testing",
         f"--vgg_weights={truncated}", f"--workdir={tmp_path / 'w'}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr[-2000:]
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(truncated) in errors[0] and "truncated" in errors[0]
    assert "Traceback" not in res.stderr and not (tmp_path / "w").exists()
