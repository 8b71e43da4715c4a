"""The AlexNet sketch scorer's Keras model (and its local response normalisation layer)."""

import keras
from keras import ops

from common.scorer.configs import NORMS, POOL_AFTER


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
