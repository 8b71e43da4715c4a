"""Gram matrices of feature maps, normalised by the number of spatial positions."""

import tensorflow as tf


@tf.custom_gradient
def _gram(flat):
    """(B, P, C) -> (B, C, C) float32 F^T F, with a one-matmul gradient F (dG + dG^T).

    The product is float32; the gradient is in flat's dtype (bf16 features get a bf16
    gradient, as the cast to float32 would give them).
    """
    full = flat if flat.dtype == tf.float32 else tf.cast(flat, tf.float32)

    def grad(d):
        sym = d + tf.transpose(d, (0, 2, 1))  # (B, C, C)
        return tf.matmul(flat, tf.cast(sym, flat.dtype))  # (B, P, C)

    return tf.matmul(full, full, transpose_a=True), grad


def gram_matrix(features):
    """Batched Gram matrix G_ij = sum_p F_pi F_pj / P, in float32.

    One batched matmul (B, P, C)^T (B, P, C); its gradient is one matmul too (autodiff of
    the product would make two). bf16 features are multiplied in float32, so the Gram
    terms and the style nets see float32 sums; their gradient is computed in bf16.

    Args:
        features: (B, H, W, C) feature maps.

    Returns:
        (B, C, C) float32 Gram matrices, divided by P = H * W.
    """
    features = tf.convert_to_tensor(features)
    if features.dtype not in (tf.float32, tf.bfloat16):
        features = tf.cast(features, tf.float32)
    shape = tf.shape(features)
    positions = shape[1] * shape[2]
    channels = features.shape[-1] if features.shape[-1] is not None else shape[3]
    flat = tf.reshape(features, (shape[0], positions, channels))  # (B, P, C)
    return _gram(flat) / tf.cast(positions, tf.float32)
