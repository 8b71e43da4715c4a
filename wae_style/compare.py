"""WAE transfers against the Gatys baseline on the same VGG: content/style losses, time per image, a grid."""

import json
import pathlib
import time

import numpy as np
import tensorflow as tf

from common import images as images_lib
from common import render
from common.errors import WorkdirError
from wae_style import baselines
from wae_style import configs
from wae_style import train

# Settings that must agree between models compared on one VGG.
_SHARED = ("vgg_weights", "vgg_seed", "image_size", "style_layers", "content_feature_layers")


def restore(workdir):
    """(config, model, checkpoint path) from a WAE training workdir's config and latest checkpoint."""
    workdir = pathlib.Path(workdir)
    path = workdir / "config.json"
    if not path.is_file():
        raise WorkdirError(f"{workdir} is not a WAE workdir: {path} is missing")
    try:
        config = configs.WAEConfig.from_dict(json.loads(path.read_text()))
    except ValueError as e:
        raise WorkdirError(f"{path}: not a WAE config ({e})") from e
    ckpt_path = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    if ckpt_path is None:
        raise WorkdirError(f"{workdir}/checkpoints holds no checkpoint; train first")
    model, step, optimizer, _ = train.build(config, tf.distribute.get_strategy())
    tf.train.Checkpoint(model=model, optimizer=optimizer, step=step).restore(ckpt_path).expect_partial()
    return config, model, ckpt_path


def label(workdir, config):
    return f"WAE {pathlib.Path(workdir).name} (content_dim {config.content_dim})"


def compare(workdirs, contents, styles, iterations, out, progress=print):
    """Transfers every content x style pair with each WAE and with Gatys; writes the report.

    Args:
      workdirs: one or more WAE training workdirs sharing the VGG (weights, seed, layers).
      contents, styles: image files; the pairs are content i x style j.
      iterations: Gatys optimisation steps per image.
      out: output folder for report.md, report.json and grid.png (rows: content, style,
        one row per WAE, Gatys).
      progress: called with a line after each Gatys image.

    Returns:
      The report dict (also written to report.json).
    """
    if isinstance(workdirs, (str, pathlib.Path)):
        workdirs = [workdirs]
    if not workdirs or not contents or not styles:
        raise ValueError("need at least one workdir, one content and one style image")
    out = pathlib.Path(out)
    models = [(str(w), *restore(w)) for w in workdirs]
    config0, vgg = models[0][1], models[0][2].vgg
    for w, config, _, _ in models[1:]:
        for name in _SHARED:
            if getattr(config, name) != getattr(config0, name):
                raise ValueError(f"{w}: {name}={getattr(config, name)!r} differs from "
                                 f"{models[0][0]} ({getattr(config0, name)!r}); the models "
                                 "must share one VGG to be compared")
    size = config0.image_size
    c = np.stack([images_lib.load_image(p, size) for p in contents])
    s = np.stack([images_lib.load_image(p, size) for p in styles])
    pairs = [(i, j) for i in range(len(c)) for j in range(len(s))]
    ci, si = c[[i for i, _ in pairs]], s[[j for _, j in pairs]]  # (P, H, W, 3)

    spec = tf.TensorSpec([None, size, size, 3], tf.float32)
    outputs, rows = [], {}
    for w, config, model, ckpt_path in models:
        fn = tf.function(lambda a, b, m=model: m.transfer(a, b), input_signature=[spec, spec])
        fn(ci, si)  # Trace and warm up once.
        t0 = time.perf_counter()
        result = fn(ci, si).numpy()
        name = label(w, config)
        rows[name] = {"seconds_per_image": (time.perf_counter() - t0) / len(pairs),
                      "workdir": w, "checkpoint": ckpt_path}
        outputs.append((name, result))

    gatys_out, gatys_s = [], []
    for k, (a, b) in enumerate(zip(ci, si)):
        img, info = baselines.gatys_transfer(vgg, a, b, iterations=iterations)
        gatys_out.append(np.asarray(img))
        gatys_s.append(info["seconds"])
        progress(f"Gatys {k + 1}/{len(pairs)}: {info['seconds']:.1f} s")
    gatys_name = f"Gatys ({iterations} it.)"
    rows[gatys_name] = {"seconds_per_image": float(np.median(gatys_s))}
    outputs.append((gatys_name, np.stack(gatys_out)))

    def losses(images):
        cl, sl = baselines.content_style_losses(vgg, images, ci, si,
                                                content_layers=config0.content_feature_layers,
                                                style_layers=config0.style_layers)
        return {"content_loss": float(np.mean(cl)), "style_loss": float(np.mean(sl))}

    for name, images in outputs:
        rows[name].update(losses(images))
    rows["content image itself"] = losses(ci)

    out.mkdir(parents=True, exist_ok=True)
    grid = render.image_grid(np.concatenate([ci, si] + [o for _, o in outputs]), ncols=len(pairs))
    render.save_png(grid, out / "grid.png")
    report = {"workdirs": [w for w, *_ in models], "pairs": len(pairs),
              "contents": [str(p) for p in contents], "styles": [str(p) for p in styles],
              "iterations": iterations, "vgg_weights": config0.vgg_weights, "results": rows}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown(report) + "\n")
    return report


def markdown(report):
    """The report's table as markdown."""
    rows = report["results"]
    lines = [f"{report['pairs']} content x style pairs, VGG16 weights `{report['vgg_weights']}`, "
             f"{report['iterations']} Gatys iterations. Lower is better; losses are the mean VGG "
             "feature MSE to the content image and Gram MSE to the style image.", "",
             "| method | content loss | style loss | seconds / image |", "|---|---|---|---|"]
    for name, r in rows.items():
        sec = f"{r['seconds_per_image']:.4f}" if "seconds_per_image" in r else "-"
        lines.append(f"| {name} | {r['content_loss']:.4g} | {r['style_loss']:.4g} | {sec} |")
    names = [n for n in rows if n != "content image itself"]
    lines += ["", f"Grid rows (`grid.png`): content, style, {', '.join(names)}."]
    return "\n".join(lines)
