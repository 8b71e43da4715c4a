"""WAE SavedModel export: transfer (float32 and bf16), reconstruct, encode_content, encode_style, decode."""

import json
import pathlib

import tensorflow as tf

from common.exports import resolve_export
from wae_style import precision

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
                "signatures": ["transfer", "transfer_bf16", "reconstruct", "encode_content",
                               "encode_style", "decode", "metadata"],
                "transfer_bf16": f"transfer with bf16 convolutions ({precision.BF16_POLICY}); "
                                 f"the client uses it for batches >= {precision.BF16_MIN_BATCH} "
                                 "on CPUs with native bf16",
                "images": "float32 (B, S, S, 3) in [0, 1]; batches of 1 broadcast against N"}
        self.meta_text = json.dumps(meta, indent=2)  # A str: tf.Module would wrap a dict.
        self.metadata_json = tf.Variable(self.meta_text, trainable=False, name="metadata")
        img = lambda name: tf.TensorSpec([None, size, size, 3], tf.float32, name=name)  # noqa: E731
        self.transfer = tf.function(self._transfer, input_signature=[
            img("content"), img("style"), tf.TensorSpec([], tf.float32, name="strength")])
        self.transfer_bf16 = tf.function(self._transfer_bf16, input_signature=[
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

    def _transfer_bf16(self, content, style, strength):
        images = self.model.transfer(content, style, strength=strength)
        return {"images": tf.cast(images, tf.float32)}

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
    signatures = {}
    for name in json.loads(module.meta_text)["signatures"]:
        if name == "transfer_bf16":
            # Traced once under the bf16 policy. The attribute becomes that trace: saving
            # would otherwise retrace the tf.function under the model's float32 policy.
            with precision.compute_policy(model, precision.BF16_POLICY):
                signatures[name] = module.transfer_bf16.get_concrete_function()
            module.transfer_bf16 = signatures[name]
        else:
            signatures[name] = getattr(module, name).get_concrete_function()
    # Custom gradients are saved (40% of the save time) so that a loaded export can be
    # differentiated, e.g. to optimise a code against a loss.
    tf.saved_model.save(module, str(path), signatures=signatures)
    (path / METADATA).write_text(module.meta_text + "\n")
    return path


def resolve(path):
    """A SavedModel folder from a workdir or an export folder."""
    return resolve_export(path)


def load(path):
    """Loads an exported WAE (only from a path you trust: a SavedModel is code)."""
    return tf.saved_model.load(str(resolve(path)))
