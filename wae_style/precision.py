"""WAE compute precision: bf16 convolutions from float32 weights, and when (transfer, training)."""

import contextlib
import threading

from common.hardware import probe as precision_probe

PRECISIONS = ("auto", "float32", "bfloat16")
BF16_POLICY = "mixed_bfloat16"  # bf16 convolutions and matmuls, float32 weights.
# Smallest batch for which "auto" may pick bf16 (where it is measured faster). On an
# avx512_bf16 CPU (AMD EPYC, 2 cores, quiet) bf16 transfer ran at 0.95x the float32 speed at
# batch 1, 1.28x at 16 and 1.64x at 64, with content and style losses within 1%
# (docs/benchmarks.md, benchmarks/wae_bf16.py).
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


CONV_FIELDS = ("image_size", "decoder_channels", "num_res_blocks", "batch_size")  # decoder_conv's.


def decoder_conv(config, batch=None):
    """(batch, H, W, Cin, Cout) of the decoder's heaviest 3x3 conv, the one "auto" times.

    The subpixel convs (to 4x their channels) and the ResBlocks' convs, by FLOPs per
    image; a tie (the default's four subpixel convs) goes to the highest resolution.

    Args:
      config: a WAEConfig (image_size, decoder_channels, num_res_blocks, batch_size).
      batch: the batch to time; None: config.batch_size.
    """
    ch, size = config.decoder_channels, config.image_size // 16
    convs = [(size, ch[0], 4 * ch[1])]  # subpixel1, then its output at twice the size.
    size *= 2
    convs += [(size, ch[1], ch[1])] * min(config.num_res_blocks, 1)
    for cin, cout in zip(ch[1:], ch[2:]):  # subpixel2...
        convs.append((size, cin, 4 * cout))
        size *= 2
    size, cin, cout = max(convs, key=lambda c: (c[0] * c[0] * c[1] * c[2], c[0]))
    return (config.batch_size if batch is None else int(batch), size, size, cin, cout)


def auto_decision(config, batch=None, jit_compile=None):
    """The probe's Decision for "auto": the faster precision of decoder_conv(config, batch).

    Args:
      config: a WAEConfig.
      batch: the batch to time; None: config.batch_size.
      jit_compile: time under XLA or not; None: config.jit_compile.
    """
    jit = config.jit_compile if jit_compile is None else jit_compile
    return conv_decision(decoder_conv(config, batch), jit_compile=jit)


def conv_decision(conv, jit_compile=False):
    """The probe's Decision for one (batch, H, W, Cin, Cout) 3x3 conv."""
    return precision_probe.probe(convs=[tuple(conv)], jit_compile=jit_compile)


def describe_precision(config):
    """"Precision: <dtype> (<why>)." for the trainer's first lines."""
    if config.precision == "auto":
        decision = auto_decision(config)  # Measured once: training_dtype gets the same.
        return f'Precision: {decision.dtype} ("auto": {decision.why}).'
    return (f'Precision: {config.precision} (set explicitly, not measured; "auto" measures '
            "which is faster).")


def use_bf16(precision, batch, available=True, faster=None):
    """Whether a transfer of `batch` images should run the bf16 signature.

    Args:
      precision: "float32" (never), "bfloat16" (always, where available) or "auto"
        (batches of at least BF16_MIN_BATCH where bf16 is measured faster).
      batch: images in the call.
      available: whether the export has the bf16 signature.
      faster: whether bf16 is the faster precision here (auto_decision; StyleModel asks
        once, for its export's config); needed for "auto" at BF16_MIN_BATCH or more.

    Raises:
      ValueError: an unknown precision, or "auto" at such a batch without `faster`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: use one of {PRECISIONS}")
    if precision == "float32" or not available:
        return False
    if precision == "bfloat16":
        return True
    if batch < BF16_MIN_BATCH:
        return False
    if faster is None:
        raise ValueError('use_bf16("auto") needs faster= (see auto_decision)')
    return bool(faster)


def training_dtype(precision, config=None, faster=None):
    """The compute dtype of WAE training ("float32" or "bfloat16") for a config's precision.

    Args:
      precision: "float32", "bfloat16" or "auto" (the faster one here, measured on the
        config's decoder conv: auto_decision).
      config: the WAEConfig trained (for "auto" without `faster`).
      faster: whether bf16 is the faster precision here; None asks the probe.

    Raises:
      ValueError: an unknown precision, or "auto" with neither config nor faster.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: use one of {PRECISIONS}")
    if precision == "auto":
        if faster is None:
            if config is None:
                raise ValueError('training_dtype("auto") needs the config (or faster=)')
            return auto_decision(config).dtype
        return "bfloat16" if faster else "float32"
    return precision
