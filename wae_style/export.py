"""WAE SavedModel export: transfer, reconstruct, encode_content, encode_style and decode signatures."""

import json
import pathlib

import tensorflow as tf

from common.exports import resolve_export

METADATA = "metadata.json"


class WAEExport(tf.Module):
    """The exported inference surface. Images are float32 (B, S, S, 3) in [0, 1].

    Args:
      model: a trained WAEStyle.
      config: its WAEConfig.
    """

    def __init__(self, model, config):
        super().__init__(name="wae_style")
        self.model = model
        size = config.image_size
        meta = {"model": "wae_style", "config": config.to_dict(), "image_size": size,
                "vgg_weights": config.vgg_weights,
                "vgg_weights_sha256": config.vgg_weights_sha256,
                "signatures": ["transfer", "reconstruct", "encode_content", "encode_style",
                               "decode", "metadata"],
                "images": "float32 (B, S, S, 3) in [0, 1]; batches of 1 broadcast against N"}
        self.meta_text = json.dumps(meta, indent=2)  # A str: tf.Module would wrap a dict.
        self.metadata_json = tf.Variable(self.meta_text, trainable=False, name="metadata")
        img = lambda name: tf.TensorSpec([None, size, size, 3], tf.float32, name=name)  # noqa: E731
        self.transfer = tf.function(self._transfer, input_signature=[
            img("content"), img("style"), tf.TensorSpec([], tf.float32, name="strength")])
        self.reconstruct = tf.function(self._reconstruct, input_signature=[img("images")])
        self.encode_content = tf.function(self._encode_content, input_signature=[img("images")])
        self.encode_style = tf.function(self._encode_style, input_signature=[img("images")])
        self.decode = tf.function(self._decode, input_signature=[
            tf.TensorSpec([None, config.content_dim], tf.float32, name="z_content"),
            tf.TensorSpec([None, config.style_dim], tf.float32, name="z_style")])
        self.metadata = tf.function(self._metadata, input_signature=[])

    def _transfer(self, content, style, strength):
        return {"images": self.model.transfer(content, style, strength=strength)}

    def _reconstruct(self, images):
        return {"images": self.model(images, training=False, return_features=False)["recon"]}

    def _encode_content(self, images):
        mean, logvar = self.model.encode_content(images)
        return {"mean": mean, "logvar": logvar}

    def _encode_style(self, images):
        mean, logvar = self.model.encode_style(images)
        return {"mean": mean, "logvar": logvar}

    def _decode(self, z_content, z_style):
        return {"images": self.model.decode(z_content, z_style)}

    def _metadata(self):
        return {"json": tf.identity(self.metadata_json)}


def export(model, config, path):
    """Writes the SavedModel and metadata.json into `path`."""
    path = pathlib.Path(path)
    module = WAEExport(model, config)
    signatures = {name: getattr(module, name).get_concrete_function()
                  for name in json.loads(module.meta_text)["signatures"]}
    tf.saved_model.save(module, str(path), signatures=signatures)
    (path / METADATA).write_text(module.meta_text + "\n")
    return path


def resolve(path):
    """A SavedModel folder from a workdir or an export folder."""
    return resolve_export(path)


def load(path):
    """Loads an exported WAE (only from a path you trust: a SavedModel is code)."""
    return tf.saved_model.load(str(resolve(path)))
