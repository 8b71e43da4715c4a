"""WAE trainer: one-step run and its artefacts, export parity and portability, resume, VGG guard."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from common.errors import SketchStyleError
from tests.isolation import BLOCK_PACKAGE
from wae_style import configs
from wae_style import data
from wae_style import train


def _config(**kw):
    return dataclasses.replace(configs.testing(), **kw)


@pytest.fixture(scope="module")
def one_step_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("wae_one_step")
    config = _config(num_steps=1)
    train.train_and_evaluate(config, workdir)
    return config, workdir


def test_one_step_writes_checkpoint_events_export(one_step_run):
    config, workdir = one_step_run
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    assert list((workdir / "events" / "train").glob("events.out.tfevents.*"))
    assert list((workdir / "events" / "valid").glob("events.out.tfevents.*"))
    assert (workdir / "export" / "saved_model.pb").exists()
    assert json.loads((workdir / "config.json").read_text()) == config.to_dict()
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


def test_export_loads_without_the_package(one_step_run, tmp_path):
    _, workdir = one_step_run
    code = BLOCK_PACKAGE + textwrap.dedent(f"""
        import numpy as np, tensorflow as tf, json
        m = tf.saved_model.load({str(workdir / 'export')!r})
        x = np.random.default_rng(0).uniform(size=(2, 64, 64, 3)).astype('float32')
        out = m.transfer(content=x, style=x[:1], strength=np.float32(1.0))['images']
        zc = m.encode_content(images=x)['mean']
        zs = m.encode_style(images=x)['mean']
        dec = m.decode(z_content=zc, z_style=zs)['images']
        meta = json.loads(m.metadata()['json'].numpy())
        print('OK', out.shape, dec.shape, meta['model'])
    """)
    env = dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "OK (2, 64, 64, 3) (2, 64, 64, 3) wae_style" in res.stdout


def _state(workdir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(workdir / "checkpoints")))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if n != "_CHECKPOINTABLE_OBJECT_GRAPH" and not n.startswith("save_counter")}


def test_resume_equals_uninterrupted(tmp_path):
    train.train_and_evaluate(_config(num_steps=2, save_every=2, eval_every=2), tmp_path / "full")
    train.train_and_evaluate(_config(num_steps=1, save_every=1, eval_every=2), tmp_path / "split")
    train.train_and_evaluate(_config(num_steps=2, save_every=1, eval_every=2), tmp_path / "split")
    a, b = _state(tmp_path / "full"), _state(tmp_path / "split")
    assert a.keys() == b.keys() and a
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_unavailable_imagenet_weights_refuse_before_writing(tmp_path, monkeypatch):
    import keras

    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(keras.applications, "VGG16", no_network)
    monkeypatch.setattr(keras.utils, "get_file", no_network)  # How the trainer finds its hash.
    with pytest.raises(SketchStyleError, match="random"):
        train.train_and_evaluate(_config(vgg_weights="imagenet"), tmp_path)
    assert not (tmp_path / "config.json").exists()


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
