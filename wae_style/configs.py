"""Hyperparameters of the WAE style-transfer model: one frozen dataclass and named presets."""

import dataclasses
import json
import re

from common.training import config as config_utils
from common.training.config import field
from wae_style import precision as precision_lib

# Content latent sizes the seed paper tries; 256 and 128 work best there.
PAPER_CONTENT_DIMS = (512, 256, 128, 64, 32)
# Conv layers of keras.applications.VGG16, in order.
VGG16_CONV_LAYERS = (
    "block1_conv1", "block1_conv2",
    "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3",
    "block4_conv1", "block4_conv2", "block4_conv3",
    "block5_conv1", "block5_conv2", "block5_conv3",
)
PENALTIES = ("mmd", "gan")
GRAM_FLATTEN = ("triu", "full")
GRAM_TRANSFORMS = ("log1p", "none")
SUBPIXEL_INITS = ("icnr", "glorot")
# What a config.json from before a field means, where that is not the field's default.
ABSENT_FIELDS = {"subpixel_init": "glorot", "precision": "float32", "logvar_offset": 0.0}
# Loss weights that make the feature and Gram terms about equal to the pixel term at init,
# measured per kind of VGG (docs/wae_style.md, "Loss balancing"): at init the ImageNet
# VGG16's feature term is about 15x the seeded random VGG's, its Gram term about 40x.
LOSS_WEIGHTS = {
    "pretrained": {"feature_weight": 4e-7, "gram_weight": 3e-12},
    "random": {"feature_weight": 2e-5, "gram_weight": 8e-10},
}


def vgg_kind(vgg_weights):
    """"random" for the seeded random VGG16, else "pretrained" (ImageNet or a weights file)."""
    return "random" if vgg_weights == "random" else "pretrained"


@dataclasses.dataclass(frozen=True)
class WAEConfig(config_utils.TrainingConfig):
    """All settings of a WAE style-transfer run (see docs/wae_style.md).

    Data:
      data: image folders, or "builtin" for the small built-in image set.
      tfds: TFDS dataset names (e.g. "celeb_a", "imagenet2012").
      tfds_data_dir, manual_dir: passed to tfds.load.
      mix: sampling weight per source (data then tfds); empty means equal.
      image_size: square image side; must be a multiple of 16 (the paper uses 64).
      image_crop: how folder images become image_size squares: "resize" (the centre
        square, resized) or "center" (the central image_size pixels unscaled, as the seed
        took its ImageNet crops; smaller images are resized).

    Networks:
      content_dim: content latent size; the paper tries 512/256/128/64/32.
      style_dim_per_layer: style latents per style layer (64 -> 192 in all).
      style_layers: VGG16 layers whose Gram matrices give the style.
      content_feature_layers: VGG16 layers used by the feature (perceptual) loss.
      glu_gating: gated channel-halving activation (GLU) after encoder convs 3-5.
      encoder_channels: output channels of encoder convs 1-5 (before GLU halving).
      decoder_channels: Dense channels, then the four subpixel convs' channels.
      num_res_blocks: ResBlocks after the first subpixel conv.
      subpixel_init: kernel init of the subpixel convs: "icnr" (no checkerboard at step 0:
        each sub-kernel replicated over the 4 sub-pixels, Aitken et al. 2017) or "glorot"
        (Keras' default, as before the field existed: a config.json without the field
        means "glorot").
      logvar_offset: added to both encoders' log-variance outputs. At init those outputs
        are near 0, so the latents start as noise of standard deviation 1, about the size
        of the means, and the decoder cannot read them until training has shrunk it; -6
        starts the noise at exp(-3) = 0.05. A config.json without the field means 0, as
        before the field existed.
      style_hidden: hidden Dense sizes of each Gram -> latent net.
      gram_flatten: "triu" (upper triangle, Gram is symmetric) or "full".
      gram_transform: "log1p" (Gram entries are >= 0 and span decades) or "none".
      weight_norm, data_dependent_init: weight normalisation on every conv/dense.
      vgg_weights: "imagenet" (the ImageNet VGG16 up to block3_conv1, packaged in
        wae_style/assets; works offline; deeper layers need the full file), a path to a
        VGG16 weights file (Keras 3 .weights.h5 or legacy Keras 2 .h5; see
        wae_style.vgg_weights), or "random" (a seeded random VGG16 for tests only).
      vgg_weights_sha256: sha256 of the weights file ("imagenet": the packaged asset;
        config.json files from before it record the Keras download's, still accepted),
        "" for "random" or not yet known. The trainer resolves it before training and
        stores it in config.json; a file with another hash is refused.
      vgg_seed: seed of the "random" VGG.

    Loss:
      pixel_weight, feature_weight, gram_weight: reconstruction term weights,
        measured so the terms are about equal at init (docs/wae_style.md); the defaults
        are LOSS_WEIGHTS["pretrained"] (ImageNet VGG16). with_vgg() switches the measured
        pair along with the VGG; loss_weights_note() says when they do not match it.
      penalty: "mmd" (WAE-MMD, IMQ kernel) or "gan" (WAE-GAN latent discriminator).
      mmd_lambda, mmd_scales, prior_sigma: WAE-MMD settings (official wae code). The
        official lambda = 10 goes with a reconstruction cost of 0.05 x the pixel *sum*; ours
        is the per-pixel mean (about 614x smaller at 64x64x3), hence 0.01. At 10 the content
        latent collapses (docs/wae_style.md).
      gan_lambda, disc_hidden: WAE-GAN settings.

    Training:
      learning_rate, disc_learning_rate, adam_beta1, adam_beta2: Adam settings;
        beta1 = 0.5 as in the official wae code.
      jit_compile: XLA-compile the train step.
      precision: compute precision of the training step: "float32", "bfloat16" (the
        VGG16, the content encoder's convs and the decoder's Dense and convs in bf16;
        weight norm, latents, Gram matrices, losses and the reconstruction stay float32;
        see WAEStyle.bf16_layers) or "auto": both are timed on the decoder's heaviest
        conv at this batch size (wae_style.precision.decoder_conv) and bfloat16 is taken
        only where it is at least 5% faster; without native bf16 (no avx512_bf16 /
        amx_bf16 flag) float32, untimed. The decision is cached on disk per machine
        (common.hardware.probe). "float32" or "bfloat16" (e.g.
        --override=precision=float32) is the override: nothing is timed. A config.json
        without the field means "float32", as before it existed. Evaluation, exports and
        transfer are float32.
      batch_size, num_steps, save_every, eval_every, log_every, seed, strategy,
        max_grad_norm: see common.training.config.TrainingConfig.
    """

    data: tuple[str, ...] = ("builtin",)
    tfds: tuple[str, ...] = ()
    tfds_data_dir: str = ""
    manual_dir: str = ""
    mix: tuple[float, ...] = ()
    image_size: int = field(64, ge=32)
    image_crop: str = field("resize", choices=("resize", "center"))
    content_dim: int = field(128, ge=1)
    style_dim_per_layer: int = field(64, ge=1)
    style_layers: tuple[str, ...] = field(("block1_conv1", "block2_conv1", "block3_conv1"),
                                          choices=VGG16_CONV_LAYERS)
    content_feature_layers: tuple[str, ...] = field(
        ("block1_conv1", "block2_conv1", "block3_conv1"), choices=VGG16_CONV_LAYERS)
    glu_gating: bool = True
    encoder_channels: tuple[int, ...] = field((8, 32, 128, 256, 512), ge=1, length=5)
    decoder_channels: tuple[int, ...] = field((1024, 512, 256, 128, 64), ge=1, length=5)
    num_res_blocks: int = field(3, ge=0)
    subpixel_init: str = field("icnr", choices=SUBPIXEL_INITS)
    logvar_offset: float = field(-6.0, le=0)
    style_hidden: tuple[int, ...] = field((256,), ge=1)
    gram_flatten: str = field("triu", choices=GRAM_FLATTEN)
    gram_transform: str = field("log1p", choices=GRAM_TRANSFORMS)
    weight_norm: bool = True
    data_dependent_init: bool = False
    vgg_weights: str = "imagenet"
    vgg_weights_sha256: str = ""
    vgg_seed: int = 0
    pixel_weight: float = field(1.0, ge=0)
    feature_weight: float = field(LOSS_WEIGHTS["pretrained"]["feature_weight"], ge=0)
    gram_weight: float = field(LOSS_WEIGHTS["pretrained"]["gram_weight"], ge=0)
    penalty: str = field("mmd", choices=PENALTIES)
    mmd_lambda: float = field(0.01, ge=0)
    mmd_scales: tuple[float, ...] = field((0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0), gt=0)
    prior_sigma: float = field(1.0, gt=0)
    gan_lambda: float = field(1.0, ge=0)
    disc_hidden: tuple[int, ...] = field((256, 256), ge=1)
    learning_rate: float = field(1e-4, gt=0)
    disc_learning_rate: float = field(5e-4, gt=0)
    adam_beta1: float = field(0.5, ge=0, lt=1)
    adam_beta2: float = field(0.999, ge=0, lt=1)
    jit_compile: bool = False
    precision: str = field("auto", choices=precision_lib.PRECISIONS)

    PRESETS = ("testing", "default", "paper")
    LABEL = "WAE"

    def validate(self, fail):
        for name in ("data", "tfds"):
            if any(not s for s in getattr(self, name)):
                fail(name, "every entry must be a non-empty string")
        if not self.data and not self.tfds:
            fail("data", "need at least one image source in data or tfds")
        num_sources = len(self.data) + len(self.tfds)
        if self.mix:
            if len(self.mix) != num_sources:
                fail("mix", f"need one weight per source ({num_sources}: data then tfds)")
            if any(w < 0 for w in self.mix) or sum(self.mix) <= 0:
                fail("mix", "weights must be >= 0 with a positive sum")
        if self.image_size % 16:
            fail("image_size", "must be a multiple of 16 and >= 32 (the paper uses 64)")
        if self.glu_gating and any(c % 2 for c in self.encoder_channels[2:]):
            fail("encoder_channels", "convs 3-5 need even channels for GLU halving")
        for name in ("style_layers", "content_feature_layers"):
            if not getattr(self, name):
                fail(name, "need at least one VGG16 layer")
        if not self.vgg_weights:
            fail("vgg_weights", 'must be "imagenet", "random" or a path to an .h5 file')
        if self.vgg_weights_sha256 and not re.fullmatch(r"[0-9a-f]{64}", self.vgg_weights_sha256):
            fail("vgg_weights_sha256", "must be empty or 64 lowercase hex digits")
        if self.vgg_weights == "random" and self.vgg_weights_sha256:
            fail("vgg_weights_sha256", 'must be empty for vgg_weights="random"')
        if not self.mmd_scales:
            fail("mmd_scales", "need at least one positive scale")

    @classmethod
    def from_dict(cls, d):
        """ConfigBase.from_dict; a field the dict lacks takes ABSENT_FIELDS' old meaning."""
        return super().from_dict({**ABSENT_FIELDS, **d})

    @classmethod
    def absent_defaults(cls):
        """{field: what a config.json without it means}: the defaults, then ABSENT_FIELDS."""
        return {**cls().to_dict(), **ABSENT_FIELDS}

    def as_recorded(self, config_json):
        """This config with the old meaning of the fields an earlier run's config.json lacks.

        A run from before subpixel_init was initialised with Glorot kernels; resuming it
        with the field's default ("icnr") keeps "glorot" (ABSENT_FIELDS), so config.json
        stays true (and a run with no checkpoint yet starts as before).

        Args:
          config_json: the workdir's config.json; missing or unreadable: no change.
        """
        try:
            with open(config_json, encoding="utf-8") as f:
                recorded = json.load(f)
        except (OSError, ValueError):
            return self
        if not isinstance(recorded, dict):
            return self
        default = type(self)()
        changes = {k: v for k, v in ABSENT_FIELDS.items()
                   if k not in recorded and getattr(self, k) == getattr(default, k)}
        return dataclasses.replace(self, **changes)

    @property
    def style_dim(self):
        """Total style latent size (64 per layer x 3 layers = 192 by default)."""
        return self.style_dim_per_layer * len(self.style_layers)

    @property
    def vgg_layers(self):
        """Every VGG16 layer the model reads, in VGG order."""
        wanted = set(self.style_layers) | set(self.content_feature_layers)
        return tuple(n for n in VGG16_CONV_LAYERS if n in wanted)

    def _loss_pair(self):
        return {"feature_weight": self.feature_weight, "gram_weight": self.gram_weight}

    def with_vgg(self, vgg_weights):
        """This config on other VGG16 weights ("imagenet", a file or "random").

        The loss weights follow when they are the pair measured for the old kind of VGG
        (LOSS_WEIGHTS); weights set by hand stay. The recorded sha256 is cleared when the
        setting changes (the trainer resolves it again).
        """
        changes = {"vgg_weights": vgg_weights}
        if vgg_weights != self.vgg_weights:
            changes["vgg_weights_sha256"] = ""
        if self._loss_pair() in LOSS_WEIGHTS.values():
            changes.update(LOSS_WEIGHTS[vgg_kind(vgg_weights)])
        return dataclasses.replace(self, **changes)

    def loss_weights_note(self):
        """A one-line warning when the loss weights are the pair measured for the other VGG, else ""."""
        pair, kind = self._loss_pair(), vgg_kind(self.vgg_weights)
        for other, weights in LOSS_WEIGHTS.items():
            if other != kind and pair == weights:
                right = LOSS_WEIGHTS[kind]
                return (f"note: feature_weight={pair['feature_weight']:g} and gram_weight="
                        f"{pair['gram_weight']:g} were measured for the {other} VGG16, but "
                        f"vgg_weights={self.vgg_weights!r} is {kind}; the {kind} pair is "
                        f"--override=feature_weight={right['feature_weight']:g} "
                        f"--override=gram_weight={right['gram_weight']:g}")
        return ""

    @classmethod
    def default(cls):
        """Paper architecture, built-in data: runs out of the box."""
        return cls()

    @classmethod
    def paper(cls):
        """The seed paper's setting: Table 1/2 sizes, content_dim 128, CelebA via TFDS.

        The paper also mixes anime faces and ImageNet crops; add those folders / TFDS
        names with replace_from_strings (e.g. "tfds=celeb_a,imagenet2012").
        """
        return cls(data=(), tfds=("celeb_a",), content_dim=128)

    @classmethod
    def testing(cls):
        """Tiny sizes for unit tests; still 64x64 images, random VGG."""
        return cls(
            content_dim=32, style_dim_per_layer=8, encoder_channels=(2, 4, 8, 8, 8),
            decoder_channels=(16, 8, 8, 8, 8), num_res_blocks=1, style_hidden=(8,),
            disc_hidden=(8,), vgg_weights="random", batch_size=4, num_steps=2,
            save_every=1, eval_every=1, log_every=1, **LOSS_WEIGHTS["random"])


get_config = WAEConfig.preset  # Named preset (see WAEConfig.PRESETS).
