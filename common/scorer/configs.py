"""Hyperparameters of the AlexNet sketch scorer: one frozen dataclass and named presets."""

import dataclasses

from common.training import config as config_utils
from common.training.config import field

NORMS = ("batch", "lrn", "none")

TFDS_SOURCES = ("", "quickdraw_bitmap")


POOL_AFTER = (0, 1, 4)  # Max-pooling after conv 1, 2 and 5.


@dataclasses.dataclass(frozen=True)
class AlexNetConfig(config_utils.TrainingConfig):
    """All settings of an AlexNet scorer run.

    Data:
      data: stroke sources (.npz / .ndjson files, folders, "builtin"); one class per file.
      test_data: optional stroke sources whose every drawing is the test set instead of
        data's test split (e.g. real drawings for a scorer trained on generated ones); classes
        are matched to data's by name, other classes are left out and listed in data.json.
      real_data: optional real drawings (.ndjson / .npz, class = file name) mixed into every
        training batch, e.g. real drawings held apart from the test set for a scorer trained
        on generated ones; they must not be test drawings (checked).
      real_fraction: the share of each training batch drawn from real_data.
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
      num_steps, save_every, eval_every, log_every, seed, strategy, max_grad_norm: see
        common.training.config.TrainingConfig.
    """

    data: tuple[str, ...] = ("builtin",)
    test_data: tuple[str, ...] = ()
    real_data: tuple[str, ...] = ()
    real_fraction: float = field(0.25, ge=0, lt=1)
    tfds: str = field("", choices=TFDS_SOURCES)
    tfds_data_dir: str = ""
    tfds_max_examples: int = field(200_000, ge=1)
    max_seq_len: int = field(250, ge=1)
    valid_fraction: float = field(0.1, ge=0)
    test_fraction: float = field(0.1, ge=0)
    image_size: int = field(64, ge=8)
    line_width: float = field(0.0, ge=0)
    padding: float = field(0.0, ge=0)
    random_scale_factor: float = field(0.15, ge=0, lt=1)
    augment_stroke_prob: float = field(0.10, ge=0, le=1)
    rotate_degrees: float = field(10.0, ge=0)
    max_shift: float = field(0.05, ge=0, lt=1)
    conv_channels: tuple[int, ...] = (48, 128, 192, 192, 128)
    conv_kernels: tuple[int, ...] = (5, 5, 3, 3, 3)
    conv1_stride: int = field(2, ge=1)
    dense_units: tuple[int, ...] = (1024, 1024)
    dropout: float = field(0.5, ge=0, lt=1)
    norm: str = field("batch", choices=NORMS)
    learning_rate: float = field(1e-3, gt=0)
    decay_rate: float = field(0.9995, gt=0, le=1)
    min_learning_rate: float = field(1e-5, ge=0)
    weight_decay: float = field(0.0, ge=0)
    label_smoothing: float = field(0.0, ge=0, lt=1)
    grad_clip: float = field(0.0, ge=0)
    num_steps: int = 3000
    save_every: int = 500
    eval_every: int = 250

    PRESETS = ("testing", "default", "large")
    LABEL = "AlexNet"

    def validate(self, fail):
        if not self.tfds and (not self.data or any(not s for s in self.data)):
            fail("data", "need at least one non-empty source (or set tfds)")
        if any(not s for s in self.test_data):
            fail("test_data", "sources must be non-empty")
        if self.tfds and self.test_data:
            fail("test_data", "works with stroke data, not with tfds")
        if any(not s for s in self.real_data):
            fail("real_data", "sources must be non-empty")
        if self.tfds and self.real_data:
            fail("real_data", "works with stroke data, not with tfds")
        if self.real_data and int(round(self.real_fraction * self.batch_size)) < 1:
            fail("real_fraction", f"gives no real drawing in a batch of {self.batch_size}")
        for name, count, what in (("conv_channels", 5, "five positive channel counts"),
                                  ("conv_kernels", 5, "five positive kernel sizes"),
                                  ("dense_units", 2, "two positive sizes (fc6, fc7)")):
            values = getattr(self, name)
            if len(values) != count or any(v < 1 for v in values):
                fail(name, f"need {what}")
        if self.valid_fraction + self.test_fraction >= 1:
            fail("valid_fraction", f"valid + test fractions must be in [0, 1) "
                 f"(test_fraction={self.test_fraction})")
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
