"""The scorer's loss: softmax cross-entropy with label smoothing (a pure function)."""

import tensorflow as tf


def classification_loss(logits, labels, label_smoothing=0.0):
    """Mean softmax cross-entropy of integer labels, with optional label smoothing.

    Targets are (1 - eps) * one_hot + eps / C.

    Args:
      logits: (B, C) float.
      labels: (B,) int.
      label_smoothing: eps in [0, 1).

    Returns:
      scalar float32.
    """
    logits = tf.cast(logits, tf.float32)
    c = tf.shape(logits)[-1]
    target = tf.one_hot(tf.cast(labels, tf.int32), c)  # (B, C)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / tf.cast(c, tf.float32)
    return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(target, logits))
