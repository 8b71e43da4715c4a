"""WAE compute precision: bf16 convolutions from float32 weights, and when (transfer, training)."""

import contextlib
import threading

from common.hardware import native_bf16

PRECISIONS = ("auto", "float32", "bfloat16")
BF16_POLICY = "mixed_bfloat16"  # bf16 convolutions and matmuls, float32 weights.
# Smallest batch for which "auto" picks bf16. On an avx512_bf16 CPU (AMD EPYC, 2 cores, quiet)
# bf16 transfer ran at 0.95x the float32 speed at batch 1, 1.28x at 16 and 1.64x at 64, with
# content and style losses within 1% (docs/benchmarks.md, benchmarks/wae_bf16.py).
BF16_MIN_BATCH = 16
# Policies are per layer, shared by every thread: one block at a time sets them (replicas
# of a MirroredStrategy trace their steps in threads).
_POLICY_LOCK = threading.RLock()


@contextlib.contextmanager
def compute_policy(model, policy):
    """Inside, every layer of `model` computes under the Keras dtype policy `policy`.

    Weights stay float32 (a "mixed_*" policy casts them on use). A tf.function traced
    inside keeps this precision after the block; the model's own calls return to their
    policies. One thread at a time runs such a block.

    Args:
      model: a layer (with all its sublayers) or a list of layers (each with its own).
      policy: a Keras dtype policy name, e.g. BF16_POLICY.
    """
    roots = model if isinstance(model, (list, tuple)) else [model]
    with _POLICY_LOCK:
        layers, seen = [], set()
        for root in roots:
            for layer in root._flatten_layers(include_self=True):
                if id(layer) not in seen:
                    seen.add(id(layer))
                    layers.append(layer)
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


def training_dtype(precision, hardware=None):
    """The compute dtype of WAE training ("float32" or "bfloat16") for a config's precision.

    Args:
      precision: "float32", "bfloat16" or "auto" (bf16 on hardware with native bf16; an
        emulated bf16 convolution is slower than float32, so elsewhere float32).
      hardware: native bf16 or not; None asks this machine (common.hardware.native_bf16).

    Raises:
      ValueError: an unknown precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: use one of {PRECISIONS}")
    if precision == "auto":
        native = native_bf16() if hardware is None else bool(hardware)
        return "bfloat16" if native else "float32"
    return precision
