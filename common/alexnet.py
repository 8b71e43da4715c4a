"""AlexNet sketch scorer: its config (frozen dataclass, presets, string overrides) and the Keras model."""

import dataclasses

import keras
from keras import ops

from common import config_utils
from common.training import STRATEGIES

replace_from_strings = config_utils.replace_from_strings  # Re-exported for the trainers.

NORMS = ("batch", "lrn", "none")
TFDS_SOURCES = ("", "quickdraw_bitmap")
POOL_AFTER = (0, 1, 4)  # Max-pooling after conv 1, 2 and 5.


@dataclasses.dataclass(frozen=True)
class AlexNetConfig:
    """All settings of an AlexNet scorer run.

    Data:
      data: stroke sources (.npz / .ndjson files, folders, "builtin"); one class per file.
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

    def __post_init__(self):
        def fail(name, why):
            raise ValueError(f"AlexNetConfig.{name}={getattr(self, name)!r}: {why}")

        config_utils.coerce_fields(self, fail)

        if self.tfds not in TFDS_SOURCES:
            fail("tfds", f"must be one of {TFDS_SOURCES}")
        if not self.tfds and (not self.data or any(not s for s in self.data)):
            fail("data", "need at least one non-empty source (or set tfds)")
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

    def to_dict(self):
        """A JSON-friendly dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d):
        """Inverse of to_dict; unknown keys raise ValueError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown AlexNetConfig fields {unknown}")
        return cls(**d)

    def model_kwargs(self, num_classes):
        """Constructor arguments of AlexNet for this config."""
        return dict(num_classes=int(num_classes), image_size=self.image_size,
                    conv_channels=self.conv_channels, conv_kernels=self.conv_kernels,
                    conv1_stride=self.conv1_stride, dense_units=self.dense_units,
                    dropout=self.dropout, norm=self.norm, seed=self.seed)


_PRESETS = {"testing": AlexNetConfig.testing, "default": AlexNetConfig.default,
            "large": AlexNetConfig.large}


def get_config(name):
    """Named preset: "testing", "default" or "large"."""
    if name not in _PRESETS:
        raise ValueError(f"unknown AlexNet config {name!r}; choose from {sorted(_PRESETS)}")
    return _PRESETS[name]()


# ----------------------------------------------------------------------------- the model


@keras.saving.register_keras_serializable(package="sketchstyle")
class LocalResponseNorm(keras.layers.Layer):
    """AlexNet's local response normalisation across channels.

    b_c = a_c / (k + alpha / n * sum_{|c' - c| <= n/2} a_{c'}^2)^beta, with Krizhevsky's
    n = 5, k = 2, alpha = 1e-4, beta = 0.75.

    Args:
      depth_radius: n // 2.
      bias, alpha, beta: k, alpha and beta above (alpha is divided by n as in the paper).
      **kwargs: keras.layers.Layer arguments.

    Reference: Krizhevsky, Sutskever, Hinton 2012, section 3.3; tf.nn.local_response_normalization.
    """

    def __init__(self, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        self.depth_radius = int(depth_radius)
        self.bias, self.alpha, self.beta = float(bias), float(alpha), float(beta)

    def build(self, input_shape):
        self.built = True

    def call(self, x):
        n = 2 * self.depth_radius + 1
        sq = ops.square(x)  # (B, H, W, C)
        c = ops.shape(x)[-1]
        padded = ops.pad(sq, [[0, 0], [0, 0], [0, 0], [self.depth_radius, self.depth_radius]])
        window = sum(padded[..., i:i + c] for i in range(n))  # (B, H, W, C)
        return x / ops.power(self.bias + self.alpha / n * window, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha,
                      beta=self.beta)
        return config


@keras.saving.register_keras_serializable(package="sketchstyle")
class AlexNet(keras.Model):
    """AlexNet for single-channel sketch rasters; returns class logits.

    conv1 (k1, stride s) - norm - ReLU - maxpool 3/2 - conv2 (k2) - norm - ReLU - maxpool 3/2 -
    conv3 - conv4 - conv5 (norm, ReLU each) - maxpool 3/2 - flatten - fc6 - ReLU - dropout -
    fc7 - ReLU - dropout - fc8 (logits). Pools overlap (3x3, stride 2) as in the paper, with
    "same" padding so a 64 px input goes 32 -> 16 -> 8 -> 4. `embed` gives the fc7
    activations (the penultimate features).

    Args:
      num_classes: number of logits.
      image_size: input side S; inputs are (B, S, S, 1) floats in [0, 1], 1 = ink.
      conv_channels: five channel counts.
      conv_kernels: five kernel sizes.
      conv1_stride: stride of conv1.
      dense_units: (fc6, fc7) sizes.
      dropout: dropout rate after fc6 and fc7.
      norm: "batch", "lrn" (after conv1, conv2) or "none".
      seed: seed of the initialisers and dropout masks (runs are reproducible).
      **kwargs: keras.Model arguments.

    Reference: Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional
    Neural Networks", NIPS 2012 (one of the two towers: 48-128-192-192-128 channels).
    """

    def __init__(self, num_classes, image_size=64, conv_channels=(48, 128, 192, 192, 128),
                 conv_kernels=(5, 5, 3, 3, 3), conv1_stride=2, dense_units=(1024, 1024),
                 dropout=0.5, norm="batch", seed=0, **kwargs):
        super().__init__(**kwargs)
        if norm not in NORMS:
            raise ValueError(f"AlexNet: norm must be one of {NORMS}, got {norm!r}")
        self.num_classes = int(num_classes)
        self.image_size = int(image_size)
        self.conv_channels = tuple(int(c) for c in conv_channels)
        self.conv_kernels = tuple(int(k) for k in conv_kernels)
        self.conv1_stride = int(conv1_stride)
        self.dense_units = tuple(int(u) for u in dense_units)
        self.dropout_rate = float(dropout)
        self.norm = norm
        self.seed = int(seed)
        init = lambda i: keras.initializers.HeNormal(seed=self.seed + i)  # noqa: E731
        # Sub-layers are plain attributes (not lists) so tf.train.Checkpoint tracks them.
        for i, (ch, k) in enumerate(zip(self.conv_channels, self.conv_kernels)):
            setattr(self, f"conv{i + 1}", keras.layers.Conv2D(
                ch, k, strides=self.conv1_stride if i == 0 else 1, padding="same",
                use_bias=norm != "batch", kernel_initializer=init(i), name=f"conv{i + 1}"))
            if norm == "batch":
                setattr(self, f"norm{i + 1}", keras.layers.BatchNormalization(name=f"bn{i + 1}"))
            elif norm == "lrn" and i < 2:
                setattr(self, f"norm{i + 1}", LocalResponseNorm(name=f"lrn{i + 1}"))
            if i in POOL_AFTER:
                setattr(self, f"pool{i + 1}",
                        keras.layers.MaxPooling2D(3, 2, padding="same", name=f"pool{i + 1}"))
        self.flatten = keras.layers.Flatten()
        for i, units in enumerate(self.dense_units):
            setattr(self, f"fc{6 + i}",
                    keras.layers.Dense(units, kernel_initializer=init(10 + i), name=f"fc{6 + i}"))
            setattr(self, f"drop{6 + i}",
                    keras.layers.Dropout(self.dropout_rate, seed=self.seed + 20 + i))
        self.fc8 = keras.layers.Dense(
            self.num_classes, name="fc8",
            kernel_initializer=keras.initializers.GlorotUniform(seed=self.seed + 30))

    @property
    def convs(self):
        return [getattr(self, f"conv{i + 1}") for i in range(5)]

    @property
    def norms(self):
        return [getattr(self, f"norm{i + 1}", None) for i in range(5)]

    @property
    def pools(self):
        return [getattr(self, f"pool{i + 1}", None) for i in range(5)]

    @property
    def fc(self):
        return [getattr(self, f"fc{6 + i}") for i in range(len(self.dense_units))]

    @property
    def drops(self):
        return [getattr(self, f"drop{6 + i}") for i in range(len(self.dense_units))]

    def build(self, input_shape):
        shape = tuple(input_shape)  # (B, S, S, 1)
        for conv, norm, pool in zip(self.convs, self.norms, self.pools):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            if norm is not None:
                norm.build(shape)
            if pool is not None:
                shape = pool.compute_output_shape(shape)
        shape = self.flatten.compute_output_shape(shape)  # (B, H * W * C)
        for fc in self.fc:
            fc.build(shape)
            shape = fc.compute_output_shape(shape)
        self.fc8.build(shape)
        self.built = True

    def _features(self, x, training=False):
        x = ops.cast(x, "float32")  # (B, S, S, 1)
        for conv, norm, pool in zip(self.convs, self.norms, self.pools):
            x = conv(x)
            if norm is not None:
                x = norm(x, training=training)
            x = ops.relu(x)
            if pool is not None:
                x = pool(x)
        x = self.flatten(x)  # (B, H * W * C)
        for fc, drop in zip(self.fc, self.drops):
            x = drop(ops.relu(fc(x)), training=training)
        return x

    def call(self, images, training=False):
        """(B, S, S, 1) images -> (B, num_classes) logits."""
        return self.fc8(self._features(images, training=training))

    def embed(self, images, training=False):
        """(B, S, S, 1) images -> (B, dense_units[-1]) fc7 features (after ReLU)."""
        return self._features(images, training=training)

    def classify(self, images, training=False):
        """(logits (B, num_classes), fc7 features (B, dense_units[-1])) in one pass."""
        features = self._features(images, training=training)
        return self.fc8(features), features

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, image_size=self.image_size,
                      conv_channels=list(self.conv_channels),
                      conv_kernels=list(self.conv_kernels), conv1_stride=self.conv1_stride,
                      dense_units=list(self.dense_units), dropout=self.dropout_rate,
                      norm=self.norm, seed=self.seed)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
