"""Gram matrices of feature maps, normalised by the number of spatial positions."""

from keras import ops


def gram_matrix(features):
    """Batched Gram matrix G_ij = sum_p F_pi F_pj / P.

    Args:
        features: (B, H, W, C) feature maps.

    Returns:
        (B, C, C) Gram matrices, divided by P = H * W.
    """
    features = ops.convert_to_tensor(features)
    shape = ops.shape(features)
    b, c = shape[0], shape[-1]
    positions = shape[1] * shape[2]
    flat = ops.reshape(features, (b, positions, c))  # (B, P, C)
    gram = ops.einsum("bpi,bpj->bij", flat, flat)  # (B, C, C)
    return gram / ops.cast(positions, gram.dtype)
