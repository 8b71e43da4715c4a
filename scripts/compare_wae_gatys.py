"""Compares WAE transfers with the Gatys baseline on the same VGG: content/style losses and time per image."""

import json
import pathlib
import time

import numpy as np
from absl import app
from absl import flags

from common import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A WAE training workdir (its config and latest checkpoint).",
                    required=True)
flags.DEFINE_multi_string("content", [], "Content image files (pairs are content i x style j).")
flags.DEFINE_multi_string("style", [], "Style image files.")
flags.DEFINE_integer("iterations", 200, "Gatys optimisation steps per image.")
flags.DEFINE_string("out", "wae_vs_gatys", "Output folder (report.md, report.json, grid.png).")


def compare(workdir, contents, styles, iterations, out):
    import tensorflow as tf

    from common import images as images_lib
    from common import render
    from wae_style import baselines
    from wae_style import configs
    from wae_style import train

    workdir, out = pathlib.Path(workdir), pathlib.Path(out)
    config = configs.WAEConfig.from_dict(json.loads((workdir / "config.json").read_text()))
    model, step, optimizer, _ = train.build(config, tf.distribute.get_strategy())
    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    path = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    ckpt.restore(path).expect_partial()
    c = np.stack([images_lib.load_image(p, config.image_size) for p in contents])
    s = np.stack([images_lib.load_image(p, config.image_size) for p in styles])
    pairs = [(i, j) for i in range(len(c)) for j in range(len(s))]
    ci, si = c[[i for i, _ in pairs]], s[[j for _, j in pairs]]

    spec = tf.TensorSpec([None, config.image_size, config.image_size, 3], tf.float32)
    fn = tf.function(lambda a, b: model.transfer(a, b), input_signature=[spec, spec])
    fn(ci, si)  # Trace and warm up once.
    t0 = time.perf_counter()
    wae_out = fn(ci, si).numpy()
    wae_s = (time.perf_counter() - t0) / len(pairs)

    gatys_out, gatys_s = [], []
    for a, b in zip(ci, si):
        img, info = baselines.gatys_transfer(model.vgg, a, b, iterations=iterations)
        gatys_out.append(np.asarray(img))
        gatys_s.append(info["seconds"])
    gatys_out = np.stack(gatys_out)

    rows = {}
    for name, outputs in (("WAE (one pass)", wae_out), (f"Gatys ({iterations} it.)", gatys_out)):
        cl, sl = baselines.content_style_losses(model.vgg, outputs, ci, si,
                                                content_layers=config.content_feature_layers,
                                                style_layers=config.style_layers)
        rows[name] = {"content_loss": float(np.mean(cl)), "style_loss": float(np.mean(sl))}
    rows["WAE (one pass)"]["seconds_per_image"] = wae_s
    rows[f"Gatys ({iterations} it.)"]["seconds_per_image"] = float(np.median(gatys_s))
    cl, sl = baselines.content_style_losses(model.vgg, ci, ci, si,
                                            content_layers=config.content_feature_layers,
                                            style_layers=config.style_layers)
    rows["content image itself"] = {"content_loss": float(np.mean(cl)), "style_loss": float(np.mean(sl))}

    out.mkdir(parents=True, exist_ok=True)
    grid = render.image_grid(np.concatenate([ci, si, wae_out, gatys_out]), ncols=len(pairs))
    render.save_png(grid, out / "grid.png")
    report = {"workdir": str(workdir), "checkpoint": path, "pairs": len(pairs),
              "contents": [str(p) for p in contents], "styles": [str(p) for p in styles],
              "vgg_weights": config.vgg_weights, "results": rows}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"{len(pairs)} content x style pairs, VGG16 weights `{config.vgg_weights}`, "
             f"checkpoint `{pathlib.Path(path).name}`. Lower is better; losses are the mean "
             "VGG feature MSE to the content image and Gram MSE to the style image.", "",
             "| method | content loss | style loss | seconds / image |", "|---|---|---|---|"]
    for name, r in rows.items():
        sec = f"{r['seconds_per_image']:.4f}" if "seconds_per_image" in r else "-"
        lines.append(f"| {name} | {r['content_loss']:.4g} | {r['style_loss']:.4g} | {sec} |")
    lines.append("")
    lines.append("Grid rows: content, style, WAE output, Gatys output (`grid.png`).")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return report


def main(argv):
    del argv
    cli.quiet_logging()
    cli.exit_on_error(compare, FLAGS.workdir, FLAGS.content, FLAGS.style, FLAGS.iterations,
                      FLAGS.out)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
