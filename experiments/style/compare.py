"""WAE transfers against Gatys (and optional peers) on the same VGG: losses, time per image, a grid."""

import dataclasses
import importlib.metadata
import json
import pathlib
import time

import numpy as np
import tensorflow as tf

from common.images import io as images_lib
from common.images import grid as render
from common.errors import DataError, WorkdirError
from common.files import display_path
from common import hardware
from common.training import checkpoints as checkpoints_lib
from common.training import layout
from experiments.style import baselines
from wae_style import checkerboard
from wae_style import configs
from experiments.style import peer as peer_lib
from wae_style import train
from wae_style.model import resolve_vgg_weights

# Settings that must agree between models compared on one VGG (the weights: see _vgg_identity).
_SHARED = ("vgg_seed", "image_size", "style_layers", "content_feature_layers")


def _vgg_identity(config):
    """What names a VGG's weights: the file's sha256 when known, else the setting."""
    return config.vgg_weights_sha256 or config.vgg_weights


def with_vgg_weights(config, vgg_weights, workdir):
    """`config` reading its VGG from `vgg_weights`, which must be the file it was trained with.

    Args:
      config: a workdir's WAEConfig.
      vgg_weights: "imagenet" or a weights file path (e.g. where the file is on this machine).
      workdir: for the messages.

    Raises:
      DataError: the workdir records no sha256 to check against, or another one.
    """
    if vgg_weights == config.vgg_weights:
        return config
    if not config.vgg_weights_sha256:
        raise DataError(
            f"--vgg_weights={vgg_weights}: {workdir} records no vgg_weights_sha256 (trained with "
            f"vgg_weights={config.vgg_weights!r}), so another weights file cannot be checked")
    sha, _ = resolve_vgg_weights(vgg_weights)
    if sha != config.vgg_weights_sha256:
        raise DataError(
            f"--vgg_weights={vgg_weights} has sha256 {sha}, but {workdir} was trained with "
            f"{config.vgg_weights} (sha256 {config.vgg_weights_sha256})")
    return dataclasses.replace(config, vgg_weights=vgg_weights)


def restore(workdir, vgg_weights=None):
    """(config, model, checkpoint path) from a WAE training workdir's config and latest checkpoint.

    Args:
      workdir: a WAE training workdir.
      vgg_weights: None (the recorded setting), or the same weights file elsewhere
        (checked by its sha256; see with_vgg_weights).
    """
    workdir = pathlib.Path(workdir)
    path = workdir / layout.CONFIG
    if not path.is_file():
        raise WorkdirError(f"{workdir} is not a WAE workdir: {path} is missing")
    try:
        config = configs.WAEConfig.from_dict(json.loads(path.read_text()))
    except ValueError as e:
        raise WorkdirError(f"{path}: not a WAE config ({e})") from e
    ckpt_path = checkpoints_lib.latest_checkpoint(workdir)
    if ckpt_path is None:
        raise WorkdirError(f"{workdir}/checkpoints holds no checkpoint; train first")
    if vgg_weights is not None:
        config = with_vgg_weights(config, vgg_weights, workdir)
    model, step, optimizer, _ = train.build(config, tf.distribute.get_strategy())
    tf.train.Checkpoint(model=model, optimizer=optimizer, step=step).restore(ckpt_path).expect_partial()
    return config, model, ckpt_path


def label(workdir, config):
    return f"WAE {pathlib.Path(workdir).name} (content_dim {config.content_dim})"


def compare(workdirs, contents, styles, iterations, out, progress=print, vgg_weights=None,
            peers=()):
    """Transfers every content x style pair with each WAE, Gatys and the peers; writes the report.

    Args:
      workdirs: one or more WAE training workdirs sharing the VGG (weights, seed, layers).
      contents, styles: image files; the pairs are content i x style j.
      iterations: Gatys optimisation steps per image.
      out: output folder for report.md, report.json and grid.png (rows: content, style,
        one row per WAE, Gatys, one per peer).
      progress: called with a line after each Gatys image and each peer.
      vgg_weights: None (each workdir's recorded VGG weights), or the same file at another
        path (checked against the recorded sha256).
      peers: extra methods from experiments.style.peer.PEERS, e.g. ("magenta",) (needs
        pip install '.[compare]'). A peer stylises at its own size (Magenta: 384 px, timed
        there); its output is resized to the WAE's size for the losses and the grid.

    Returns:
      The report dict (also written to report.json).
    """
    if isinstance(workdirs, (str, pathlib.Path)):
        workdirs = [workdirs]
    if not workdirs or not contents or not styles:
        raise ValueError("need at least one workdir, one content and one style image")
    out = pathlib.Path(out)
    methods = [(name, peer_lib.make(name)) for name in peers]  # Fails early when missing.
    models = [(str(w), *restore(w, vgg_weights)) for w in workdirs]
    config0, vgg = models[0][1], models[0][2].vgg
    for w, config, _, _ in models[1:]:
        for name in _SHARED:
            if getattr(config, name) != getattr(config0, name):
                raise ValueError(f"{w}: {name}={getattr(config, name)!r} differs from "
                                 f"{models[0][0]} ({getattr(config0, name)!r}); the models "
                                 "must share one VGG to be compared")
        if _vgg_identity(config) != _vgg_identity(config0):
            raise ValueError(f"{w}: vgg_weights={config.vgg_weights!r} (sha256 "
                             f"{config.vgg_weights_sha256 or 'unknown'}) differs from "
                             f"{models[0][0]} ({config0.vgg_weights!r}, sha256 "
                             f"{config0.vgg_weights_sha256 or 'unknown'}); the models must "
                             "share one VGG to be compared")
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
        seconds = (time.perf_counter() - t0) / len(pairs)
        name = label(w, config)
        # Each content as its own style: what the content code keeps at best (a floor for
        # the content loss) and whether the decoder alone adds the grid.
        recon = fn(c, c).numpy()
        rc, _ = baselines.content_style_losses(vgg, recon, c, c,
                                               content_layers=config.content_feature_layers,
                                               style_layers=config.style_layers)
        rows[name] = {"seconds_per_image": seconds, "size": size, "workdir": display_path(w),
                      "checkpoint": display_path(ckpt_path),
                      "reconstruction_content_loss": float(np.mean(rc)),
                      "reconstruction_checkerboard_ratio":
                          checkerboard.checkerboard_ratio(recon, c)}
        outputs.append((name, result))

    gatys_out, gatys_s = [], []
    for k, (a, b) in enumerate(zip(ci, si)):
        img, info = baselines.gatys_transfer(vgg, a, b, iterations=iterations)
        gatys_out.append(np.asarray(img))
        gatys_s.append(info["seconds"])
        progress(f"Gatys {k + 1}/{len(pairs)}: {info['seconds']:.1f} s")
    gatys_name = f"Gatys ({iterations} it.)"
    rows[gatys_name] = {"seconds_per_image": float(np.median(gatys_s)), "size": size}
    outputs.append((gatys_name, np.stack(gatys_out)))

    for name, method in methods:
        native = peer_lib.NATIVE_SIZE
        pc = np.stack([images_lib.load_image(contents[i], native) for i, _ in pairs])
        ps = np.stack([images_lib.load_image(styles[j], peer_lib.STYLE_SIZE) for _, j in pairs])
        result, seconds = method.transfer(pc, ps, size)
        rows[method.name] = {"seconds_per_image": seconds, "size": native,
                             "note": f"stylised at {native} px, resized to {size} px for losses"}
        outputs.append((method.name, result))
        progress(f"{name}: {len(pairs)} images, {seconds:.3f} s per image at {native} px")

    def losses(images):
        cl, sl = baselines.content_style_losses(vgg, images, ci, si,
                                                content_layers=config0.content_feature_layers,
                                                style_layers=config0.style_layers)
        return {"content_loss": float(np.mean(cl)), "style_loss": float(np.mean(sl)),
                "checkerboard_ratio": checkerboard.checkerboard_ratio(images, ci)}

    for name, images in outputs:
        rows[name].update(losses(images))
    rows["content image itself"] = losses(ci)

    out.mkdir(parents=True, exist_ok=True)
    stems = [pathlib.Path(p).stem[:12] for p in contents], [pathlib.Path(p).stem[:12] for p in styles]
    grid = render.labelled_grid(
        np.concatenate([ci, si] + [o for _, o in outputs]), ncols=len(pairs),
        row_labels=["content", "style"] + [_row_label(n) for n, _ in outputs],
        col_labels=[f"{stems[0][i]}\n{stems[1][j]}" for i, j in pairs])
    render.save_png(grid, out / "grid.png")
    report = {"workdirs": [display_path(w) for w, *_ in models], "pairs": len(pairs),
              "contents": [display_path(p) for p in contents],
              "styles": [display_path(p) for p in styles],
              "iterations": iterations, "vgg_weights": display_path(config0.vgg_weights),
              "vgg_weights_sha256": config0.vgg_weights_sha256, "peers": list(peers),
              "results": rows, "goals": goals(rows, gatys_name), "machine": machine(peers)}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown(report) + "\n")
    return report


def machine(peers=(), flags=None, model=None):
    """What the times and the peers' outputs were measured on (common.hardware.describe).

    Args:
      peers: the peer methods run (then the onnxruntime version is added).
      flags, model: CPU flags and model name to report instead of this machine's (tests).
    """
    out = hardware.describe(flags=flags, model=model)
    if peers:
        try:
            out["onnxruntime"] = importlib.metadata.version("onnxruntime")
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _row_label(name):
    """A grid row label: the method's name on lines of at most about 18 characters."""
    return name.replace(" (", "\n(")


# The goals for the best WAE at 64x64 (docs/wae_style.md): (key, description, test).
GOALS = (
    ("content", "content loss at most 2x Gatys'", lambda g: g["content_vs_gatys"] <= 2.0),
    ("style", "style loss at most 1.5x Gatys'", lambda g: g["style_vs_gatys"] <= 1.5),
    ("checkerboard", "checkerboard ratio within 10% of the content images' own (0.9-1.1)",
     lambda g: abs(g["checkerboard_ratio"] - 1.0) <= 0.1),
    ("speed", "at least 300x Gatys' speed", lambda g: g["speed_vs_gatys"] >= 300.0),
)


def goals(rows, gatys_name):
    """Each WAE's figures against Gatys and whether it meets each goal.

    Args:
      rows: the report's results ({method: {content_loss, style_loss, checkerboard_ratio,
        seconds_per_image}}); WAE rows are those whose name starts with "WAE".
      gatys_name: the Gatys row's name.

    Returns:
      {WAE name: {content_vs_gatys, style_vs_gatys, checkerboard_ratio, speed_vs_gatys,
      met: {goal key: bool}}}, and "best": the WAE meeting the most goals (ties: the
      lower content loss), or None without WAE rows.
    """
    g = rows[gatys_name]
    out = {}
    for name, r in rows.items():
        if not name.startswith("WAE"):
            continue
        figures = {"content_vs_gatys": r["content_loss"] / g["content_loss"],
                   "style_vs_gatys": r["style_loss"] / g["style_loss"],
                   "checkerboard_ratio": r["checkerboard_ratio"],
                   "speed_vs_gatys": g["seconds_per_image"] / r["seconds_per_image"]}
        if "reconstruction_content_loss" in r:
            figures["reconstruction_vs_gatys"] = r["reconstruction_content_loss"] / g["content_loss"]
        figures["met"] = {key: bool(test(figures)) for key, _, test in GOALS}
        out[name] = figures
    ranked = sorted(out, key=lambda n: (-sum(out[n]["met"].values()), rows[n]["content_loss"]))
    return {"models": out, "best": ranked[0] if ranked else None}


def markdown(report):
    """The report's table as markdown."""
    rows = report["results"]
    lines = [f"{report['pairs']} content x style pairs, VGG16 weights `{report['vgg_weights']}`, "
             f"{report['iterations']} Gatys iterations. Lower is better; losses are the mean VGG "
             "feature MSE to the content image and Gram MSE to the style image.", "",
             "| method | content loss | style loss | checkerboard ratio | seconds / image | at px |",
             "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        sec = f"{r['seconds_per_image']:.4f}" if "seconds_per_image" in r else "-"
        px = r.get("size", "-")
        cb = f"{r['checkerboard_ratio']:.3f}" if "checkerboard_ratio" in r else "-"
        lines.append(f"| {name} | {r['content_loss']:.4g} | {r['style_loss']:.4g} | {cb} | "
                     f"{sec} | {px} |")
    m = report.get("machine")
    if m:
        versions = ", ".join(f"{k} {m[k]}" for k in ("tensorflow", "onnxruntime") if m.get(k))
        cores = m.get("cores", m.get("cpu_count"))  # "cpu_count" in older reports.
        lines += ["", f"Measured on {m['cpu']} ({cores} cores; "
                  f"{' '.join(m['cpu_flags']) or 'none of ' + ' '.join(hardware.REPORTED_FLAGS)}), "
                  f"{versions}."]
    names = [n for n in rows if n != "content image itself"]
    lines += ["", f"Grid rows (`grid.png`): content, style, {', '.join(names)}.",
              "The checkerboard ratio is the outputs' share of spectral power at the "
              "upsamplers' periods (2, 4, 8 px) over the content images' share "
              "(wae_style.checkerboard); 1 means no added grid."]
    recon = [(n, r) for n, r in rows.items() if "reconstruction_content_loss" in r]
    if recon:
        lines += ["", "Each WAE with every content image as its own style (a reconstruction): "
                  "its content loss is the least the content code can give, and its "
                  "checkerboard ratio is the decoder's own grid.", "",
                  "| WAE | reconstruction content loss | / Gatys' stylised content loss | "
                  "reconstruction checkerboard ratio |", "|---|---|---|---|"]
        gatys = next((r for n, r in rows.items() if n.startswith("Gatys")), None)
        for name, r in recon:
            ratio = (f"{r['reconstruction_content_loss'] / gatys['content_loss']:.2f}x"
                     if gatys else "-")
            lines.append(f"| {name} | {r['reconstruction_content_loss']:.4g} | {ratio} | "
                         f"{r['reconstruction_checkerboard_ratio']:.3f} |")
    result = report.get("goals") or {}
    if result.get("models"):
        lines += ["", "Goals (met: yes / no):", "",
                  "| WAE | content / Gatys (<= 2) | style / Gatys (<= 1.5) | "
                  "checkerboard (0.9-1.1) | speed / Gatys (>= 300) |", "|---|---|---|---|---|"]
        for name, g in result["models"].items():
            met = {k: "yes" if v else "no" for k, v in g["met"].items()}
            best = " (best)" if name == result.get("best") else ""
            lines.append(f"| {name}{best} | {g['content_vs_gatys']:.2f}x: {met['content']} | "
                         f"{g['style_vs_gatys']:.2f}x: {met['style']} | "
                         f"{g['checkerboard_ratio']:.2f}: {met['checkerboard']} | "
                         f"{g['speed_vs_gatys']:.0f}x: {met['speed']} |")
    return "\n".join(lines)
