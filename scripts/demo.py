"""The end-to-end demo: train small Sketch RNN and WAE models on built-in data, export them, build a gallery."""

import dataclasses
import pathlib
import time

import numpy as np
from absl import app
from absl import flags

from common import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("out", "demo_out", "Output folder (workdirs, exports and gallery/).")
flags.DEFINE_multi_string("data_dir", None, "Stroke sources for Sketch RNN (default: builtin).")
flags.DEFINE_multi_string("image_dir", None, "Image folders for the WAE (default: builtin).")
flags.DEFINE_integer("sketch_steps", 400, "Sketch RNN training steps.")
flags.DEFINE_integer("wae_steps", 300, "WAE training steps.")
flags.DEFINE_bool("quick", False, "Tiny models and a handful of steps (a smoke test).")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("vgg_weights", "random",
                    "The WAE's VGG16: 'random' (seeded, works offline; its style features are not "
                    "ImageNet's), a VGG16 weights file, e.g. "
                    "../shared/data/weights/vgg16_imagenet_notop.weights.h5, or 'imagenet'.")


def sketch_config(sources, steps, quick, seed):
    from sketch_rnn import configs
    if quick:
        base = configs.SketchRNNConfig.testing()
        return dataclasses.replace(base, data=sources, max_seq_len=64, num_steps=steps,
                                   save_every=steps, eval_every=steps, seed=seed)
    return dataclasses.replace(
        configs.SketchRNNConfig.default(), data=sources, max_seq_len=64, batch_size=64,
        enc_rnn_size=64, dec_rnn_size=256, z_size=32, num_mixture=10,
        kl_weight=0.25, kl_decay_rate=0.999, decay_rate=0.9995, num_steps=steps,
        save_every=max(steps // 2, 1), eval_every=max(steps // 4, 1), log_every=25,
        jit_compile=True, seed=seed)


def wae_config(sources, steps, quick, seed, vgg_weights="random"):
    from wae_style import configs
    base = dataclasses.replace(configs.testing(), vgg_weights=vgg_weights)
    if quick:
        return dataclasses.replace(base, data=sources, num_steps=steps, save_every=steps,
                                   eval_every=steps, seed=seed)
    return dataclasses.replace(
        base, data=sources, content_dim=64, style_dim_per_layer=32,
        encoder_channels=(8, 32, 64, 128, 128), decoder_channels=(256, 128, 64, 32, 32),
        num_res_blocks=1, style_hidden=(64,), batch_size=16, num_steps=steps,
        learning_rate=3e-4,  # 300 steps: val. recon 0.104 against 0.112 at 1e-4; 1e-3 dies.
        save_every=max(steps // 2, 1), eval_every=max(steps // 3, 1), log_every=25, seed=seed)


def _unpad(out):
    strokes, lengths = out["strokes"].numpy(), out["lengths"].numpy()
    return [s[:n] for s, n in zip(strokes, lengths)]


def _pad(sketches):
    n = max(len(s) for s in sketches)
    x = np.zeros((len(sketches), n, 3), np.float32)
    for i, s in enumerate(sketches):
        x[i, :len(s)] = s
    return x, np.array([len(s) for s in sketches], np.int32)


def sketch_gallery(gallery, export_dir, splits, seed, max_len):
    """Samples, reconstructions, completions and interpolations from the exported model."""
    import tensorflow as tf
    from sketch_rnn import sample as sample_lib

    m = tf.saved_model.load(str(export_dir))
    for t in (0.1, 0.5, 0.9):
        out = m.sample(n=8, temperature=t, seed=seed, max_len=max_len)
        gallery.add_sketches("Sketch RNN: unconditional samples", f"samples_tau_{t:g}",
                             _unpad(out), ncols=8, caption=f"8 samples at temperature {t}")
    test = [s * splits.scale_factor for s in (splits.test or splits.train)]
    labels = splits.test_labels if splits.test else splits.train_labels
    picks = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)][:6]
    inputs = [test[i] for i in picks]
    x, lengths = _pad(inputs)
    z = m.encode(strokes=x, lengths=lengths)["z"]
    recon = _unpad(m.decode(z=z, temperature=0.1, seed=seed, max_len=max_len))
    gallery.add_sketches("Sketch RNN: reconstructions", "reconstructions",
                         [s for pair in zip(inputs, recon) for s in pair], ncols=2,
                         caption="held-out sketches (left) and their reconstructions at tau 0.1")
    rows = []
    for s in inputs[:4]:
        half = s[:max(2, len(s) // 2)]
        px, pl = _pad([half] * 3)
        cont = _unpad(m.complete(strokes=px, lengths=pl, temperature=0.5, seed=seed,
                                 max_len=max_len))
        rows += [s, half] + [np.concatenate([half, c]) for c in cont]
    gallery.add_sketches("Sketch RNN: completions", "completions", rows, ncols=5,
                         caption="each row: a held-out sketch, its first half, and three "
                                 "completions of that half at tau 0.5")
    za, zb = z.numpy()[0], z.numpy()[min(1, len(inputs) - 1)]
    for method in ("linear", "slerp"):
        path = sample_lib.interpolate_latents(za, zb, 10, method=method)
        strip = _unpad(m.decode(z=path, temperature=0.1, seed=seed, max_len=max_len))
        gallery.add_sketches("Sketch RNN: latent interpolation", f"interpolation_{method}", strip,
                             ncols=10, caption=f"{method} interpolation between two encoded "
                                               "sketches, decoded at tau 0.1")


def vgg_caption(config):
    """What the gallery says about the WAE's VGG16."""
    if config.vgg_weights == "random":
        return ("VGG16: seeded random weights, not ImageNet (run with --vgg_weights=FILE for "
                "the real VGG16), so the style features are only a smoke test")
    return f"VGG16 weights: {config.vgg_weights}"


def wae_gallery(gallery, export_dir, config, sources):
    """Reconstructions and a content x style transfer grid from the exported WAE."""
    import tensorflow as tf
    from common import render
    from wae_style import data as wae_data

    m = tf.saved_model.load(str(export_dir))
    contents = sources.eval_images(5)
    if contents is None:
        contents = wae_data.content_reference_images(config, 5)
    styles = wae_data.style_reference_images(config, 5, seed=config.seed + 1)
    recon = m.reconstruct(images=contents)["images"].numpy()
    gallery.add_images("WAE: reconstructions", "wae_reconstructions",
                       np.concatenate([contents, recon]), ncols=len(contents),
                       caption="held-out images (top) and reconstructions from their own "
                               "content and style latents (bottom)")
    rows = [np.concatenate([np.ones((1,) + contents.shape[1:], np.float32), styles])]
    for c in contents:
        out = m.transfer(content=c[None], style=styles, strength=np.float32(1.0))["images"].numpy()
        rows.append(np.concatenate([c[None], out]))
    gallery.add_png("WAE: style transfer", "wae_transfer_grid",
                    render.image_grid(np.concatenate(rows), ncols=len(styles) + 1),
                    caption="first row: style images; first column: content images; each "
                            "cell is one feed-forward pass. A few hundred steps mostly carry "
                            "colour; content needs about 1,000+ steps (docs/wae_style.md). "
                            + vgg_caption(config))
    strengths = np.linspace(0.0, 1.0, 6).astype(np.float32)
    ramp = [m.transfer(content=contents[:1], style=styles[:1], strength=s)["images"].numpy()[0]
            for s in strengths]
    gallery.add_images("WAE: style transfer", "wae_strength", np.stack(ramp), ncols=len(ramp),
                       caption="style strength 0 to 1 (interpolating the content's own style "
                               "latent towards the target style)")


def run_demo(out, sketch_sources, image_sources, sketch_steps, wae_steps, quick, seed,
             vgg_weights="random"):
    from common import training
    from common.gallery import Gallery
    from sketch_rnn import data as sketch_data
    from sketch_rnn import train as sketch_train
    from wae_style import data as wae_data
    from wae_style import train as wae_train

    out = pathlib.Path(out)
    t0 = time.time()
    wconfig = wae_config(tuple(image_sources), wae_steps, quick, seed, vgg_weights)
    wae_train.resolve_config(wconfig)  # A bad VGG weights file fails now, not after Sketch RNN.
    gallery = Gallery(out / "gallery", title="sketchstyle demo")

    print("== Sketch RNN ==", flush=True)
    sconfig = sketch_config(tuple(sketch_sources), sketch_steps, quick, seed)
    sketch_train.train_and_evaluate(sconfig, out / "sketch_rnn")
    splits = sketch_data.load(sconfig)
    sketch_gallery(gallery, out / "sketch_rnn" / "export", splits, seed, sconfig.max_seq_len)
    print(f"Sketch RNN done after {time.time() - t0:.0f} s.", flush=True)

    print("== WAE style transfer ==", flush=True)
    print(vgg_caption(wconfig) + ".", flush=True)
    wae_train.train_and_evaluate(wconfig, out / "wae_style")
    wae_gallery(gallery, out / "wae_style" / "export", wconfig, wae_data.load_sources(wconfig))
    index = gallery.write_index()

    print(f"\nDemo finished in {time.time() - t0:.0f} s.")
    for name in ("sketch_rnn", "wae_style"):
        print(f"\n[{name}]\n{training.describe_outputs(out / name)}")
    print(f"\nGallery: {index}  (open it in a browser)")
    print(f"TensorBoard: tensorboard --logdir {out}")
    return index


def main(argv):
    del argv
    cli.quiet_logging()
    cli.exit_on_error(run_demo, FLAGS.out, FLAGS.data_dir or ["builtin"],
                      FLAGS.image_dir or ["builtin"], FLAGS.sketch_steps, FLAGS.wae_steps,
                      FLAGS.quick, FLAGS.seed, FLAGS.vgg_weights)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
