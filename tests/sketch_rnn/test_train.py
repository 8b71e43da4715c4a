"""Sketch RNN trainer: one-step run and its artefacts, exact resume, guards, strategies, export."""

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

from common.errors import WorkdirError
from sketch_rnn import configs
from sketch_rnn import train
from tests.isolation import BLOCK_PACKAGE

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config(**kw):
    return dataclasses.replace(configs.SketchRNNConfig.testing(), **kw)


def _weights(workdir):
    """Every checkpointed value (weights, optimiser slots, RNG states, step) by name."""
    path = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    reader = tf.train.load_checkpoint(path)
    names = sorted(n for n in reader.get_variable_to_shape_map()
                   if n != "_CHECKPOINTABLE_OBJECT_GRAPH" and not n.startswith("save_counter"))
    return {n: reader.get_tensor(n) for n in names}


@pytest.fixture(scope="module")
def one_step_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sketch_one_step")
    config = _config(num_steps=1)
    train.train_and_evaluate(config, workdir)
    return config, workdir


def test_one_step_writes_checkpoint_events_export(one_step_run):
    config, workdir = one_step_run
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    assert list((workdir / "events" / "train").glob("events.out.tfevents.*"))
    assert list((workdir / "events" / "valid").glob("events.out.tfevents.*"))
    assert (workdir / "export" / "saved_model.pb").exists()
    saved = json.loads((workdir / "config.json").read_text())
    assert saved == config.to_dict()
    assert not (workdir / ".lock").exists()


def test_export_matches_in_process_model(one_step_run):
    from sketch_rnn import export as export_lib
    from sketch_rnn import sample as sample_lib
    config, workdir = one_step_run
    loaded = tf.saved_model.load(str(workdir / "export"))
    model, step, optimizer = train.build(config, tf.distribute.get_strategy())
    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    ckpt.restore(tf.train.latest_checkpoint(str(workdir / "checkpoints"))).expect_partial()
    info = json.loads((workdir / "data.json").read_text())
    scale = info["scale_factor"]
    got = loaded.sample(n=3, temperature=0.7, seed=5, max_len=20)
    s5, lengths = sample_lib.sample(model, 3, 0.7, 5, 20)
    want = export_lib.stroke5_to_stroke3(s5, lengths, scale)
    np.testing.assert_array_equal(got["lengths"].numpy(), lengths.numpy())
    np.testing.assert_allclose(got["strokes"].numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


def test_export_loads_without_the_package(one_step_run, tmp_path):
    _, workdir = one_step_run
    code = BLOCK_PACKAGE + textwrap.dedent(f"""
        import tensorflow as tf, json
        m = tf.saved_model.load({str(workdir / 'export')!r})
        out = m.sample(n=2, temperature=0.5, seed=3, max_len=12)
        strokes = out['strokes'][:, :5]
        z = m.encode(strokes=strokes, lengths=tf.constant([5, 5]))['z']
        dec = m.decode(z=z, temperature=0.1, seed=1, max_len=12)
        comp = m.complete(strokes=strokes, lengths=tf.constant([5, 5]), temperature=0.5, seed=2, max_len=12)
        meta = json.loads(m.metadata()['json'].numpy())
        print('OK', out['strokes'].shape, dec['strokes'].shape, comp['strokes'].shape, meta['model'])
    """)
    env = dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "OK (2, 12, 3) (2, 12, 3) (2, 12, 3) sketch_rnn" in res.stdout


def test_resume_equals_uninterrupted(tmp_path):
    train.train_and_evaluate(_config(num_steps=3, save_every=3), tmp_path / "full")
    train.train_and_evaluate(_config(num_steps=2, save_every=1), tmp_path / "split")
    train.train_and_evaluate(_config(num_steps=3, save_every=1), tmp_path / "split")
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "split")
    assert a.keys() == b.keys() and a
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_incompatible_config_is_refused(one_step_run):
    config, workdir = one_step_run
    with pytest.raises(WorkdirError, match="different config"):
        train.train_and_evaluate(dataclasses.replace(config, dec_rnn_size=24), workdir)


def test_mirrored_strategy_two_cpus(tmp_path):
    assert len(tf.config.list_logical_devices("CPU")) == 2
    train.train_and_evaluate(_config(num_steps=2, strategy="mirrored"), tmp_path)
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multi_worker_two_processes(tmp_path):
    ports = [_free_port(), _free_port()]
    driver = textwrap.dedent(f"""
        import dataclasses, sys
        import numpy as np
        from common import training
        captured = {{}}
        orig = training.run
        def run(spec):
            out = orig(spec)
            captured['w'] = [v.numpy() for v in spec.trackables['model'].weights]
            return out
        training.run = run
        from sketch_rnn import configs, train
        config = dataclasses.replace(configs.SketchRNNConfig.testing(), num_steps=3,
                                     strategy='multi_worker', save_every=3, eval_every=3)
        train.train_and_evaluate(config, {str(tmp_path / 'run')!r})
        np.savez(sys.argv[1], *captured['w'])
    """)
    procs = []
    for i in range(2):
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                     "task": {"type": "worker", "index": i}}
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), TF_CPP_MIN_LOG_LEVEL="2",
                   PYTHONPATH=REPO)
        procs.append(subprocess.Popen(
            [sys.executable, "-c", driver, str(tmp_path / f"w{i}.npz")], cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=400)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-3000:]
    w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert len(w0.files) == len(w1.files) > 0
    for k in w0.files:
        np.testing.assert_array_equal(w0[k], w1[k])
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
    assert not (tmp_path / "run" / ".worker-1").exists()
