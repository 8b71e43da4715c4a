"""WAE trainer: one-step run and its artefacts, export parity and portability, resume, VGG guard."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from common.errors import SketchStyleError
from tests.support import trainers
from tests.support.precision import inject_decision
from wae_style import configs
from wae_style import data
from wae_style import precision
from wae_style import train
from wae_style import vgg_weights


def _config(**kw):
    return dataclasses.replace(configs.WAEConfig.testing(), **kw)


@pytest.fixture(scope="module")
def one_step_run(tmp_path_factory):
    return trainers.one_step_run(train.train_and_evaluate, _config(), tmp_path_factory,
                                 "wae_one_step")[:2]


def test_one_step_writes_checkpoint_events_export(one_step_run):
    config, workdir = one_step_run
    assert config.precision == "auto"  # config.json records what ran instead.
    recorded = json.loads((workdir / "config.json").read_text())["precision"]
    assert recorded == precision.training_dtype("auto", config)
    trainers.check_run_artefacts(workdir, dataclasses.replace(config, precision=recorded))
    assert {"loss", "recon", "mmd"} <= trainers.summary_tags(workdir, "train")
    meta = json.loads((workdir / "export" / "metadata.json").read_text())
    assert meta["vgg_weights"] == "random"


def test_export_matches_in_process_model(one_step_run):
    config, workdir = one_step_run
    loaded = tf.saved_model.load(str(workdir / "export"))
    model, step, optimizer, _ = train.build(config, tf.distribute.get_strategy())
    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    ckpt.restore(tf.train.latest_checkpoint(str(workdir / "checkpoints"))).expect_partial()
    contents = data.content_reference_images(config, 3)
    style = data.style_reference_images(config, 1)
    got = loaded.transfer(content=contents, style=style, strength=np.float32(1.0))["images"].numpy()
    want = model.transfer(contents, style).numpy()
    assert got.shape == (3, 64, 64, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    half = loaded.transfer(content=contents, style=style, strength=np.float32(0.5))["images"].numpy()
    np.testing.assert_allclose(half, model.transfer(contents, style, strength=0.5).numpy(),
                               rtol=1e-5, atol=1e-5)
    rec = loaded.reconstruct(images=contents)["images"].numpy()
    np.testing.assert_allclose(rec, model(contents)["recon"].numpy(), rtol=1e-5, atol=1e-5)
    # The export saves its custom gradients: differentiating through it equals the model.
    grads = []
    for fn in (lambda x: loaded.transfer(content=x, style=style, strength=np.float32(1.0))["images"],
               lambda x: model.transfer(x, style)):
        x = tf.constant(contents)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(fn(x)))
        grads.append(tape.gradient(loss, x).numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_export_loads_without_the_package(one_step_run, tmp_path):
    _, workdir = one_step_run
    out = trainers.run_export_without_package(workdir / "export", """
        x = np.random.default_rng(0).uniform(size=(2, 64, 64, 3)).astype('float32')
        out = m.transfer(content=x, style=x[:1], strength=np.float32(1.0))['images']
        zc = m.encode_content(images=x)['mean']
        zs = m.encode_style(images=x)['mean']
        dec = m.decode(z_content=zc, z_style=zs)['images']
        meta = json.loads(m.metadata()['json'].numpy())
        print('OK', out.shape, dec.shape, meta['model'])
    """, tmp_path)
    assert "OK (2, 64, 64, 3) (2, 64, 64, 3) wae_style" in out


def test_resume_equals_uninterrupted(tmp_path, monkeypatch):
    trainers.skip_exports(monkeypatch, train.export_lib)
    trainers.check_resume_equals_uninterrupted(train.train_and_evaluate, _config, tmp_path,
                                               steps=2, eval_every=2)


def test_incompatible_config_is_refused(one_step_run):
    config, workdir = one_step_run
    trainers.check_incompatible_config_refused(train.train_and_evaluate, config, workdir,
                                               content_dim=16)


def test_missing_imagenet_asset_refuses_before_writing(tmp_path, monkeypatch):
    monkeypatch.setattr(vgg_weights, "asset_path", lambda: str(tmp_path / "gone.npz"))
    with pytest.raises(SketchStyleError, match="vgg16_imagenet_notop.weights.h5"):
        train.train_and_evaluate(_config(vgg_weights="imagenet"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_run_from_before_subpixel_init_resumes_on_glorot(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(train, "_train", lambda config, workdir, sources, strategy, built:
                        seen.append((config, built[0])) or {})
    fresh, old = tmp_path / "fresh", tmp_path / "old"
    train.train_and_evaluate(_config(), fresh)
    assert json.loads((fresh / "config.json").read_text())["subpixel_init"] == "icnr"
    old.mkdir()
    before = {k: v for k, v in _config().to_dict().items() if k != "subpixel_init"}
    (old / "config.json").write_text(json.dumps(before))
    train.train_and_evaluate(_config(), old)
    assert json.loads((old / "config.json").read_text())["subpixel_init"] == "glorot"
    assert [c.subpixel_init for c, _ in seen] == ["icnr", "glorot"]
    assert [m.decoder.up1.init for _, m in seen] == ["icnr", "glorot"]


def test_image_folder_source_and_skips(tmp_path, images_dir):
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    config = _config(data=(str(images_dir / "style" / "magenta"), str(tmp_path)), mix=(3.0, 1.0))
    with pytest.raises(Exception, match="no readable images"):
        data.load_sources(config)
    config = _config(data=(str(images_dir / "style" / "magenta"), "builtin"), mix=(3.0, 1.0))
    sources = data.load_sources(config)
    pipe = data.MixedPipeline(sources, 8, seed=0)
    np.testing.assert_array_equal(pipe.batch(5), pipe.batch(5))
    first = next(iter(pipe.dataset(5))).numpy()
    np.testing.assert_array_equal(first, pipe.batch(5))
    assert pipe.batch(5).shape == (8, 64, 64, 3)


def test_export_bf16_transfer_and_the_client_choice(one_step_run, monkeypatch):
    from common import exports
    from common.errors import DataError
    from wae_style import precision
    from wae_style.client import StyleModel
    _, workdir = one_step_run
    loaded = tf.saved_model.load(str(workdir / "export"))
    rng = np.random.default_rng(1)
    c, s = (rng.uniform(size=(2, 64, 64, 3)).astype(np.float32) for _ in range(2))
    t = tf.constant(1.0)
    full = loaded.transfer(content=c, style=s, strength=t)["images"].numpy()
    low = loaded.transfer_bf16(content=c, style=s, strength=t)["images"]
    assert low.dtype == tf.float32
    assert 0 < np.abs(low.numpy() - full).max() < 0.05  # bf16 convolutions, same weights.

    forced = StyleModel(workdir, precision="bfloat16")
    assert forced.uses_bf16(1) and forced.info()["bf16_transfer"]
    np.testing.assert_allclose(forced.transfer(c, s), np.clip(low.numpy(), 0, 1), atol=1e-6)
    np.testing.assert_allclose(StyleModel(workdir, precision="float32").transfer(c, s),
                               np.clip(full, 0, 1), atol=1e-6)
    for dtype in ("bfloat16", "float32"):  # What the probe measures, injected.
        calls = inject_decision(monkeypatch, dtype)
        auto = StyleModel(workdir)
        assert not auto.uses_bf16(precision.BF16_MIN_BATCH - 1)
        assert auto.uses_bf16(precision.BF16_MIN_BATCH) == (dtype == "bfloat16")
        # Asked once, of the export's decoder at the client's batch, not XLA-compiled.
        config = configs.WAEConfig.from_dict(auto.meta["config"])
        assert calls == [((), (precision.decoder_conv(config, auto.batch_size),), False)]
    assert StyleModel(workdir, batch_size=8).uses_bf16(8) is False and len(calls) == 1
    auto.meta = {"config": {"image_size": 64}}  # An export without the decoder's sizes:
    assert auto._measure_bf16() is False and len(calls) == 1  # float32, nothing timed.
    with pytest.raises(DataError, match="precision='fp8'"):
        StyleModel(workdir, precision="fp8")

    # An export from before the bf16 signature: float32 always, and a clear error if forced.
    real = exports.load_export

    def old_export(path, kind):
        path, model, meta = real(path, kind)
        meta = dict(meta, signatures=[n for n in meta["signatures"] if n != "transfer_bf16"])
        return path, model, meta

    monkeypatch.setattr(exports, "load_export", old_export)
    assert not StyleModel(workdir).uses_bf16(1000)
    with pytest.raises(DataError, match="no bf16 transfer"):
        StyleModel(workdir, precision="bfloat16")
