"""Same seed and config, two runs on CPU: the training losses must agree bit for bit."""

import dataclasses
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

REPO = pathlib.Path(__file__).resolve().parents[2]


def sketch_losses(n_steps, seed=0):
    """Losses of the first n_steps Sketch RNN training steps (testing config), via the
    trainer's own build, pipeline and replica step."""
    from sketch_rnn import configs, data, train

    config = dataclasses.replace(configs.SketchRNNConfig.testing(), seed=seed)
    splits = data.load(config)
    model, step, optimizer = train.build(config, tf.distribute.get_strategy())
    replica_step = train.make_replica_step(model, optimizer, step, config)

    @tf.function
    def step_fn(batch):
        out = replica_step(batch)
        step.assign_add(1)
        return out["loss"], out["grad_norm"]

    pipe = data.train_pipeline(splits, config)
    losses = []
    for k in range(n_steps):
        batch = {key: tf.constant(v) for key, v in pipe.batch(k).items()}
        loss, norm = step_fn(batch)
        losses.append((loss.numpy(), norm.numpy()))
    return np.array(losses, dtype=np.float32)  # (n_steps, 2): loss, grad_norm


def wae_losses(n_steps, seed=0):
    """Losses of the first n_steps WAE training steps (testing config)."""
    from wae_style import configs, data, train

    config = dataclasses.replace(configs.WAEConfig.testing(), seed=seed)
    sources = data.load_sources(config)
    model, step, optimizer, disc = train.build(config, tf.distribute.get_strategy())
    replica_step = train.make_replica_step(model, optimizer, disc, step, config)

    @tf.function
    def step_fn(images):
        out = replica_step(images)
        step.assign_add(1)
        return out["loss"], out["grad_norm"]

    pipe = data.MixedPipeline(sources, config.batch_size, config.seed)
    it = iter(pipe.dataset(0))
    losses = []
    for _ in range(n_steps):
        loss, norm = step_fn(next(it))
        losses.append((loss.numpy(), norm.numpy()))
    return np.array(losses, dtype=np.float32)


def compare(a, b):
    """(bit-identical?, largest relative difference)."""
    same = np.array_equal(a.view(np.uint32), b.view(np.uint32))
    rel = float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-30)))
    return same, rel


def test_sketch_rnn_losses_bit_identical(record):
    t0 = time.monotonic()
    a, b = sketch_losses(50), sketch_losses(50)
    same, rel = compare(a, b)
    record("determinism_sketch_rnn", steps=50, bit_identical=same, max_rel_diff=rel,
           first_losses=a[:3, 0].tolist(), seconds=round(time.monotonic() - t0, 1))
    assert np.all(np.isfinite(a))
    assert same, (rel, np.flatnonzero(np.any(a != b, axis=1))[:5])
    # A different seed really changes them (the check is not vacuous).
    assert not np.array_equal(sketch_losses(3, seed=1), a[:3])


@pytest.mark.slow
def test_wae_losses_bit_identical(record):
    t0 = time.monotonic()
    a, b = wae_losses(50), wae_losses(50)
    same, rel = compare(a, b)
    record("determinism_wae", steps=50, bit_identical=same, max_rel_diff=rel,
           seconds=round(time.monotonic() - t0, 1))
    assert np.all(np.isfinite(a))
    assert same, (rel, np.flatnonzero(np.any(a != b, axis=1))[:5])


CHILD = """
import json, sys
from tests.reliability.test_determinism import sketch_losses, wae_losses
fn = {"sketch_rnn": sketch_losses, "wae_style": wae_losses}[sys.argv[1]]
print(json.dumps(fn(int(sys.argv[2])).tolist()))
"""


@pytest.mark.slow
@pytest.mark.parametrize("model, fn", [("sketch_rnn", sketch_losses), ("wae_style", wae_losses)])
def test_losses_bit_identical_across_processes(model, fn, record):
    """A fresh process (its own thread pools and op caches) gives the same 50 losses."""
    import json
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run([sys.executable, "-c", CHILD, model, "50"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    other = np.array(json.loads(res.stdout.strip().splitlines()[-1]), dtype=np.float32)
    mine = fn(50)
    same, rel = compare(mine, other)
    record("determinism_cross_process", model=model, steps=50, bit_identical=same,
           max_rel_diff=rel)
    assert same, rel
