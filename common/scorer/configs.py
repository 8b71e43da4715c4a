"""Hyperparameters of the AlexNet sketch scorer: one frozen dataclass and named presets."""

import dataclasses

from common.training import config as config_utils
from common.training.strategies import STRATEGIES


NORMS = ("batch", "lrn", "none")

TFDS_SOURCES = ("", "quickdraw_bitmap")


POOL_AFTER = (0, 1, 4)  # Max-pooling after conv 1, 2 and 5.


@dataclasses.dataclass(frozen=True)
class AlexNetConfig(config_utils.ConfigBase):
    """All settings of an AlexNet scorer run.

    Data:
      data: stroke sources (.npz / .ndjson files, folders, "builtin"); one class per file.
      test_data: optional stroke sources whose every drawing is the test set instead of
        data's test split (e.g. real drawings for a scorer trained on generated ones); classes
        are matched to data's by name, other classes are left out and listed in data.json.
      tfds: "" (use `data`) or "quickdraw_bitmap" (TFDS 28x28 bitmaps, upsampled).
      tfds_data_dir: TFDS data_dir ("" = TFDS default); nothing is ever downloaded.
      tfds_max_examples: how many TFDS examples to read (then split as below).
      max_seq_len: longer sketches are dropped (stroke_data.load_strokes).
      valid_fraction, test_fraction: per-class split of ndjson / built-in / TFDS data.
      image_size: side of the rasterised input (64; 96 also works).
      line_width, padding: raster pen width and margin in pixels (0 = render.rasterize's
        defaults, max(1, size / 32) and max(line_width, size / 16)).

    Augmentation (training batches only):
      random_scale_factor: x/y scale in U[1 - f, 1 + f] (strokes.random_scale).
      augment_stroke_prob: interior pen-down point merging (strokes.augment_drop_points).
      rotate_degrees: rotation in U[-r, r] degrees.
      max_shift: translation in U[-m, m] * image_size pixels, per axis.

    Model (Krizhevsky et al. 2012, one of its two towers, sized for 64 px):
      conv_channels, conv_kernels: the five conv layers.
      conv1_stride: stride of conv 1 (AlexNet: 4 on 224 px; 2 here for 64 px).
      dense_units: the two hidden dense layers (fc6, fc7); fc8 has one unit per class.
      dropout: dropout rate on the fc6 and fc7 outputs.
      norm: "batch" (BatchNorm after each conv), "lrn" (AlexNet's local response norm
        after conv 1 and 2) or "none".

    Training:
      batch_size, learning_rate, decay_rate, min_learning_rate: Adam with
        lr(step) = (lr0 - lr_min) * decay^step + lr_min.
      weight_decay: L2 weight decay (AdamW), 0 = off.
      label_smoothing: cross-entropy label smoothing.
      grad_clip: element-wise gradient clip (0 = off).
      max_grad_norm: a step whose global gradient norm (before clipping) is above this is
        skipped and logged, like a non-finite one (0 = off; about 160x the largest norm seen in our runs).
      num_steps, save_every, eval_every, log_every, seed, strategy (common.training).
    """

    data: tuple[str, ...] = ("builtin",)
    test_data: tuple[str, ...] = ()
    tfds: str = ""
    tfds_data_dir: str = ""
    tfds_max_examples: int = 200_000
    max_seq_len: int = 250
    valid_fraction: float = 0.1
    test_fraction: float = 0.1
    image_size: int = 64
    line_width: float = 0.0
    padding: float = 0.0
    random_scale_factor: float = 0.15
    augment_stroke_prob: float = 0.10
    rotate_degrees: float = 10.0
    max_shift: float = 0.05
    conv_channels: tuple[int, ...] = (48, 128, 192, 192, 128)
    conv_kernels: tuple[int, ...] = (5, 5, 3, 3, 3)
    conv1_stride: int = 2
    dense_units: tuple[int, ...] = (1024, 1024)
    dropout: float = 0.5
    norm: str = "batch"
    batch_size: int = 64
    learning_rate: float = 1e-3
    decay_rate: float = 0.9995
    min_learning_rate: float = 1e-5
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    grad_clip: float = 0.0
    max_grad_norm: float = 1e5
    num_steps: int = 3000
    save_every: int = 500
    eval_every: int = 250
    log_every: int = 50
    seed: int = 0
    strategy: str = "default"

    PRESETS = ("testing", "default", "large")
    LABEL = "AlexNet"

    def __post_init__(self):
        def fail(name, why):
            raise ValueError(f"AlexNetConfig.{name}={getattr(self, name)!r}: {why}")

        config_utils.coerce_fields(self, fail)

        if self.tfds not in TFDS_SOURCES:
            fail("tfds", f"must be one of {TFDS_SOURCES}")
        if not self.tfds and (not self.data or any(not s for s in self.data)):
            fail("data", "need at least one non-empty source (or set tfds)")
        if any(not s for s in self.test_data):
            fail("test_data", "sources must be non-empty")
        if self.tfds and self.test_data:
            fail("test_data", "works with stroke data, not with tfds")
        for name in ("tfds_max_examples", "max_seq_len", "image_size", "conv1_stride",
                     "batch_size", "save_every", "eval_every", "log_every"):
            if getattr(self, name) < 1:
                fail(name, "must be a positive integer")
        if self.image_size < 8:
            fail("image_size", "must be >= 8")
        if len(self.conv_channels) != 5 or any(c < 1 for c in self.conv_channels):
            fail("conv_channels", "need five positive channel counts")
        if len(self.conv_kernels) != 5 or any(k < 1 for k in self.conv_kernels):
            fail("conv_kernels", "need five positive kernel sizes")
        if len(self.dense_units) != 2 or any(u < 1 for u in self.dense_units):
            fail("dense_units", "need two positive sizes (fc6, fc7)")
        if self.num_steps < 0 or self.seed < 0:
            fail("num_steps" if self.num_steps < 0 else "seed", "must be >= 0")
        if self.norm not in NORMS:
            fail("norm", f"must be one of {NORMS}")
        if self.strategy not in STRATEGIES:
            fail("strategy", f"must be one of {STRATEGIES}")
        if not (0 <= self.valid_fraction and 0 <= self.test_fraction
                and self.valid_fraction + self.test_fraction < 1):
            fail("valid_fraction", f"valid + test fractions must be in [0, 1) "
                 f"(test_fraction={self.test_fraction})")
        for name in ("line_width", "padding", "rotate_degrees", "max_shift", "weight_decay",
                     "grad_clip", "min_learning_rate", "augment_stroke_prob", "max_grad_norm"):
            if getattr(self, name) < 0:
                fail(name, "must be >= 0")
        for name in ("random_scale_factor", "dropout", "label_smoothing", "max_shift"):
            if not 0 <= getattr(self, name) < 1:
                fail(name, "must be in [0, 1)")
        if self.augment_stroke_prob > 1:
            fail("augment_stroke_prob", "must be <= 1")
        if self.learning_rate <= 0:
            fail("learning_rate", "must be > 0")
        if not 0 < self.decay_rate <= 1:
            fail("decay_rate", "must be in (0, 1]")
        if self.min_learning_rate > self.learning_rate:
            fail("min_learning_rate", f"must be <= learning_rate ({self.learning_rate})")

    @classmethod
    def default(cls):
        """64 px, one AlexNet tower (48-128-192-192-128, fc 1024-1024), CPU-friendly."""
        return cls()

    @classmethod
    def large(cls):
        """96 px input and full AlexNet widths (96-256-384-384-256, fc 2048-2048); for GPUs."""
        return cls(image_size=96, conv_channels=(96, 256, 384, 384, 256),
                   conv_kernels=(7, 5, 3, 3, 3), dense_units=(2048, 2048), batch_size=128,
                   num_steps=20_000, save_every=1000, eval_every=1000)

    @classmethod
    def testing(cls):
        """Tiny sizes for unit tests (32 px, a few channels)."""
        return cls(image_size=32, conv_channels=(4, 8, 8, 8, 8), dense_units=(16, 16),
                   max_seq_len=64, batch_size=4, num_steps=2, save_every=1, eval_every=1,
                   log_every=1)

    def model_kwargs(self, num_classes):
        """Constructor arguments of AlexNet for this config."""
        return dict(num_classes=int(num_classes), image_size=self.image_size,
                    conv_channels=self.conv_channels, conv_kernels=self.conv_kernels,
                    conv1_stride=self.conv1_stride, dense_units=self.dense_units,
                    dropout=self.dropout, norm=self.norm, seed=self.seed)


get_config = AlexNetConfig.preset  # Named preset (see AlexNetConfig.PRESETS).
