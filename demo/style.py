"""The demo's WAE part: a small style-transfer model on built-in images, and its gallery sections."""

import dataclasses
import pathlib

import numpy as np

from common.training.loop import describe_outputs
from demo import style_check
from wae_style import configs
from wae_style import data
from wae_style import train
from wae_style.client import StyleModel


def demo_config(sources, steps, quick, seed, vgg_weights="imagenet"):
    """The demo's WAE config: testing() sizes when quick, else a small WAE (600 steps)."""
    base = configs.WAEConfig.testing().with_vgg(vgg_weights)  # Loss weights follow the VGG.
    if quick:
        return dataclasses.replace(base, data=tuple(sources), num_steps=steps, save_every=steps,
                                   eval_every=steps, seed=seed)
    small = dataclasses.replace(
        base, data=tuple(sources), content_dim=64, style_dim_per_layer=32,
        encoder_channels=(8, 32, 64, 128, 128), decoder_channels=(256, 128, 64, 32, 32),
        num_res_blocks=1, style_hidden=(64,), batch_size=16, num_steps=steps,
        learning_rate=3e-4,  # Random VGG, 300 steps: val. recon 0.104 against 0.112 at 1e-4.
        save_every=max(steps // 2, 1), eval_every=max(steps // 3, 1), log_every=25, seed=seed)
    if configs.vgg_kind(vgg_weights) == "pretrained":
        # ImageNet VGG, a tenth of the measured Gram weight: with the full weight the Gram term
        # drowns the rest (600 steps: content check 50% against 100%). lr 1e-3 with the
        # encoders' noise starting small (logvar_offset -6, the default): content check 92%
        # at 300 steps and 100% at 600, against 50% at lr 1e-4 with no offset
        # (docs/wae_style.md, "The demo's WAE").
        gram = configs.LOSS_WEIGHTS["pretrained"]["gram_weight"] / 10
        small = dataclasses.replace(small, learning_rate=1e-3, gram_weight=gram)
    return small


# Content images in the content check (the grid shows the first five): chance is 1 in 10.
CHECK_CONTENTS = 10


def vgg_caption(config):
    """What the gallery says about the WAE's VGG16."""
    if config.vgg_weights == "random":
        return ("VGG16: seeded random weights, not ImageNet (the default --vgg_weights=imagenet "
                "is the real VGG16), so the style features are only a smoke test")
    return f"VGG16 weights: {config.vgg_weights}"


@dataclasses.dataclass
class StyleDemo:
    """Trains the demo's WAE into workdir/wae_style and adds its gallery sections.

    Attributes:
        sources: image sources (see WAEConfig.data).
        steps: training steps.
        quick: tiny sizes (a smoke test).
        seed: training seed.
        vgg_weights: "random", a VGG16 weights file or "imagenet".
    """

    sources: tuple
    steps: int
    quick: bool = False
    seed: int = 0
    vgg_weights: str = "imagenet"
    name: str = "wae_style"
    title: str = "WAE style transfer"

    @property
    def config(self):
        return demo_config(self.sources, self.steps, self.quick, self.seed, self.vgg_weights)

    def check(self):
        """A bad VGG weights file fails now, before any training."""
        train.resolve_config(self.config)

    def run(self, workdir, gallery):
        config = self.config
        train.train_and_evaluate(config, workdir)  # It says which VGG16 weights it uses.
        lines = add_style_sections(gallery, StyleModel(workdir), config,
                                   data.load_sources(config), workdir)
        print("\n".join(lines), flush=True)
        return describe_outputs(workdir) + "\n" + "\n".join(lines)


def add_style_sections(gallery, model, config, sources, workdir=None):
    """Reconstructions, a content x style transfer grid and a strength ramp through the client.

    Returns:
        The content check's printable lines (demo.style_check; written to
        workdir/content_check.json when a workdir is given).
    """
    # Built-in data: fresh content scenes (the eval split mixes in the style textures).
    checked = None if "builtin" in config.data else sources.eval_images(CHECK_CONTENTS)
    if checked is None or len(checked) < 2:
        checked = data.content_reference_images(config, CHECK_CONTENTS, seed=config.seed + 2)
    contents = checked[:5]
    styles = data.style_reference_images(config, 5, seed=config.seed + 1)
    gallery.add_images("WAE: reconstructions", "wae_reconstructions",
                       np.concatenate([contents, model.reconstruct(contents)]),
                       ncols=len(contents),
                       caption="held-out images (top) and reconstructions from their own "
                               "content and style latents (bottom)")
    judge = config.vgg_weights if config.vgg_weights != "random" else "imagenet"
    check = style_check.run(model.transfer, checked, styles, judge,
                            workdir and pathlib.Path(workdir) / "content_check.json")
    lines = style_check.summary(check)
    gallery.add_png("WAE: style transfer", "wae_transfer_grid",
                    model.transfer_grid(contents, styles),
                    caption="first row: style images; first column: content images; each "
                            "cell is one feed-forward pass. " + lines[0] + " "
                            + vgg_caption(config))
    ramp = [model.transfer(contents[0], styles[0], s) for s in np.linspace(0.0, 1.0, 6)]
    gallery.add_images("WAE: style transfer", "wae_strength", np.stack(ramp), ncols=len(ramp),
                       caption="style strength 0 to 1 (interpolating the content's own style "
                               "latent towards the target style)")
    return lines
