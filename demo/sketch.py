"""The demo's Sketch RNN part: a small model on the built-in doodles, and its gallery sections."""

import dataclasses

import numpy as np

from common.strokes import formats
from common.training.loop import describe_outputs
from demo import shape_check
from sketch_rnn import configs
from sketch_rnn import data
from sketch_rnn import train
from sketch_rnn.client import SketchModel
from sketch_rnn.latents import interpolate_latents


def demo_config(sources, steps, quick, seed):
    """The demo's Sketch RNN config: testing() sizes when quick, else a small conditional LSTM."""
    if quick:
        return dataclasses.replace(configs.SketchRNNConfig.testing(), data=tuple(sources),
                                   max_seq_len=64, num_steps=steps, save_every=steps,
                                   eval_every=steps, seed=seed)
    return dataclasses.replace(
        configs.SketchRNNConfig.default(), data=tuple(sources), max_seq_len=64, batch_size=64,
        enc_rnn_size=64, dec_rnn_size=256, z_size=32, num_mixture=10,
        kl_weight=0.25, kl_decay_rate=0.999, decay_rate=0.9995, num_steps=steps,
        save_every=max(steps // 2, 1), eval_every=max(steps // 4, 1), log_every=25,
        jit_compile=True, seed=seed)


@dataclasses.dataclass
class SketchDemo:
    """Trains the demo's Sketch RNN into workdir/sketch_rnn and adds its gallery sections.

    Attributes:
        sources: stroke sources (see SketchRNNConfig.data).
        steps: training steps.
        quick: tiny sizes (a smoke test).
        seed: training and sampling seed.
    """

    sources: tuple
    steps: int
    quick: bool = False
    seed: int = 0
    name: str = "sketch_rnn"
    title: str = "Sketch RNN"

    @property
    def config(self):
        return demo_config(self.sources, self.steps, self.quick, self.seed)

    def check(self):
        """Nothing to check before training starts (bad data fails in the trainer)."""

    def run(self, workdir, gallery):
        config = self.config
        train.train_and_evaluate(config, workdir)
        splits = data.load(config)
        model = SketchModel(workdir)
        print("Shape check: training a small AlexNet on the same classes...", flush=True)
        check, scorer = shape_check.run(model, splits, self.sources, workdir, self.seed,
                                        config.max_seq_len, self.quick)
        lines = shape_check.summary(check)
        print("\n".join(lines), flush=True)
        add_sketch_sections(gallery, model, splits, self.seed, config.max_seq_len, check, scorer)
        return describe_outputs(workdir) + "\n" + "\n".join(lines)


def add_sketch_sections(gallery, model, splits, seed, max_len, check=None, scorer=None):
    """Samples (labelled by the shape check's scorer), reconstructions, completions, paths."""
    for t in (0.1, 0.5, 0.9):
        samples = model.sample(8, t, seed, max_len)
        labels = None
        if scorer is not None:
            labels = [f"{name} {p:.2f}"
                      for name, p in shape_check.measure(scorer, samples)["top"]]
        gallery.add_sketches("Sketch RNN: unconditional samples", f"samples_tau_{t:g}",
                             samples, ncols=8, labels=labels,
                             caption=f"8 samples at temperature {t}"
                             + shape_check.caption(check, t))
    test = formats.denormalize(splits.test or splits.train, splits.scale_factor)
    labels = splits.test_labels if splits.test else splits.train_labels
    picks = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)][:6]
    inputs = [test[i] for i in picks]
    z = model.encode(inputs)
    recon = model.decode(z, 0.1, seed, max_len)
    gallery.add_sketches("Sketch RNN: reconstructions", "reconstructions",
                         [s for pair in zip(inputs, recon) for s in pair], ncols=2,
                         caption="held-out sketches (left) and their reconstructions at tau 0.1")
    rows = []
    for s in inputs[:4]:
        half = s[:max(2, len(s) // 2)]
        rows += [s, half] + [np.concatenate([half, c])
                             for c in model.complete(half, 3, 0.5, seed, max_len)]
    gallery.add_sketches("Sketch RNN: completions", "completions", rows, ncols=5,
                         caption="each row: a held-out sketch, its first half, and three "
                                 "completions of that half at tau 0.5")
    za, zb = z[0], z[min(1, len(inputs) - 1)]
    for method in ("linear", "slerp"):
        strip = model.decode(interpolate_latents(za, zb, 10, method=method), 0.1, seed, max_len)
        gallery.add_sketches("Sketch RNN: latent interpolation", f"interpolation_{method}", strip,
                             ncols=10, caption=f"{method} interpolation between two encoded "
                                               "sketches, decoded at tau 0.1")
