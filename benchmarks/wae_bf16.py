"""bf16 against float32 WAE transfer: ms/image at batch 1 and 64 and the change in content/style loss (JSON lines).

Restores a trained WAE twice, once in float32 and once under Keras' "mixed_bfloat16" policy
(bf16 convolutions and matmuls, float32 weights), transfers every content x style pair
with both, and scores both with the float32 model's VGG (wae_style.baselines). bf16 is worth
keeping for transfer only where it is faster and the losses do not move.

  .venv/bin/python -m benchmarks.wae_bf16 --workdir=WORKDIR --content=a.jpg --style=b.jpg
"""

import argparse

import numpy as np


def _restore(workdir, policy):
    import keras

    from wae_style import compare
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)  # Layers take the policy when they are built.
    try:
        config, model, _ = compare.restore(workdir)
    finally:
        keras.config.set_dtype_policy(previous)
    return config, model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="a trained WAE workdir")
    parser.add_argument("--content", action="append", required=True, help="content image file")
    parser.add_argument("--style", action="append", required=True, help="style image file")
    parser.add_argument("--batch", type=int, action="append", help="default: 1 and 64")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)

    import tensorflow as tf

    from benchmarks import timing
    from common.images import io as images_io
    from wae_style import baselines

    models = {p: _restore(args.workdir, p) for p in ("float32", "mixed_bfloat16")}
    config, ref = models["float32"]
    size = config.image_size
    c = np.stack([images_io.load_image(p, size) for p in args.content])
    s = np.stack([images_io.load_image(p, size) for p in args.style])
    ci, si = np.repeat(c, len(s), axis=0), np.tile(s, (len(c), 1, 1, 1))  # (P, S, S, 3) pairs
    extra = {"workdir": args.workdir, "content_dim": config.content_dim, **timing.machine()}
    spec = tf.TensorSpec([None, size, size, 3], tf.float32)
    outputs, speed = {}, {}
    for policy, (_, model) in models.items():
        fn = tf.function(lambda a, b, m=model: tf.cast(m.transfer(a, b), tf.float32),
                         input_signature=[spec, spec])
        outputs[policy] = fn(ci, si).numpy()
        rng = np.random.default_rng(0)
        for b in args.batch or [1, 64]:
            x = tf.constant(rng.uniform(size=(b, size, size, 3)).astype(np.float32))
            y = tf.constant(rng.uniform(size=(b, size, size, 3)).astype(np.float32))
            times = timing.time_reps(lambda: fn(x, y).numpy(), reps=args.reps, warmup=2)
            rec = timing.emit(f"wae_transfer_{policy}_batch{b}_ms_per_image", "ms/image",
                              [1000 * t / b for t in times], batch=b, **extra)
            speed[(policy, b)] = rec["median"]
    losses = {}
    for policy, images in outputs.items():
        cl, sl = baselines.content_style_losses(
            ref.vgg, images, ci, si, content_layers=config.content_feature_layers,
            style_layers=config.style_layers)
        losses[policy] = (float(np.mean(cl)), float(np.mean(sl)))
        timing.emit(f"wae_transfer_{policy}_content_loss", "VGG feature MSE", [losses[policy][0]],
                    pairs=len(ci), **extra)
        timing.emit(f"wae_transfer_{policy}_style_loss", "Gram MSE", [losses[policy][1]],
                    pairs=len(ci), **extra)
    (c32, s32), (c16, s16) = losses["float32"], losses["mixed_bfloat16"]
    diff = np.abs(outputs["float32"] - outputs["mixed_bfloat16"])
    timing.emit("wae_transfer_bf16_change", "relative", [abs(c16 - c32) / c32],
                content_loss_change=round((c16 - c32) / c32, 5),
                style_loss_change=round((s16 - s32) / s32, 5),
                max_pixel_diff=round(float(diff.max()), 4),
                mean_pixel_diff=round(float(diff.mean()), 5),
                speedup={b: round(speed[("float32", b)] / speed[("mixed_bfloat16", b)], 2)
                         for b in args.batch or [1, 64]}, **extra)


if __name__ == "__main__":
    main()
