"""The demo's WAE part: a small style-transfer model on built-in images, and its gallery sections."""

import dataclasses

import numpy as np

from wae_style import configs
from wae_style.client import StyleModel


def demo_config(sources, steps, quick, seed, vgg_weights="random"):
    """The demo's WAE config: testing() sizes when quick, else a small WAE (300 steps)."""
    base = configs.WAEConfig.testing().with_vgg(vgg_weights)  # Loss weights follow the VGG.
    if quick:
        return dataclasses.replace(base, data=tuple(sources), num_steps=steps, save_every=steps,
                                   eval_every=steps, seed=seed)
    return dataclasses.replace(
        base, data=tuple(sources), content_dim=64, style_dim_per_layer=32,
        encoder_channels=(8, 32, 64, 128, 128), decoder_channels=(256, 128, 64, 32, 32),
        num_res_blocks=1, style_hidden=(64,), batch_size=16, num_steps=steps,
        learning_rate=3e-4,  # 300 steps: val. recon 0.104 against 0.112 at 1e-4; 1e-3 dies.
        save_every=max(steps // 2, 1), eval_every=max(steps // 3, 1), log_every=25, seed=seed)


def vgg_caption(config):
    """What the gallery says about the WAE's VGG16."""
    if config.vgg_weights == "random":
        return ("VGG16: seeded random weights, not ImageNet (run with --vgg_weights=FILE for "
                "the real VGG16), so the style features are only a smoke test")
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
    vgg_weights: str = "random"
    name: str = "wae_style"
    title: str = "WAE style transfer"

    @property
    def config(self):
        return demo_config(self.sources, self.steps, self.quick, self.seed, self.vgg_weights)

    def check(self):
        """A bad VGG weights file fails now, before any training."""
        from wae_style import train

        train.resolve_config(self.config)

    def run(self, workdir, gallery):
        from common.training.loop import describe_outputs
        from wae_style import data
        from wae_style import train

        config = self.config
        train.train_and_evaluate(config, workdir)  # It says which VGG16 weights it uses.
        add_style_sections(gallery, StyleModel(workdir), config, data.load_sources(config))
        return describe_outputs(workdir)


def add_style_sections(gallery, model, config, sources):
    """Reconstructions, a content x style transfer grid and a strength ramp through the client."""
    from wae_style import data

    contents = sources.eval_images(5)
    if contents is None:
        contents = data.content_reference_images(config, 5)
    styles = data.style_reference_images(config, 5, seed=config.seed + 1)
    gallery.add_images("WAE: reconstructions", "wae_reconstructions",
                       np.concatenate([contents, model.reconstruct(contents)]),
                       ncols=len(contents),
                       caption="held-out images (top) and reconstructions from their own "
                               "content and style latents (bottom)")
    gallery.add_png("WAE: style transfer", "wae_transfer_grid",
                    model.transfer_grid(contents, styles),
                    caption="first row: style images; first column: content images; each "
                            "cell is one feed-forward pass. A few hundred steps mostly carry "
                            "colour; content needs about 1,000+ steps (docs/wae_style.md). "
                            + vgg_caption(config))
    ramp = [model.transfer(contents[0], styles[0], s) for s in np.linspace(0.0, 1.0, 6)]
    gallery.add_images("WAE: style transfer", "wae_strength", np.stack(ramp), ncols=len(ramp),
                       caption="style strength 0 to 1 (interpolating the content's own style "
                               "latent towards the target style)")
