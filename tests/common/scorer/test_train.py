"""AlexNet scorer trainer: schedule and loss, batches, a one-step run, export, resume, TFDS, errors."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from common.scorer import export as alexnet_export
from common.scorer import data as scorer_data
from common.scorer import losses as scorer_losses
from common.scorer import evaluate as scorer_eval
from common.scorer import train as scorer_train
from common.scorer import raster as raster_tf
from common.strokes import dataset as stroke_data
from common.scorer.model import AlexNet
from common.scorer.configs import AlexNetConfig
from common.errors import DataError
from common.strokes import formats
from common.training import schedules
from tests.support import trainers

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _config(**kw):
    return dataclasses.replace(AlexNetConfig.testing(), **kw)


def _restore(config, workdir, num_classes):
    model = AlexNet(**config.model_kwargs(num_classes))
    model.build((None, config.image_size, config.image_size, 1))
    path = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    tf.train.Checkpoint(model=model).restore(path).expect_partial()
    return model


# ----------------------------------------------------------------------------- pure functions


def test_learning_rate_matches_numpy():
    steps = np.array([0, 1, 10, 1000, 50_000])
    got = schedules.learning_rate(tf.constant(steps), 1e-3, 0.9995, 1e-5).numpy()
    np.testing.assert_allclose(got, (1e-3 - 1e-5) * 0.9995 ** steps + 1e-5, rtol=1e-4)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_classification_loss_matches_numpy(eps):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 4)).astype(np.float32) * 3
    labels = np.array([0, 3, 1, 1, 2])
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    target = np.eye(4)[labels] * (1 - eps) + eps / 4
    want = -(target * logp).sum(axis=1).mean()
    np.testing.assert_allclose(scorer_losses.classification_loss(logits, labels, eps).numpy(), want,
                               rtol=1e-5)


def test_rotate_matches_rotating_absolute_points():
    rng = np.random.default_rng(1)
    s = rng.normal(size=(2, 6, 3)).astype(np.float32)
    s[..., 2] = rng.random((2, 6)) < 0.3
    angles = np.array([0.3, -1.2])
    out = scorer_data.rotate(s, angles)
    for i, a in enumerate(angles):
        r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        np.testing.assert_allclose(np.cumsum(out[i, :, :2], 0), np.cumsum(s[i, :, :2], 0) @ r.T,
                                   atol=1e-5)
    np.testing.assert_array_equal(out[..., 2], s[..., 2])


def test_shift_bitmaps():
    img = np.arange(2 * 5 * 5, dtype=np.uint8).reshape(2, 5, 5, 1) + 1
    out = scorer_data.shift_bitmaps(img, np.array([[2, -1], [0, 0]]))
    np.testing.assert_array_equal(out[0, :4, 2:], img[0, 1:, :3])
    assert out[0, :, :2].max() == 0 and out[0, 4].max() == 0
    np.testing.assert_array_equal(out[1], img[1])


def test_confusion_image_and_pad():
    img = scorer_eval.confusion_image(np.array([[3, 1], [0, 0]]), min_side=8)
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8
    assert img[0, 0, 0] == round(255 * 0.25) and img[0, 7, 0] == round(255 * 0.75)
    assert img[7, 7, 0] == 255  # A row without examples stays white.
    s, n = formats.pad_stroke3([np.ones((2, 3)), np.ones((4, 3))])
    assert s.shape == (2, 4, 3) and n.tolist() == [2, 4] and s[0, 2:].max() == 0


@pytest.fixture(scope="module")
def builtin_splits():
    c = AlexNetConfig.testing()
    return stroke_data.load_strokes(["builtin"], max_seq_len=c.max_seq_len, seed=0,
                                    builtin_per_class=10)


def test_stroke_batches_are_deterministic_and_resumable(builtin_splits):
    config = _config(batch_size=5)
    batches = scorer_data.make_batches(builtin_splits, config, "train", augment=True)
    a, b = batches.batch(3), scorer_data.make_batches(builtin_splits, config, "train").batch(3)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert a["strokes"].shape == (5, config.max_seq_len, 3) and a["shift"].shape == (5, 2)
    assert np.abs(a["shift"]).max() <= config.max_shift * config.image_size
    plain = scorer_data.make_batches(builtin_splits, config, "train", augment=False).batch(3)
    assert not np.allclose(plain["strokes"], a["strokes"]) and plain["shift"].max() == 0
    resumed = next(iter(batches.dataset(start_step=3)))
    for k in a:
        np.testing.assert_array_equal(resumed[k].numpy(), a[k])
    images = scorer_data.to_images({k: tf.constant(v) for k, v in a.items()}, config).numpy()
    assert images.shape == (5, 32, 32, 1) and images.max() > 0.5


# ----------------------------------------------------------------------------- one-step run


@pytest.fixture(scope="module")
def one_step_run(tmp_path_factory):
    return trainers.one_step_run(scorer_train.train_and_evaluate, _config(),
                                 tmp_path_factory, "alexnet_one_step")


def test_one_step_writes_artefacts(one_step_run):
    config, workdir, last = one_step_run
    trainers.check_run_artefacts(workdir, config, best=True)
    info = json.loads((workdir / "data.json").read_text())
    assert info["num_classes"] == 7 and info["num_train"] > 0
    assert "| class | n |" in (workdir / "test_report.md").read_text()
    metrics = json.loads((workdir / "test_metrics.json").read_text())
    assert 0 <= metrics["final"]["accuracy"] <= 1 and metrics["final"]["step"] == 1
    assert metrics["best"]["step"] == 1 and last["test_accuracy"] == metrics["final"]["accuracy"]
    assert np.isfinite(last["loss"]) and "grad_norm" in last and "lr" in last
    tags = trainers.summary_tags(workdir, "train") | trainers.summary_tags(
        workdir, "valid")
    assert {"loss", "accuracy", "lr", "grad_norm", "error_rate", "train_batch",
            "confusion"} <= tags


def test_export_matches_in_process_model(one_step_run, builtin_splits):
    config, workdir, _ = one_step_run
    loaded = tf.saved_model.load(str(workdir / "export"))
    model = _restore(config, workdir, 7)
    sketches = builtin_splits.test[:5]
    strokes, lengths = formats.pad_stroke3(sketches)
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
    a = scorer_eval.evaluate_split(loaded, builtin_splits, "test")
    b = scorer_eval.evaluate_split(model, builtin_splits, "test", config)
    c = scorer_eval.evaluate_split(workdir, builtin_splits, "test")
    assert a["accuracy"] == b["accuracy"] == c["accuracy"]
    np.testing.assert_array_equal(a["confusion"], b["confusion"])
    assert a["confusion"].sum() == len(builtin_splits.test)
    text = scorer_eval.report(a)
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
    out = trainers.run_export_without_package(workdir / "export", """
        out = m.score(strokes=tf.constant([[[0., 0., 0.], [5., 3., 1.]]]), lengths=tf.constant([2]))
        meta = json.loads(m.metadata()['json'].numpy())
        img = m.score_images(images=tf.zeros((2, meta['image_size'], meta['image_size'], 1)))
        print('OK', out['probs'].shape, out['embedding'].shape, img['probs'].shape, meta['model'])
    """, tmp_path)
    assert "OK (1, 7) (1, 16) (2, 7) alexnet" in out


def test_incompatible_config_is_refused(one_step_run):
    config, workdir, _ = one_step_run
    trainers.check_incompatible_config_refused(scorer_train.train_and_evaluate, config,
                                               workdir, dropout=0.1)


def test_resume_equals_uninterrupted(tmp_path, monkeypatch):
    trainers.skip_exports(monkeypatch, scorer_train.export_lib)
    a = trainers.check_resume_equals_uninterrupted(
        scorer_train.train_and_evaluate, _config, tmp_path, steps=3, prefix="model/",
        eval_every=10, log_every=10)
    assert any("moving_mean" in k for k in a)


def test_mirrored_strategy_two_cpus(tmp_path):
    assert len(tf.config.list_logical_devices("CPU")) == 2
    last = scorer_train.train_and_evaluate(_config(num_steps=2, strategy="mirrored", eval_every=2), tmp_path)
    assert np.isfinite(last["loss"]) and (tmp_path / "export" / "saved_model.pb").exists()


def test_test_data_replaces_the_test_split(sketches_dir, tmp_path):
    """Every drawing of test_data is the test set; classes match by name, others are left out."""
    raw = sketches_dir / "quickdraw_exupery_raw"
    simple = sketches_dir / "quickdraw_lamnguyen_simplified"
    data = (str(raw / "pig.ndjson"), str(raw / "fork.ndjson"))
    test_data = tuple(str(simple / f"{c}.ndjson") for c in ("fork", "ant", "pig"))
    config = _config(data=data, test_data=test_data, max_seq_len=250)
    splits = scorer_data.load_data(config)
    alone = stroke_data.load_strokes([test_data[0], test_data[2]], max_seq_len=250,
                                     valid_fraction=0.0, test_fraction=0.0)
    assert splits.class_names == ["pig", "fork"] and len(splits.test) == len(alone.train)
    fork = [s for s, lab in zip(alone.train, alone.train_labels)
            if alone.class_names[lab] == "fork"]
    assert int(np.sum(splits.test_labels == 1)) == len(fork)
    # Rescaled to the training data's normaliser: same raw drawing.
    np.testing.assert_allclose(splits.test[0][:, :2] * splits.scale_factor,
                               fork[0][:, :2] * alone.scale_factor, rtol=1e-5)
    assert any("ant" in note for note in splits.notes)
    run = scorer_train.train_and_evaluate(dataclasses.replace(config, num_steps=1), tmp_path / "r")
    metrics = json.loads((tmp_path / "r" / scorer_eval.TEST_METRICS).read_text())
    assert metrics["final"]["num_examples"] == len(splits.test) and "test_accuracy" in run
    info = json.loads((tmp_path / "r" / scorer_data.DATA_INFO).read_text())
    assert info["num_test"] == len(splits.test) and any("ant" in n for n in info["notes"])
    with pytest.raises(DataError, match="none of its classes"):
        scorer_data.load_data(_config(data=data, test_data=(str(simple / "ant.ndjson"),)))
    with pytest.raises(ValueError, match="test_data"):
        _config(tfds="quickdraw_bitmap", data=(), test_data=test_data)


# ----------------------------------------------------------------------------- TFDS


def test_quickdraw_bitmap_with_mock_data(tfds_offline, tmp_path):
    config = _config(tfds="quickdraw_bitmap", tfds_data_dir=str(tmp_path / "tfds"), data=(),
                     num_steps=1, tfds_max_examples=40)
    with tfds_offline.testing.mock_data(num_examples=60):
        splits = scorer_data.load_data(config)
        scorer_train.train_and_evaluate(config, tmp_path / "run")
    assert isinstance(splits, scorer_data.BitmapSplits) and len(splits.class_names) == 345
    n = len(splits.train) + len(splits.valid) + len(splits.test)
    assert n == 40 and splits.train.shape[1:] == (28, 28, 1) and splits.train.dtype == np.uint8
    batch = scorer_data.make_batches(splits, config).batch(0)
    assert batch["images"].shape == (4, 28, 28, 1)
    x = scorer_data.to_images({k: tf.constant(v) for k, v in batch.items()}, config)
    assert x.shape == (4, 32, 32, 1)
    assert 0 <= float(tf.reduce_min(x)) <= float(tf.reduce_max(x)) <= 1
    loaded = alexnet_export.load(tmp_path / "run")
    r = scorer_eval.evaluate_split(loaded, splits, "train")
    assert r["confusion"].shape == (345, 345) and r["num_examples"] == len(splits.train)
    info = json.loads((tmp_path / "run" / "data.json").read_text())
    assert info["source"] == "tfds:quickdraw_bitmap" and info["num_classes"] == 345


def test_quickdraw_bitmap_missing_is_a_data_error(tfds_offline, tmp_path):
    config = _config(tfds="quickdraw_bitmap", tfds_data_dir=str(tmp_path), data=())
    with pytest.raises(DataError, match="quickdraw_bitmap"):
        scorer_data.load_data(config)


# ----------------------------------------------------------------------------- errors, script


def test_bad_sources_and_splits(tmp_path, builtin_splits):
    with pytest.raises(DataError, match="not found"):
        scorer_data.load_data(_config(data=(str(tmp_path / "missing.ndjson"),)))
    empty = dataclasses.replace(builtin_splits, valid=[], valid_labels=np.zeros(0, np.int32))
    model = AlexNet(7, 32, conv_channels=(4, 8, 8, 8, 8), dense_units=(16, 16))
    with pytest.raises(DataError, match="split 'valid' is empty"):
        scorer_eval.evaluate_split(model, empty, "valid")
    with pytest.raises(DataError, match="unknown split"):
        scorer_eval.evaluate_split(model, builtin_splits, "dev")
    with pytest.raises(TypeError, match="expected an AlexNet"):
        scorer_eval.evaluate_split(object(), builtin_splits, "test")
    wrong = AlexNet(3, 32, conv_channels=(4, 8, 8, 8, 8), dense_units=(16, 16))
    with pytest.raises(DataError, match="3 classes, the data 7"):
        scorer_eval.evaluate_split(wrong, builtin_splits, "test")


def test_script_reports_bad_flags(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run(
        [sys.executable, "-m", "scripts.train_alexnet", f"--workdir={tmp_path}", "--config=testing",
         "--override=image_size=abc"], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300)
    assert res.returncode == 2
    assert "error: image_size: 'abc' is not a valid int" in res.stderr


def test_export_metadata_sizes_are_bounded():
    class Loaded:  # What tf.saved_model.load gives, with a hostile metadata signature.
        def __init__(self, meta):
            self.meta = meta

        def metadata(self):
            return {"json": tf.constant(json.dumps(self.meta))}

    assert alexnet_export.metadata(Loaded({"model": "alexnet", "image_size": 64}))["image_size"] == 64
    with pytest.raises(DataError, match=r"^scorer export metadata image_size 100000 is out of "
                                        r"range \(at most 8,192\)$"):
        alexnet_export.metadata(Loaded({"model": "alexnet", "image_size": 100_000}))
