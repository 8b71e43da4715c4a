"""Sketch RNN SavedModel export: encode, decode, sample and complete signatures in stroke-3 units."""

import dataclasses
import json
import pathlib

import tensorflow as tf

from common.errors import DataError
from common.exports import resolve_export
from common.training import checkpoints as checkpoints_lib
from common.training import layout
from common.training import workdir as workdir_lib
from sketch_rnn import losses
from sketch_rnn import sample as sample_lib
from sketch_rnn.configs import read_workdir_config
from sketch_rnn.model import SketchRNN

METADATA = "metadata.json"
DISCRETE_NOTE = ("sample, decode and complete take an optional float32 scalar "
                 "discrete_temperature dividing the mixture and pen logits; 0 (the default) "
                 "means the temperature itself, as the paper; @magenta/sketch uses "
                 "0.5 + 0.5 x temperature")


def discrete_rows(discrete_temperature, temperature, shape):
    """The sampler's (n,) discrete temperatures: the given value, or tau where it is 0 (or None).

    A negative or NaN value fails an assertion naming it.
    """
    if discrete_temperature is None:
        discrete_temperature = 0.0
    discrete_temperature = tf.cast(discrete_temperature, tf.float32)
    tf.debugging.assert_greater_equal(
        discrete_temperature, 0.0,
        message="discrete_temperature must be >= 0 (0: the temperature itself)")
    value = tf.where(discrete_temperature > 0.0, discrete_temperature, temperature)
    return tf.fill(shape, value)


def stroke3_to_input(strokes, lengths, scale):
    """Padded raw stroke-3 (B, N, 3) -> normalised stroke-5 (B, N + 1, 5) with S0, in TF ops."""
    strokes = tf.convert_to_tensor(strokes, tf.float32)
    lengths = tf.cast(lengths, tf.int32)
    b, n = tf.shape(strokes)[0], tf.shape(strokes)[1]
    real = tf.sequence_mask(lengths, n, dtype=tf.float32)[..., None]  # (B, N, 1)
    xy = strokes[..., :2] / scale * real
    lift = strokes[..., 2:3] * real
    body = tf.concat([xy, (1.0 - lift) * real, lift, 1.0 - real], axis=-1)  # (B, N, 5)
    start = tf.tile(tf.constant([[[0.0, 0.0, 1.0, 0.0, 0.0]]]), [b, 1, 1])  # (B, 1, 5)
    return tf.concat([start, body], axis=1), lengths


def with_end_row(strokes5):
    """(B, L, 5) stroke-5 -> (B, L + 1, 5) with an end-of-sketch row (0, 0, 0, 0, 1) appended."""
    end = tf.tile(tf.constant([[[0.0, 0.0, 0.0, 0.0, 1.0]]]), [tf.shape(strokes5)[0], 1, 1])
    return tf.concat([strokes5, end], axis=1)


def stroke5_to_stroke3(strokes5, lengths, scale):
    """Normalised stroke-5 (B, L, 5) -> raw stroke-3 (B, L, 3), zeroed after each length."""
    real = tf.sequence_mask(lengths, tf.shape(strokes5)[1], dtype=tf.float32)[..., None]
    out = tf.concat([strokes5[..., :2] * scale, strokes5[..., 3:4]], axis=-1)  # (B, L, 3)
    return out * real


class SketchRNNExport(tf.Module):
    """The exported inference surface. All strokes in and out are raw stroke-3 units.

    Args:
      model: a trained SketchRNN.
      config: its SketchRNNConfig.
      info: data info (scale_factor, class_names, ...).
    """

    def __init__(self, model, config, info):
        super().__init__(name="sketch_rnn")
        self.model = model
        self.sampler = sample_lib.Sampler(model, keep_model=False)
        self.conditional = bool(config.conditional)
        self.z_size = int(config.z_size)
        self.scale = tf.Variable(float(info["scale_factor"]), trainable=False, name="scale_factor")
        meta = {"model": "sketch_rnn", "config": config.to_dict(), "data": info,
                "signatures": self.signature_names(),
                "discrete_temperature": DISCRETE_NOTE,
                "units": "stroke-3 rows (dx, dy, lift) in the training data's raw units; the "
                         "model sees them divided by data.scale_factor (the normaliser)"}
        self.meta_text = json.dumps(meta, indent=2)  # A str: tf.Module would wrap a dict.
        self.metadata_json = tf.Variable(self.meta_text, trainable=False, name="metadata")

        f32, i32 = tf.float32, tf.int32
        scalar = lambda d, name: tf.TensorSpec([], d, name=name)  # noqa: E731
        strokes_spec = [tf.TensorSpec([None, None, 3], f32, name="strokes"),
                        tf.TensorSpec([None], i32, name="lengths")]
        # discrete_temperature is optional in the loaded functions (default 0: = temperature,
        # the paper's), so callers and exports from before it existed still agree.
        discrete = scalar(f32, "discrete_temperature")
        # The default is a tensor made here, not at import: a tensor made at import would
        # start TensorFlow's context before a training script configures it
        # (MultiWorkerMirroredStrategy must set up collective ops first).
        zero = tf.constant(0.0)

        def sample(n, temperature, seed, max_len, discrete_temperature=zero):
            return self._sample(n, temperature, seed, max_len, discrete_temperature)

        def complete(strokes, lengths, temperature, seed, max_len, discrete_temperature=zero):
            return self._complete(strokes, lengths, temperature, seed, max_len,
                                  discrete_temperature)

        def decode(z, temperature, seed, max_len, discrete_temperature=zero):
            return self._decode(z, temperature, seed, max_len, discrete_temperature)

        self.sample = tf.function(sample, input_signature=[
            scalar(i32, "n"), scalar(f32, "temperature"), scalar(i32, "seed"),
            scalar(i32, "max_len"), discrete])
        self.complete = tf.function(complete, input_signature=strokes_spec + [
            scalar(f32, "temperature"), scalar(i32, "seed"), scalar(i32, "max_len"), discrete])
        self.metadata = tf.function(self._metadata, input_signature=[])
        self.log_likelihood = tf.function(self._log_likelihood, input_signature=strokes_spec)
        self.mixture = tf.function(self._mixture, input_signature=strokes_spec)
        if self.conditional:
            self.encode = tf.function(self._encode, input_signature=strokes_spec)
            self.decode = tf.function(decode, input_signature=[
                tf.TensorSpec([None, self.z_size], f32, name="z"), scalar(f32, "temperature"),
                scalar(i32, "seed"), scalar(i32, "max_len"), discrete])

    def signature_names(self):
        names = ["sample", "complete", "log_likelihood", "mixture", "metadata"]
        return (["encode", "decode"] if self.conditional else []) + names

    def _metadata(self):
        return {"json": tf.identity(self.metadata_json)}

    def _encode(self, strokes, lengths):
        x, lengths = stroke3_to_input(strokes, lengths, self.scale)
        mu, presig = self.model.encode(x, lengths, training=False)
        return {"z": mu, "mu": mu, "presig": presig}

    def _teacher_forced(self, strokes, lengths):
        """The decoder's parameters along each sketch: (params, target (B, N + 1, 5), lengths).

        One padding row is appended so the end-of-sketch step of a full-length sketch is
        predicted too; a conditional model decodes with z = mu of the sketch itself.
        """
        x, lengths = stroke3_to_input(strokes, lengths, self.scale)  # (B, N + 1, 5)
        x = with_end_row(x)  # (B, N + 2, 5)
        inputs, target = x[:, :-1], x[:, 1:]  # (B, N + 1, 5) each
        z = None
        if self.conditional:
            z, _ = self.model.encode(target, lengths, training=False)
        params, _ = self.model.decode_sequence(inputs, z, training=False)
        return params, target, lengths

    def _log_likelihood(self, strokes, lengths):
        params, target, lengths = self._teacher_forced(strokes, lengths)
        return losses.sketch_nll(target, lengths, params)

    def _mixture(self, strokes, lengths):
        """Mixture and pen parameters at temperature 1 before each point and the end step."""
        params, _, _ = self._teacher_forced(strokes, lengths)
        return {"pen": tf.nn.softmax(params["pen_logits"]),
                "pi": tf.nn.softmax(params["pi_logits"]),
                "mu_x": params["mu_x"], "mu_y": params["mu_y"],
                "sigma_x": tf.exp(params["log_sigma_x"]),
                "sigma_y": tf.exp(params["log_sigma_y"]), "rho": params["rho"]}

    def _output(self, strokes5, lengths):
        return {"strokes": stroke5_to_stroke3(strokes5, lengths, self.scale), "lengths": lengths}

    def _decode(self, z, temperature, seed, max_len, discrete_temperature=None):
        shape = tf.shape(z)[:1]
        temps = tf.fill(shape, temperature)
        return self._output(*self.sampler.decode(
            z, temps, tf.cast(seed, tf.int64), max_len, tf.constant(False),
            discrete_rows(discrete_temperature, temperature, shape)))

    def _sample(self, n, temperature, seed, max_len, discrete_temperature=None):
        shape = tf.reshape(n, [1])
        temps = tf.fill(shape, temperature)
        return self._output(*self.sampler.sample(
            n, temps, tf.cast(seed, tf.int64), max_len, tf.constant(False),
            discrete_rows(discrete_temperature, temperature, shape)))

    def _complete(self, strokes, lengths, temperature, seed, max_len,
                  discrete_temperature=None):
        x, lengths = stroke3_to_input(strokes, lengths, self.scale)
        shape = tf.shape(lengths)
        temps = tf.fill(shape, temperature)
        strokes5, out_lengths = self.sampler.complete(
            x, lengths, temps, tf.cast(seed, tf.int64), max_len, tf.constant(False), True,
            discrete_rows(discrete_temperature, temperature, shape))
        return {"strokes": stroke5_to_stroke3(strokes5, out_lengths, self.scale),
                "lengths": out_lengths}


def fp32_copy(model, config):
    """(model, config) computing in fp32: `model` itself, or a copy of a bf16 one.

    Exports (and validation) always compute in fp32: sampling and scoring cost little, and
    a bf16 LSTM costs likelihood, 0.06 nats per point on Google's sheep (aaron_sheep's
    test split: 0.479 -> 0.541) and 0.43 on a bf16-trained fine-tune of it (-0.415 ->
    0.020 on the valid split; docs/sketch_rnn.md, "Evidence: precision").
    """
    if config.matmul_dtype == "float32":
        return model, config
    config = dataclasses.replace(config, matmul_dtype="float32")
    copy = SketchRNN(config)
    copy_weights(model, copy)
    return copy, config


def copy_weights(source, target):
    """Assigns every weight of `source` to the same weight of `target` (same architecture)."""
    if source is target:
        return
    if len(source.weights) != len(target.weights):
        raise ValueError(f"{len(source.weights)} weights to copy into {len(target.weights)}")
    for theirs, mine in zip(source.weights, target.weights):
        mine.assign(tf.convert_to_tensor(theirs))


def export(model, config, info, path):
    """Writes the SavedModel (computing in fp32) and a metadata.json beside it into `path`."""
    path = pathlib.Path(path)
    model, config = fp32_copy(model, config)
    module = SketchRNNExport(model, config, info)
    signatures = {name: getattr(module, name).get_concrete_function()
                  for name in module.signature_names()}
    # Inference needs no gradients; custom gradients of the fused recurrence are not saved.
    options = tf.saved_model.SaveOptions(experimental_custom_gradients=False)
    tf.saved_model.save(module, str(path), signatures=signatures, options=options)
    (path / METADATA).write_text(module.meta_text + "\n")
    return path


def load(path):
    """Loads an exported SavedModel (only from a path you trust: a SavedModel is code)."""
    return tf.saved_model.load(str(resolve_export(path)))


def export_checkpoint(workdir, out, checkpoint="best"):
    """Exports one checkpoint of a training run (by default the best on validation) to `out`.

    The trainer's own export/ follows the latest step; a run that went on past its best
    (the whole-pixel validation NLL on pixel data) keeps that model only in best/.

    Args:
        workdir: a Sketch RNN run (config.json, data.json, checkpoints/, best/).
        out: the SavedModel folder to write; an existing export there is replaced whole,
            any other existing folder is refused.
        checkpoint: "best", "latest", or a step number still kept in checkpoints/ or best/.

    Returns:
        (out path, the checkpoint path exported).

    Raises:
        DataError: no such run or checkpoint (the kept steps are named), or `out` is not an
            export.
    """
    workdir, out = pathlib.Path(workdir), pathlib.Path(out)
    config, _ = read_workdir_config(workdir)
    info = layout.read_data_info(workdir)
    path = checkpoints_lib.checkpoint_path(workdir, checkpoint)
    if out.exists() and not (out / "saved_model.pb").exists():
        raise DataError(f"{out} exists and is not an export; give a new folder")
    model = SketchRNN(config)  # Builds every weight, so the restore can be checked.
    try:
        tf.train.Checkpoint(model=model).restore(path).expect_partial().assert_existing_objects_matched()
    except (tf.errors.OpError, AssertionError, ValueError) as e:
        raise DataError(f"{path}: unreadable checkpoint ({str(e).splitlines()[0][:200]})") from None
    with workdir_lib.atomic_directory(out) as tmp:
        export(model, config, info, tmp)
    return out, path
