"""Keras layers of the WAE style model: weight norm, subpixel conv, ResBlock, GLU, VGG input."""

import math

import keras
from keras import ops
import tensorflow as tf

# Caffe-style VGG input: BGR channel means on a 0..255 scale.
VGG_BGR_MEANS = (103.939, 116.779, 123.68)


def depth_to_space(x, block_size=2):
    """NHWC depth_to_space, same ordering as tf.nn.depth_to_space.

    out[b, h * s + i, w * s + j, c] = x[b, h, w, (i * s + j) * C + c].
    """
    shape = ops.shape(x)
    b, h, w, cs = shape[0], shape[1], shape[2], shape[3]
    s = block_size
    c = cs // (s * s)
    x = ops.reshape(x, (b, h, w, s, s, c))  # (B, H, W, s, s, C)
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))  # (B, H, s, W, s, C)
    return ops.reshape(x, (b, h * s, w * s, c))  # (B, H*s, W*s, C)


_NORM_FLOOR = 1e-12  # ||v|| below this is taken as this (no division by zero).
# A conv with at most this many output positions per image runs as one matmul on its
# patches (conv_by_patches): oneDNN's kernel-gradient of the decoder's first subpixel conv
# (4x4 maps, 512 -> 1024 channels) ran at a third of its other convs' rate.
PATCH_MATMUL_MAX_POSITIONS = 16


def conv_by_patches(inputs, kernel, strides=(1, 1), padding="same"):
    """A channels-last 2-D convolution as one matmul: (B*Ho*Wo, kh*kw*Cin) x (kh*kw*Cin, Cout).

    Same result as ops.conv(inputs, kernel, strides, padding) (dilation 1); faster for small
    maps with many channels, where the patch matrix is small and the kernel large.
    """
    kh, kw, cin, cout = kernel.shape
    patches = tf.image.extract_patches(
        inputs, sizes=[1, kh, kw, 1], strides=[1, strides[0], strides[1], 1],
        rates=[1, 1, 1, 1], padding=padding.upper())  # (B, Ho, Wo, kh*kw*Cin)
    shape = tf.shape(patches)
    out = tf.matmul(tf.reshape(patches, (-1, kh * kw * cin)),
                    tf.reshape(kernel, (kh * kw * cin, cout)))  # (B*Ho*Wo, Cout)
    return tf.reshape(out, (shape[0], patches.shape[1] or shape[1],
                            patches.shape[2] or shape[2], cout))


def _squared_norm(v, axes):
    """sum(v**2) over `axes` (the per-output-unit squared norm) with a one-pass gradient."""

    @tf.custom_gradient
    def squared_norm(v):
        def grad(d):  # d: (units,)
            return v * (2.0 * d)

        return tf.reduce_sum(tf.square(v), axis=axes), grad

    return squared_norm(v)


def weight_norm_kernel(v, g, axes, dtype=None):
    """The weight-normalised kernel g * v / ||v|| (norm over `axes`), cast to `dtype`.

    Computed in v's dtype (float32) as v * (g / ||v||), so that the only kernel-sized work
    is one multiply (and the cast) forward and two passes backward; autodiff of
    g * (v / ||v||) makes about eight kernel-sized temporaries.

    Args:
      v: the direction (..., units), float32.
      g: (units,) scales.
      axes: the axes of the norm (all but the last).
      dtype: the dtype of the result (e.g. bfloat16 for bf16 convolutions); None: v's.
    """
    dtype = dtype or v.dtype

    @tf.custom_gradient
    def kernel(v, g):
        raw = tf.sqrt(tf.reduce_sum(tf.square(v), axis=axes))  # (units,)
        norm = tf.maximum(raw, _NORM_FLOOR)
        scale = g / norm  # (units,)

        def grad(dk):
            dk = tf.cast(dk, v.dtype)
            dot = tf.reduce_sum(dk * v, axis=axes)  # (units,) = <dk, v>
            # d/dv of v * g / ||v||: scale * dk - v * scale * <dk, v> / ||v||^2 (no norm
            # term where the floor holds, as for autodiff through tf.maximum).
            coef = tf.where(raw > _NORM_FLOOR, scale * dot / (norm * norm), tf.zeros_like(dot))
            return dk * scale - v * coef, dot / norm

        return tf.cast(v * scale, dtype), grad

    return kernel(v, g)


@keras.saving.register_keras_serializable(package="sketchstyle")
class WeightNormalization(keras.layers.Layer):
    """Weight normalisation of a Dense or Conv2D layer: w = g * v / ||v||.

    The wrapped layer's kernel is the direction v; a new per-output-unit scale g
    (initialised to ||v||, so the layer starts as the plain layer) sets the norm.
    With data_init, the first call with training=True sets g and the bias so that
    the pre-activations have zero mean and unit variance on that batch. Under a
    multi-replica strategy that first call must happen outside strategy.run (replicas
    would otherwise set different values); inside it, an uninitialised layer fails.

    The normalisation itself runs in float32 under any dtype policy (the layer reads its
    variables without Keras' autocast); under a mixed policy (e.g. "mixed_bfloat16") only
    the matmul or convolution, the bias and the activation run in the compute dtype.
    Where a call's outputs are smaller than the kernel (a Dense layer's batch; a conv on
    small maps) they are scaled by g / ||v||, else the kernel is (weight_norm_kernel).

    Args:
      layer: an unbuilt keras.layers.Dense or keras.layers.Conv2D (groups=1).
      data_init: data-dependent initialisation on the first training call.
      **kwargs: base Layer arguments.

    Reference:
      Salimans & Kingma, "Weight Normalization", NeurIPS 2016 (arXiv:1602.07868).
    """

    def __init__(self, layer, data_init=False, **kwargs):
        kwargs["autocast"] = False  # call() casts; the weight norm stays float32.
        super().__init__(**kwargs)
        if not isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)):
            raise ValueError(
                f"WeightNormalization wraps Dense or Conv2D, got {type(layer).__name__}")
        if isinstance(layer, keras.layers.Conv2D) and layer.groups != 1:
            raise ValueError(f"WeightNormalization needs groups=1, got {layer.groups}")
        self.layer = layer
        self.data_init = bool(data_init)
        self._is_conv = isinstance(layer, keras.layers.Conv2D)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        kernel_shape = self.layer.kernel.shape
        self._norm_axes = tuple(range(len(kernel_shape) - 1))
        units = kernel_shape[-1]
        self.g = self.add_weight(name="g", shape=(units,), initializer="ones", trainable=True)
        # Start as the plain layer: g = ||v||.
        self.g.assign(ops.sqrt(ops.sum(ops.square(self.layer.kernel), axis=self._norm_axes)))
        self.initialized = self.add_weight(
            name="initialized", shape=(), initializer="zeros", trainable=False)

    def _direction(self):
        v = self.layer.kernel
        norm = ops.sqrt(ops.sum(ops.square(v), axis=self._norm_axes, keepdims=True))
        return v / ops.maximum(norm, 1e-12)

    def _linear(self, inputs, kernel):
        if self._is_conv:
            layer = self.layer
            if self._by_patches(inputs.shape):
                return conv_by_patches(inputs, kernel, layer.strides, layer.padding)
            return ops.conv(inputs, kernel, strides=layer.strides, padding=layer.padding,
                            data_format=layer.data_format, dilation_rate=layer.dilation_rate)
        return ops.matmul(inputs, kernel)

    def _by_patches(self, input_shape):
        """Whether the conv runs as conv_by_patches: small maps (PATCH_MATMUL_MAX_POSITIONS)."""
        layer = self.layer
        if (layer.data_format != "channels_last" or tuple(layer.dilation_rate) != (1, 1)
                or len(input_shape) != 4):
            return False
        _, h, w, _ = layer.compute_output_shape(tuple(input_shape))
        return h is not None and w is not None and h * w <= PATCH_MATMUL_MAX_POSITIONS

    def _channel_axis(self):
        if self._is_conv and self.layer.data_format == "channels_first":
            return 1
        return -1

    def _bias_shape(self, ndim):
        shape = [1] * ndim
        shape[self._channel_axis()] = -1
        return shape

    def _init_from_data(self, inputs):
        t = self._linear(tf.cast(inputs, self.layer.kernel.dtype), self._direction())
        axis = self._channel_axis() % len(t.shape)
        axes = [a for a in range(len(t.shape)) if a != axis]
        mean, var = ops.moments(t, axes=axes)
        scale = 1.0 / ops.sqrt(var + 1e-6)
        self.g.assign(scale)
        if self.layer.use_bias:
            self.layer.bias.assign(-mean * scale)
        self.initialized.assign(1.0)
        return ops.convert_to_tensor(0.0)

    def call(self, inputs, training=None):
        if self.data_init and training:
            ctx = tf.distribute.get_replica_context()
            if ctx is not None and ctx.num_replicas_in_sync > 1:
                # Replicas would each set their own g: initialise before strategy.run.
                tf.debugging.assert_equal(
                    self.initialized, 1.0, message=(
                        f"{self.name}: data-dependent init must run outside strategy.run "
                        "(e.g. WAEStyle.data_dependent_init(images))"))
            else:
                ops.cond(ops.equal(self.initialized, 0.0),
                         lambda: self._init_from_data(inputs),
                         lambda: ops.convert_to_tensor(0.0))
        dtype = self.compute_dtype
        inputs = tf.cast(inputs, dtype)
        v, g = tf.convert_to_tensor(self.layer.kernel), tf.convert_to_tensor(self.g)
        if self._scales_outputs(inputs.shape):
            norm = tf.maximum(tf.sqrt(_squared_norm(v, self._norm_axes)), _NORM_FLOOR)
            scale = tf.reshape(tf.cast(g / norm, dtype), self._bias_shape(len(inputs.shape)))
            outputs = self._linear(inputs, tf.cast(v, dtype)) * scale
        else:
            outputs = self._linear(inputs, weight_norm_kernel(v, g, self._norm_axes, dtype))
        if self.layer.use_bias:
            bias = tf.cast(self.layer.bias, dtype)
            if self._channel_axis() == -1:
                outputs = tf.nn.bias_add(outputs, bias)  # Its gradient is BiasAddGrad.
            else:
                outputs = outputs + ops.reshape(bias, self._bias_shape(len(outputs.shape)))
        if self.layer.activation is not None:
            outputs = self.layer.activation(outputs)
        return outputs

    def _scales_outputs(self, input_shape):
        """Whether g / ||v|| scales the outputs (x v) rather than the kernel (x (v g / ||v||)).

        The same product; the smaller tensor is scaled. A Dense layer's batch of outputs is
        always smaller than its kernel; a conv's may not be (or not be known).
        """
        if not self._is_conv:
            return True
        shape = self.layer.compute_output_shape(tuple(input_shape))
        if any(d is None for d in shape):
            return False
        return math.prod(shape) < math.prod(self.layer.kernel.shape)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({
            "layer": keras.saving.serialize_keras_object(self.layer),
            "data_init": self.data_init,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        return cls(**config)


def _maybe_wn(layer, weight_norm, data_init):
    return WeightNormalization(layer, data_init=data_init) if weight_norm else layer


def icnr(sub_kernel, scale=2):
    """ICNR kernel: each output channel of `sub_kernel` repeated over the scale**2 sub-pixels.

    Channel (i * scale + j) * F + c of the result is channel c of sub_kernel, the order in
    which depth_to_space puts it at sub-pixel (i, j). A conv with it, then
    depth_to_space(scale), equals the conv with sub_kernel, then nearest-neighbour
    upsampling.

    Args:
      sub_kernel: (..., F) kernel (or bias) of the F-output conv.
      scale: the depth_to_space block size.

    Returns:
      (..., scale**2 * F).
    """
    return ops.concatenate([sub_kernel] * (scale * scale), axis=-1)


@keras.saving.register_keras_serializable(package="sketchstyle")
class SubpixelConv2D(keras.layers.Layer):
    """Subpixel convolution: a conv to 4 * filters channels, then depth_to_space(2).

    Doubles height and width: (B, H, W, C) -> (B, 2H, 2W, filters). With init="icnr" the
    layer starts as a conv to `filters` channels followed by nearest-neighbour upsampling,
    so it has no checkerboard at step 0; weight norm keeps that (the per-output norms of
    the replicated kernel are replicated too, and so are data-init's g and bias).

    Args:
      filters: output channels.
      kernel_size: conv kernel size (stride 1, same padding).
      weight_norm: wrap the conv in WeightNormalization.
      data_init: data-dependent init of the weight norm.
      activation: applied after the pixel shuffle.
      init: "icnr" (a Glorot-uniform kernel for `filters` outputs, and the bias,
        replicated over the 4 sub-pixels) or "glorot" (Keras' default for all
        4 * filters outputs, as before this argument).
      **kwargs: base Layer arguments.

    Reference:
      Shi et al., "Real-Time Single Image and Video Super-Resolution Using an
      Efficient Sub-Pixel Convolutional Neural Network", CVPR 2016; Aitken et al.,
      "Checkerboard artifact free sub-pixel convolution", arXiv:1707.02937, 2017 (ICNR).
    """

    INITS = ("icnr", "glorot")

    def __init__(self, filters, kernel_size=3, weight_norm=True, data_init=False,
                 activation=None, init="icnr", **kwargs):
        super().__init__(**kwargs)
        if init not in self.INITS:
            raise ValueError(f"SubpixelConv2D init={init!r}: must be one of {self.INITS}")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.weight_norm = bool(weight_norm)
        self.data_init = bool(data_init)
        self.activation = keras.activations.get(activation)
        self.init = init
        self.conv = _maybe_wn(
            keras.layers.Conv2D(4 * self.filters, self.kernel_size, padding="same", name="conv"),
            self.weight_norm, self.data_init)

    def build(self, input_shape):
        inner = self.conv.layer if self.weight_norm else self.conv  # The plain Conv2D.
        inner.build(input_shape)
        if self.init == "icnr":
            k = self.kernel_size
            sub = inner.kernel_initializer((k, k, input_shape[-1], self.filters))
            inner.kernel.assign(icnr(sub))  # (k, k, Cin, 4F)
            inner.bias.assign(icnr(inner.bias[: self.filters]))
        if not self.conv.built:  # Weight norm: g = ||v|| of the kernel set above.
            self.conv.build(input_shape)

    def call(self, inputs, training=None):
        x = self.conv(inputs, training=training)  # (B, H, W, 4F)
        x = depth_to_space(x, 2)  # (B, 2H, 2W, F)
        return self.activation(x)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        return (b, None if h is None else 2 * h, None if w is None else 2 * w, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters, "kernel_size": self.kernel_size,
            "weight_norm": self.weight_norm, "data_init": self.data_init,
            "activation": keras.activations.serialize(self.activation), "init": self.init,
        })
        return config


@keras.saving.register_keras_serializable(package="sketchstyle")
class ResBlock(keras.layers.Layer):
    """Residual block: relu(x + conv(relu(conv(x)))) with 3x3 same convs.

    Args:
      filters: channels; must equal the input channels (identity shortcut).
      kernel_size: conv kernel size.
      weight_norm: wrap both convs in WeightNormalization.
      data_init: data-dependent init of the weight norm.
      **kwargs: base Layer arguments.

    Reference:
      He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
    """

    def __init__(self, filters, kernel_size=3, weight_norm=True, data_init=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.weight_norm = bool(weight_norm)
        self.data_init = bool(data_init)
        self.conv1 = _maybe_wn(
            keras.layers.Conv2D(self.filters, self.kernel_size, padding="same", name="conv1"),
            self.weight_norm, self.data_init)
        self.conv2 = _maybe_wn(
            keras.layers.Conv2D(self.filters, self.kernel_size, padding="same", name="conv2"),
            self.weight_norm, self.data_init)

    def build(self, input_shape):
        if input_shape[-1] != self.filters:
            raise ValueError(
                f"ResBlock({self.filters}) needs {self.filters} input channels, "
                f"got shape {input_shape}")
        self.conv1.build(input_shape)
        self.conv2.build(input_shape)

    def call(self, inputs, training=None):
        x = ops.relu(self.conv1(inputs, training=training))
        x = self.conv2(x, training=training)
        return ops.relu(inputs + x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernel_size": self.kernel_size,
                       "weight_norm": self.weight_norm, "data_init": self.data_init})
        return config


@keras.saving.register_keras_serializable(package="sketchstyle")
class GLU(keras.layers.Layer):
    """Gated linear unit: splits channels into a, b and returns a * sigmoid(b).

    Halves the size of `axis`, which must be even.

    Args:
      axis: the axis to split.
      **kwargs: base Layer arguments.

    Reference:
      Dauphin et al., "Language Modeling with Gated Convolutional Networks", ICML 2017.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def build(self, input_shape):
        size = input_shape[self.axis]
        if size is not None and size % 2:
            raise ValueError(f"GLU needs an even size on axis {self.axis}, got {input_shape}")

    def call(self, inputs):
        a, b = ops.split(inputs, 2, axis=self.axis)
        return a * ops.sigmoid(b)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        if shape[self.axis] is not None:
            shape[self.axis] //= 2
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


@keras.saving.register_keras_serializable(package="sketchstyle")
class VGGPreprocess(keras.layers.Layer):
    """Maps RGB images in [0, 1] to VGG16's input: BGR on 0..255 minus the channel means.

    Same result as keras.applications.vgg16.preprocess_input(255 * x).

    Args:
      **kwargs: base Layer arguments.

    Reference:
      Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
      Recognition", ICLR 2015 (arXiv:1409.1556); Caffe preprocessing.
    """

    def call(self, inputs):
        x = ops.flip(ops.convert_to_tensor(inputs), axis=-1) * 255.0  # (B, H, W, 3) BGR
        return x - ops.convert_to_tensor(VGG_BGR_MEANS, dtype=x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape
