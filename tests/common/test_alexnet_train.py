"""AlexNet scorer trainer: schedule and loss, batches, a one-step run, export, resume, TFDS, errors."""

import dataclasses
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from common import alexnet_export
from common import alexnet_train as T
from common import raster_tf
from common import stroke_data
from common.alexnet import AlexNet, AlexNetConfig
from common.errors import DataError, WorkdirError
from tests.isolation import BLOCK_PACKAGE

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(**kw):
    return dataclasses.replace(AlexNetConfig.testing(), **kw)


def _weights(workdir):
    """Model weights from the latest checkpoint, by variable name."""
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(workdir / "checkpoints")))
    names = sorted(n for n in reader.get_variable_to_shape_map()
                   if n.startswith("model/") and "OPTIMIZER_SLOT" not in n)
    return {n: reader.get_tensor(n) for n in names}


def _restore(config, workdir, num_classes):
    model = AlexNet(**config.model_kwargs(num_classes))
    model.build((None, config.image_size, config.image_size, 1))
    path = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    tf.train.Checkpoint(model=model).restore(path).expect_partial()
    return model


# ----------------------------------------------------------------------------- pure functions


def test_learning_rate_matches_numpy():
    steps = np.array([0, 1, 10, 1000, 50_000])
    got = T.learning_rate(tf.constant(steps), 1e-3, 0.9995, 1e-5).numpy()
    np.testing.assert_allclose(got, (1e-3 - 1e-5) * 0.9995 ** steps + 1e-5, rtol=1e-4)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_classification_loss_matches_numpy(eps):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 4)).astype(np.float32) * 3
    labels = np.array([0, 3, 1, 1, 2])
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    target = np.eye(4)[labels] * (1 - eps) + eps / 4
    want = -(target * logp).sum(axis=1).mean()
    np.testing.assert_allclose(T.classification_loss(logits, labels, eps).numpy(), want,
                               rtol=1e-5)


def test_rotate_matches_rotating_absolute_points():
    rng = np.random.default_rng(1)
    s = rng.normal(size=(2, 6, 3)).astype(np.float32)
    s[..., 2] = rng.random((2, 6)) < 0.3
    angles = np.array([0.3, -1.2])
    out = T.rotate(s, angles)
    for i, a in enumerate(angles):
        r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        np.testing.assert_allclose(np.cumsum(out[i, :, :2], 0), np.cumsum(s[i, :, :2], 0) @ r.T,
                                   atol=1e-5)
    np.testing.assert_array_equal(out[..., 2], s[..., 2])


def test_shift_bitmaps():
    img = np.arange(2 * 5 * 5, dtype=np.uint8).reshape(2, 5, 5, 1) + 1
    out = T.shift_bitmaps(img, np.array([[2, -1], [0, 0]]))
    np.testing.assert_array_equal(out[0, :4, 2:], img[0, 1:, :3])
    assert out[0, :, :2].max() == 0 and out[0, 4].max() == 0
    np.testing.assert_array_equal(out[1], img[1])


def test_confusion_image_and_pad():
    img = T.confusion_image(np.array([[3, 1], [0, 0]]), min_side=8)
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8
    assert img[0, 0, 0] == round(255 * 0.25) and img[0, 7, 0] == round(255 * 0.75)
    assert img[7, 7, 0] == 255  # A row without examples stays white.
    s, n = T.pad_stroke3([np.ones((2, 3)), np.ones((4, 3))])
    assert s.shape == (2, 4, 3) and n.tolist() == [2, 4] and s[0, 2:].max() == 0


@pytest.fixture(scope="module")
def builtin_splits():
    c = AlexNetConfig.testing()
    return stroke_data.load_strokes(["builtin"], max_seq_len=c.max_seq_len, seed=0,
                                    builtin_per_class=10)


def test_stroke_batches_are_deterministic_and_resumable(builtin_splits):
    config = _config(batch_size=5)
    batches = T.make_batches(builtin_splits, config, "train", augment=True)
    a, b = batches.batch(3), T.make_batches(builtin_splits, config, "train").batch(3)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert a["strokes"].shape == (5, config.max_seq_len, 3) and a["shift"].shape == (5, 2)
    assert np.abs(a["shift"]).max() <= config.max_shift * config.image_size
    plain = T.make_batches(builtin_splits, config, "train", augment=False).batch(3)
    assert not np.allclose(plain["strokes"], a["strokes"]) and plain["shift"].max() == 0
    resumed = next(iter(batches.dataset(start_step=3)))
    for k in a:
        np.testing.assert_array_equal(resumed[k].numpy(), a[k])
    images = T.to_images({k: tf.constant(v) for k, v in a.items()}, config).numpy()
    assert images.shape == (5, 32, 32, 1) and images.max() > 0.5


# ----------------------------------------------------------------------------- one-step run


@pytest.fixture(scope="module")
def one_step_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("alexnet_one_step")
    config = _config(num_steps=1)
    last = T.train_and_evaluate(config, workdir)
    return config, workdir, last


def test_one_step_writes_artefacts(one_step_run):
    config, workdir, last = one_step_run
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    assert tf.train.latest_checkpoint(str(workdir / "best"))
    assert (workdir / "export" / "saved_model.pb").exists()
    assert json.loads((workdir / "config.json").read_text()) == config.to_dict()
    info = json.loads((workdir / "data.json").read_text())
    assert info["num_classes"] == 7 and info["num_train"] > 0
    assert "| class | n |" in (workdir / "test_report.md").read_text()
    metrics = json.loads((workdir / "test_metrics.json").read_text())
    assert 0 <= metrics["final"]["accuracy"] <= 1 and metrics["final"]["step"] == 1
    assert metrics["best"]["step"] == 1 and last["test_accuracy"] == metrics["final"]["accuracy"]
    assert np.isfinite(last["loss"]) and "grad_norm" in last and "lr" in last
    tags = set()
    for split in ("train", "valid"):
        files = list((workdir / "events" / split).glob("events.out.tfevents.*"))
        assert files
        for f in files:
            for e in tf.compat.v1.train.summary_iterator(str(f)):
                tags.update(v.tag for v in e.summary.value)
    assert {"loss", "accuracy", "lr", "grad_norm", "error_rate", "train_batch",
            "confusion"} <= tags
    assert not (workdir / ".lock").exists()


def test_export_matches_in_process_model(one_step_run, builtin_splits):
    config, workdir, _ = one_step_run
    loaded = tf.saved_model.load(str(workdir / "export"))
    model = _restore(config, workdir, 7)
    sketches = builtin_splits.test[:5]
    strokes, lengths = T.pad_stroke3(sketches)
    got = loaded.score(strokes=tf.constant(strokes), lengths=tf.constant(lengths))
    images = raster_tf.rasterize_tf(strokes, lengths, config.image_size)
    np.testing.assert_allclose(got["probs"].numpy(), tf.nn.softmax(model(images)).numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["embedding"].numpy(), model.embed(images).numpy(),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["probs"].numpy().sum(axis=1), 1.0, atol=1e-5)
    by_image = loaded.score_images(images=images)["probs"].numpy()
    np.testing.assert_allclose(by_image, got["probs"].numpy(), atol=1e-6)
    meta = alexnet_export.metadata(loaded)
    assert meta["class_names"] == builtin_splits.class_names and meta["image_size"] == 32
    # evaluate_split gives the same numbers from the export and from the model.
    a = T.evaluate_split(loaded, builtin_splits, "test")
    b = T.evaluate_split(model, builtin_splits, "test", config)
    c = T.evaluate_split(workdir, builtin_splits, "test")
    assert a["accuracy"] == b["accuracy"] == c["accuracy"]
    np.testing.assert_array_equal(a["confusion"], b["confusion"])
    assert a["confusion"].sum() == len(builtin_splits.test)
    text = T.report(a)
    assert f"{a['accuracy']:.4f}" in text and "circle" in text


def test_score_rejects_bad_strokes(one_step_run):
    _, workdir, _ = one_step_run
    loaded = alexnet_export.load(workdir)
    bad = np.zeros((1, 4, 3), np.float32)
    bad[0, 1, 0] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or inf"):
        loaded.score(strokes=tf.constant(bad), lengths=tf.constant([4]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="exceeds"):
        loaded.score(strokes=tf.zeros((1, 4, 3)), lengths=tf.constant([5]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="negative"):
        loaded.score(strokes=tf.zeros((1, 4, 3)), lengths=tf.constant([-1]))
    with pytest.raises(DataError, match="not a SavedModel"):
        alexnet_export.load(workdir / "checkpoints")


def test_export_loads_without_the_package(one_step_run, tmp_path):
    _, workdir, _ = one_step_run
    code = BLOCK_PACKAGE + textwrap.dedent(f"""
        import json, tensorflow as tf
        m = tf.saved_model.load({str(workdir / 'export')!r})
        out = m.score(strokes=tf.constant([[[0., 0., 0.], [5., 3., 1.]]]), lengths=tf.constant([2]))
        meta = json.loads(m.metadata()['json'].numpy())
        img = m.score_images(images=tf.zeros((2, meta['image_size'], meta['image_size'], 1)))
        print('OK', out['probs'].shape, out['embedding'].shape, img['probs'].shape, meta['model'])
    """)
    env = dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "OK (1, 7) (1, 16) (2, 7) alexnet" in res.stdout


def test_incompatible_config_is_refused(one_step_run):
    config, workdir, _ = one_step_run
    with pytest.raises(WorkdirError, match="different config"):
        T.train_and_evaluate(dataclasses.replace(config, dropout=0.1), workdir)


def test_resume_equals_uninterrupted(tmp_path):
    kw = dict(eval_every=10, log_every=10)
    T.train_and_evaluate(_config(num_steps=3, save_every=3, **kw), tmp_path / "full")
    T.train_and_evaluate(_config(num_steps=2, save_every=1, **kw), tmp_path / "split")
    T.train_and_evaluate(_config(num_steps=3, save_every=1, **kw), tmp_path / "split")
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "split")
    assert a.keys() == b.keys() and any("moving_mean" in k for k in a)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_mirrored_strategy_two_cpus(tmp_path):
    assert len(tf.config.list_logical_devices("CPU")) == 2
    last = T.train_and_evaluate(_config(num_steps=2, strategy="mirrored", eval_every=2), tmp_path)
    assert np.isfinite(last["loss"]) and (tmp_path / "export" / "saved_model.pb").exists()


# ----------------------------------------------------------------------------- TFDS


@pytest.fixture
def tfds_offline(monkeypatch):
    """Imports tensorflow_datasets and makes any network connection fail the test."""
    tfds = pytest.importorskip("tensorflow_datasets")

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    return tfds


def test_quickdraw_bitmap_with_mock_data(tfds_offline, tmp_path):
    config = _config(tfds="quickdraw_bitmap", tfds_data_dir=str(tmp_path / "tfds"), data=(),
                     num_steps=1, tfds_max_examples=40)
    with tfds_offline.testing.mock_data(num_examples=60):
        splits = T.load_data(config)
        T.train_and_evaluate(config, tmp_path / "run")
    assert isinstance(splits, T.BitmapSplits) and len(splits.class_names) == 345
    n = len(splits.train) + len(splits.valid) + len(splits.test)
    assert n == 40 and splits.train.shape[1:] == (28, 28, 1) and splits.train.dtype == np.uint8
    batch = T.make_batches(splits, config).batch(0)
    assert batch["images"].shape == (4, 28, 28, 1)
    x = T.to_images({k: tf.constant(v) for k, v in batch.items()}, config)
    assert x.shape == (4, 32, 32, 1)
    assert 0 <= float(tf.reduce_min(x)) <= float(tf.reduce_max(x)) <= 1
    loaded = alexnet_export.load(tmp_path / "run")
    r = T.evaluate_split(loaded, splits, "train")
    assert r["confusion"].shape == (345, 345) and r["num_examples"] == len(splits.train)
    info = json.loads((tmp_path / "run" / "data.json").read_text())
    assert info["source"] == "tfds:quickdraw_bitmap" and info["num_classes"] == 345


def test_quickdraw_bitmap_missing_is_a_data_error(tfds_offline, tmp_path):
    config = _config(tfds="quickdraw_bitmap", tfds_data_dir=str(tmp_path), data=())
    with pytest.raises(DataError, match="quickdraw_bitmap"):
        T.load_data(config)


# ----------------------------------------------------------------------------- errors, script


def test_bad_sources_and_splits(tmp_path, builtin_splits):
    with pytest.raises(DataError, match="not found"):
        T.load_data(_config(data=(str(tmp_path / "missing.ndjson"),)))
    empty = dataclasses.replace(builtin_splits, valid=[], valid_labels=np.zeros(0, np.int32))
    model = AlexNet(7, 32, conv_channels=(4, 8, 8, 8, 8), dense_units=(16, 16))
    with pytest.raises(DataError, match="split 'valid' is empty"):
        T.evaluate_split(model, empty, "valid")
    with pytest.raises(DataError, match="unknown split"):
        T.evaluate_split(model, builtin_splits, "dev")
    with pytest.raises(TypeError, match="expected an AlexNet"):
        T.evaluate_split(object(), builtin_splits, "test")
    wrong = AlexNet(3, 32, conv_channels=(4, 8, 8, 8, 8), dense_units=(16, 16))
    with pytest.raises(DataError, match="3 classes, the data 7"):
        T.evaluate_split(wrong, builtin_splits, "test")


def test_script_reports_bad_flags(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run(
        [sys.executable, "-m", "scripts.train_alexnet", f"--workdir={tmp_path}", "--config=testing",
         "--override=image_size=abc"], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300)
    assert res.returncode == 2
    assert "error: image_size: 'abc' is not a valid int" in res.stderr
