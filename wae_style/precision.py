"""Compute precision of WAE transfer: bf16 convolutions traced from float32 weights, and when to use them."""

import contextlib

from common.hardware import native_bf16

PRECISIONS = ("auto", "float32", "bfloat16")
BF16_POLICY = "mixed_bfloat16"  # bf16 convolutions and matmuls, float32 weights.
# Smallest batch for which "auto" picks bf16. On an avx512_bf16 CPU (AMD EPYC, 2 cores, quiet)
# bf16 transfer ran at 0.95x the float32 speed at batch 1, 1.28x at 16 and 1.64x at 64, with
# content and style losses within 1% (docs/benchmarks.md, benchmarks/wae_bf16.py).
BF16_MIN_BATCH = 16


@contextlib.contextmanager
def compute_policy(model, policy):
    """Inside, every layer of `model` computes under the Keras dtype policy `policy`.

    Weights stay float32 (a "mixed_*" policy casts them on use). A tf.function traced
    inside keeps this precision after the block; the model's own calls return to their
    policies.
    """
    layers = list(model._flatten_layers(include_self=True))
    saved = [layer.dtype_policy for layer in layers]
    try:
        for layer in layers:
            layer.dtype_policy = policy
        yield model
    finally:
        for layer, old in zip(layers, saved):
            layer.dtype_policy = old


def use_bf16(precision, batch, available=True, hardware=None):
    """Whether a transfer of `batch` images should run the bf16 signature.

    Args:
      precision: "float32" (never), "bfloat16" (always, where available) or "auto"
        (batches of at least BF16_MIN_BATCH on hardware with native bf16).
      batch: images in the call.
      available: whether the export has the bf16 signature.
      hardware: native bf16 or not; None asks this machine (common.hardware.native_bf16).

    Raises:
      ValueError: an unknown precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: use one of {PRECISIONS}")
    if precision == "float32" or not available:
        return False
    if precision == "bfloat16":
        return True
    if batch < BF16_MIN_BATCH:
        return False
    return native_bf16() if hardware is None else bool(hardware)
