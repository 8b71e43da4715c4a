"""Model fixtures shared by test modules: a random Sketch RNN batch and a WAE workdir as the trainer leaves it."""

import dataclasses
import json

import numpy as np
import tensorflow as tf

from sketch_rnn.configs import SketchRNNConfig
from sketch_rnn.model import SketchRNN
from wae_style import configs as wae_configs
from wae_style import train as wae_train


def make_batch(config, lengths, seed=0):
    """Random stroke-5 batch (B, T+1, 5) with S0 and (0,0,0,0,1) padding."""
    rng = np.random.default_rng(seed)
    t = config.max_seq_len
    strokes = np.zeros((len(lengths), t + 1, 5), np.float32)
    strokes[:, 0, 2] = 1.0
    for b, n in enumerate(lengths):
        strokes[b, 1:n + 1, :2] = rng.normal(size=(n, 2))
        lift = rng.random(n) < 0.2
        strokes[b, 1:n + 1, 2] = ~lift
        strokes[b, 1:n + 1, 3] = lift
        strokes[b, n + 1:, 4] = 1.0
    return {"strokes": strokes, "lengths": np.asarray(lengths, np.int32)}


def make_wae_workdir(path, **kw):
    """A WAE workdir as the trainer leaves it: config.json and a checkpoint of perturbed weights."""
    config = dataclasses.replace(wae_configs.WAEConfig.testing(), **kw)
    model, step, optimizer, _ = wae_train.build(config, tf.distribute.get_strategy())
    for v in model.generator_trainable_variables:
        v.assign(v + 0.01)
    step.assign(7)
    (path / "checkpoints").mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(config.to_dict()))
    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    tf.train.CheckpointManager(ckpt, str(path / "checkpoints"), 3).save(checkpoint_number=7)
    return model


def seeded_sketch_rnn(conditional=True):
    """A testing() SketchRNN (fp32) with seeded weights whose samples end within tens of steps.

    The pen bias favours drawing (0, 0, -2 on pen down, up, end) so samples are neither
    empty nor endless.
    """
    config = dataclasses.replace(SketchRNNConfig.testing(), conditional=conditional,
                                 matmul_dtype="float32")
    model = SketchRNN(config)
    rng = np.random.default_rng(0)
    for w in model.trainable_weights:
        w.assign(rng.normal(scale=0.4, size=w.shape).astype("float32"))
    bias = model.head.bias.numpy()
    bias[:3] = (0.0, 0.0, -2.0)
    model.head.bias.assign(bias)
    return model

