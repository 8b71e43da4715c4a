"""AlexNet scorer SavedModel export: score (raw stroke-3, rasterised in-graph), score_images, metadata."""

import json
import pathlib

import tensorflow as tf

from common import limits
from common.scorer import raster as raster_tf
from common.exports import resolve_export

METADATA = "metadata.json"
SIGNATURES = ("score", "score_images", "metadata")


class AlexNetExport(tf.Module):
    """The exported scoring surface; loads with plain tf.saved_model.load.

    score(strokes (B, N, 3) float32 stroke-3, lengths (B,) int32) rasterises in the graph
    exactly as training did (common.scorer.raster, same size, line width and padding) and returns
    {"probs": (B, C) softmax, "embedding": (B, D) fc7 features}. Rows at or after a sketch's
    length are ignored; the coordinates may be raw or normalised (the raster fit removes
    scale). NaN / inf strokes, or lengths outside [0, N], fail with InvalidArgumentError.
    score_images takes (B, S, S, 1) float32 images in [0, 1] (1 = ink). metadata() returns
    {"json": ...} with class_names, the config and the raster settings.

    Args:
      model: a trained common.scorer.model.AlexNet.
      config: its AlexNetConfig.
      info: data info (class_names, counts, ...).
    """

    def __init__(self, model, config, info):
        super().__init__(name="alexnet_scorer")
        self.model = model
        self.size = int(config.image_size)
        self.line_width, self.padding = raster_tf.resolve(self.size, config.line_width,
                                                          config.padding)
        meta = {"model": "alexnet", "config": config.to_dict(), "data": info,
                "class_names": list(info["class_names"]), "image_size": self.size,
                "line_width": self.line_width, "padding": self.padding,
                "signatures": list(SIGNATURES),
                "input": "score: stroke-3 rows (dx, dy, lift), any units; score_images: "
                         "(B, S, S, 1) float32 in [0, 1], 1 = ink"}
        self.meta_text = json.dumps(meta)  # A str: tf.Module would wrap a dict attribute.
        self.metadata_json = tf.Variable(self.meta_text, trainable=False, name="metadata")
        self.score = tf.function(self._score, input_signature=[
            tf.TensorSpec([None, None, 3], tf.float32, name="strokes"),
            tf.TensorSpec([None], tf.int32, name="lengths")])
        self.score_images = tf.function(self._score_images, input_signature=[
            tf.TensorSpec([None, self.size, self.size, 1], tf.float32, name="images")])
        self.metadata = tf.function(self._metadata, input_signature=[])

    def _outputs(self, images):
        logits, features = self.model.classify(images, training=False)
        return {"probs": tf.nn.softmax(logits, axis=-1), "embedding": features}

    def _score(self, strokes, lengths):
        strokes = tf.debugging.assert_all_finite(strokes, "score: strokes hold NaN or inf")
        n = tf.shape(strokes)[1]
        checks = [
            tf.debugging.assert_equal(tf.shape(lengths)[0], tf.shape(strokes)[0],
                                      message="score: lengths and strokes differ in batch size"),
            tf.debugging.assert_non_negative(lengths, message="score: negative length"),
            tf.debugging.assert_less_equal(lengths, n,
                                           message="score: a length exceeds the strokes' rows")]
        with tf.control_dependencies(checks):
            images = raster_tf.rasterize_tf(strokes, lengths, self.size, self.line_width,
                                            self.padding)
        return self._outputs(images)

    def _score_images(self, images):
        return self._outputs(images)

    def _metadata(self):
        return {"json": tf.identity(self.metadata_json)}


def export(model, config, info, path):
    """Writes the SavedModel (signatures score, score_images, metadata) and metadata.json."""
    path = pathlib.Path(path)
    module = AlexNetExport(model, config, info)
    signatures = {name: getattr(module, name).get_concrete_function() for name in SIGNATURES}
    tf.saved_model.save(module, str(path), signatures=signatures)
    (path / METADATA).write_text(json.dumps(json.loads(module.meta_text), indent=2) + "\n")
    return path


def load(path):
    """Loads an exported scorer (a workdir or its export/ folder; only from a trusted path).

    Raises:
      DataError: `path` holds no SavedModel.
    """
    return tf.saved_model.load(str(resolve_export(path)))


def metadata(loaded):
    """The metadata dict of a loaded export; its sizes are bounded (DataError otherwise)."""
    meta = json.loads(loaded.metadata()["json"].numpy().decode("utf-8"))
    limits.check_fields(meta, "scorer export metadata")  # image_size sizes what is resized.
    return meta
