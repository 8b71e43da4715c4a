"""bf16 against float32 WAE transfer through the export: ms/image at batch 1 and 64 and the change in content/style loss (JSON lines).

Loads a trained WAE's export twice through the client (wae_style.client.StyleModel), with
precision "float32" (the `transfer` signature) and "bfloat16" (`transfer_bf16`: bf16
convolutions and matmuls, float32 weights), transfers every content x style pair with both,
and scores both with the workdir's float32 VGG (experiments.style.baselines). The client's "auto"
uses bf16 only where it is faster (wae_style.precision.BF16_MIN_BATCH) and the losses do
not move.

  .venv/bin/python -m benchmarks.wae_bf16 --workdir=WORKDIR --content=a.jpg --style=b.jpg
"""

import argparse

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="a trained WAE workdir")
    parser.add_argument("--content", action="append", required=True, help="content image file")
    parser.add_argument("--style", action="append", required=True, help="style image file")
    parser.add_argument("--batch", type=int, action="append", help="default: 1 and 64")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)

    from benchmarks import timing
    from common.images import io as images_io
    from experiments.style import baselines
    from experiments.style import compare
    from wae_style.client import StyleModel

    config, ref, _ = compare.restore(args.workdir)  # The float32 VGG for the losses.
    clients = {p: StyleModel(args.workdir, precision=p) for p in ("float32", "bfloat16")}
    size = config.image_size
    c = np.stack([images_io.load_image(p, size) for p in args.content])
    s = np.stack([images_io.load_image(p, size) for p in args.style])
    ci, si = np.repeat(c, len(s), axis=0), np.tile(s, (len(c), 1, 1, 1))  # (P, S, S, 3) pairs
    extra = {"workdir": args.workdir, "content_dim": config.content_dim, **timing.machine()}
    outputs, speed = {}, {}
    for policy, client in clients.items():
        outputs[policy] = client.transfer(ci, si)
        rng = np.random.default_rng(0)
        for b in args.batch or [1, 64]:
            x = rng.uniform(size=(b, size, size, 3)).astype(np.float32)
            y = rng.uniform(size=(b, size, size, 3)).astype(np.float32)
            times = timing.time_reps(lambda: client.transfer(x, y), reps=args.reps, warmup=2)
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
    (c32, s32), (c16, s16) = losses["float32"], losses["bfloat16"]
    diff = np.abs(outputs["float32"] - outputs["bfloat16"])
    timing.emit("wae_transfer_bf16_change", "relative", [abs(c16 - c32) / c32],
                content_loss_change=round((c16 - c32) / c32, 5),
                style_loss_change=round((s16 - s32) / s32, 5),
                max_pixel_diff=round(float(diff.max()), 4),
                mean_pixel_diff=round(float(diff.mean()), 5),
                speedup={b: round(speed[("float32", b)] / speed[("bfloat16", b)], 2)
                         for b in args.batch or [1, 64]}, **extra)


if __name__ == "__main__":
    main()
