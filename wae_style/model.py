"""WAE style-transfer model: VGG16 features, content/style encoders, decoder, WAEStyle."""

import contextlib
import os
import threading

import numpy as np
import keras
from keras import ops
import tensorflow as tf
from absl import logging

from common.errors import DataError
from wae_style.gram import gram_matrix
from wae_style import configs
from wae_style import precision
from wae_style import vgg_weights
from wae_style.layers import GLU, ResBlock, SubpixelConv2D, VGGPreprocess, WeightNormalization

# Log-variances are clipped to this range before exp() when sampling.
LOGVAR_RANGE = (-30.0, 20.0)


_local = threading.local()


@contextlib.contextmanager
def vgg_weights_from_checkpoint():
    """Inside this block build_vgg makes the architecture only; a checkpoint supplies weights.

    Used by load_model so that reloading a saved WAEStyle never reads vgg_weights (a
    weights file may have moved): the saved file already holds the VGG weights.
    """
    old = getattr(_local, "from_checkpoint", False)
    _local.from_checkpoint = True
    try:
        yield
    finally:
        _local.from_checkpoint = old


def _random_init(base, seed):
    """He-normal kernels and zero biases from np.random.default_rng([seed, i])."""
    convs = [layer for layer in base.layers if isinstance(layer, keras.layers.Conv2D)]
    for i, layer in enumerate(convs):
        rng = np.random.default_rng([seed, i])
        kh, kw, cin, cout = layer.kernel.shape
        std = np.sqrt(2.0 / (kh * kw * cin))
        layer.kernel.assign(rng.normal(0.0, std, size=(kh, kw, cin, cout)).astype("float32"))
        layer.bias.assign(np.zeros((cout,), "float32"))


def resolve_vgg_weights(weights, layers=None):
    """(sha256, note) of a vgg_weights setting, checking a file before anything else runs.

    Args:
      weights: "imagenet" (the packaged asset, read and checked against its pinned sha256),
        "random" (sha256 ""; for tests only), or a path to a VGG16 weights file (read and
        checked: DataError naming the file and the first mismatching layer).
      layers: the VGG16 layers the model reads (config.vgg_layers), or None; "imagenet"
        with a layer past block3_conv1 raises DataError naming the full file to pass.

    Returns:
      (hex sha256 or "", a note on what was done with the file or "").
    """
    if weights == "random":
        return "", ""
    if weights == "imagenet":
        _check_imagenet_layers(layers or ())
        return vgg_weights.read_asset().sha256, ""
    wf = vgg_weights.read(_weights_path(weights))
    return wf.sha256, wf.note


def _check_imagenet_layers(layers):
    error = vgg_weights.imagenet_layers_error(layers)
    if error:
        raise DataError(error)


def _weights_path(weights):
    path = os.fspath(weights)
    if not path.endswith((".h5", ".hdf5")):
        raise DataError(
            f'vgg_weights={path!r}: expected "imagenet", "random" or a path to a VGG16 '
            ".weights.h5 / .h5 weights file")
    return path


def _vgg16_base(weights, sha256="", layers=()):
    """(VGG16 no-top model, whether it still needs the seeded random init)."""
    if getattr(_local, "from_checkpoint", False) or weights == "random":
        return keras.applications.VGG16(include_top=False, weights=None), True
    if weights == "imagenet":
        _check_imagenet_layers(layers)
        wf = vgg_weights.read_asset()
        note = vgg_weights.imagenet_record_note(sha256)
    else:
        wf = vgg_weights.read(_weights_path(weights))
        vgg_weights.check_sha256(wf.path, wf.sha256, sha256)
        note = wf.note
    if note:
        logging.info("%s", note)
    base = keras.applications.VGG16(include_top=False, weights=None)
    for name, (kernel, bias) in wf.weights.items():
        layer = base.get_layer(name)
        layer.kernel.assign(kernel)
        layer.bias.assign(bias)
    return base, False


def build_vgg(weights, seed=0, layers=("block1_conv1", "block2_conv1", "block3_conv1"),
              image_size=None, sha256=""):
    """Frozen VGG16 feature extractor for RGB images in [0, 1].

    Args:
      weights: "imagenet" (the ImageNet VGG16 up to block3_conv1 packaged in
        wae_style/assets; no network; deeper layers need the full file), a path to a
        VGG16 weights file: Keras 3 .weights.h5 or legacy Keras 2 .h5, no-top or with-top
        (then only its conv layers are used); DataError naming the file if it is missing,
        unreadable or not VGG16 (wae_style.vgg_weights), or "random" (for tests only:
        He-normal from np.random.default_rng, identical in every process for the same
        seed; not a style network). Never falls back between these.
      seed: seed of the "random" weights.
      layers: VGG16 conv layer names to return; the network is cut after the deepest.
      image_size: fixed input side, or None for any size.
      sha256: the weights file's recorded sha256 (config.vgg_weights_sha256); a file
        with another hash raises DataError. "" skips the check. For "imagenet" the asset
        is pinned by its own sha256; a record from before the asset (the Keras download's
        sha256) is accepted with a logged note.

    Returns:
      A keras.Model (B, H, W, 3) -> {layer name: (B, h, w, C) activation}, trainable=False.
    """
    layers = tuple(layers)
    bad = [n for n in layers if n not in configs.VGG16_CONV_LAYERS]
    if not layers or bad:
        raise ValueError(f"build_vgg layers must be VGG16 conv layers, got {layers}")
    base, needs_init = _vgg16_base(weights, sha256, layers)
    deepest = max(configs.VGG16_CONV_LAYERS.index(n) for n in layers)
    last = configs.VGG16_CONV_LAYERS[deepest]
    inputs = keras.Input((image_size, image_size, 3), name="images")
    x = VGGPreprocess(name="vgg_preprocess")(inputs)
    outputs = {}
    for layer in base.layers[1:]:
        x = layer(x)
        if layer.name in layers:
            outputs[layer.name] = x
        if layer.name == last:
            break
    model = keras.Model(inputs, outputs, name="vgg16_features")
    if needs_init:
        _random_init(model, seed)
    model.trainable = False
    return model


def _as_config(config):
    return config if isinstance(config, configs.WAEConfig) else configs.WAEConfig.from_dict(config)


def _wn(layer, config):
    if config.weight_norm:
        return WeightNormalization(layer, data_init=config.data_dependent_init)
    return layer


@keras.saving.register_keras_serializable(package="sketchstyle")
class ContentEncoder(keras.layers.Layer):
    """Content encoder of seed Table 1: five strided convs (ELU), then Dense to mean, logvar.

    Conv 3x3/1, then 4x4/2 convs; with glu_gating the activation after convs 3-5 is
    a GLU that halves the channels (128->64, 256->128, 512->256), else ELU.

    Args:
      config: a WAEConfig (or its dict).
      **kwargs: base Layer arguments.

    Reference:
      Nakada & Asoh, "A Style Transfer Method using Wasserstein Autoencoder", 2018, Table 1.
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = _as_config(config)
        ch = self.config.encoder_channels
        specs = [(ch[0], 3, 1)] + [(c, 4, 2) for c in ch[1:]]
        self.convs = [
            _wn(keras.layers.Conv2D(c, k, strides=s, padding="same", name=f"conv{i + 1}"),
                self.config)
            for i, (c, k, s) in enumerate(specs)]
        self.glu = GLU(name="glu") if self.config.glu_gating else None
        self.dense = _wn(keras.layers.Dense(2 * self.config.content_dim, name="dense"),
                         self.config)

    def _gated(self, i):
        return self.glu is not None and i >= 2

    def build(self, input_shape):
        shape = tuple(input_shape)
        for i, conv in enumerate(self.convs):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            if self._gated(i):
                shape = shape[:-1] + (shape[-1] // 2,)
        self.dense.build((shape[0], shape[1] * shape[2] * shape[3]))

    def call(self, images, training=None):
        x = images
        for i, conv in enumerate(self.convs):
            x = conv(x, training=training)
            x = self.glu(x) if self._gated(i) else ops.elu(x)
        s = self.config.image_size // 16
        x = ops.reshape(x, (-1, s * s * x.shape[-1]))  # (B, s*s*C)
        out = self.dense(x, training=training)  # (B, 2*content_dim)
        mean, logvar = ops.split(out, 2, axis=-1)
        return mean, logvar + self.config.logvar_offset

    def get_config(self):
        config = super().get_config()
        config["config"] = self.config.to_dict()
        return config


@keras.saving.register_keras_serializable(package="sketchstyle")
class StyleEncoder(keras.layers.Layer):
    """Style nets: per style layer, Gram matrix -> Dense net -> (mean, logvar).

    Each layer's Gram matrix (wae_style.gram.gram_matrix, normalised by H*W) is
    flattened (upper triangle by default; it is symmetric), optionally log1p-scaled,
    standardised per example (its mean and standard deviation are appended as two
    extra inputs, so the overall level is kept) and mapped by Dense(style_hidden, ELU)
    then Dense(2 * style_dim_per_layer).
    Means and log-variances of all layers are concatenated (64 x 3 = 192).

    Args:
      config: a WAEConfig (or its dict).
      **kwargs: base Layer arguments.

    Reference:
      Nakada & Asoh 2018, section 4.2; Gatys et al., "Image Style Transfer Using
      Convolutional Neural Networks", CVPR 2016 (Gram matrices).
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = _as_config(config)
        self.nets = []
        for name in self.config.style_layers:
            net = [_wn(keras.layers.Dense(h, activation="elu", name=f"{name}_hidden{j}"),
                       self.config)
                   for j, h in enumerate(self.config.style_hidden)]
            net.append(_wn(keras.layers.Dense(2 * self.config.style_dim_per_layer,
                                              name=f"{name}_out"), self.config))
            self.nets.append(net)

    def _flat_size(self, channels):
        if self.config.gram_flatten == "triu":
            return channels * (channels + 1) // 2 + 2
        return channels * channels + 2

    def build(self, input_shape):
        """input_shape: {layer name: (B, h, w, C)} (or a list in style_layers order)."""
        shapes = ([input_shape[n] for n in self.config.style_layers]
                  if isinstance(input_shape, dict) else list(input_shape))
        for net, shape in zip(self.nets, shapes):
            size = self._flat_size(shape[-1])
            for dense in net:
                dense.build((None, size))
                size = dense.compute_output_shape((None, size))[-1]

    def _flatten_gram(self, gram, channels):
        flat = ops.reshape(gram, (-1, channels * channels))  # (B, C*C)
        if self.config.gram_flatten == "triu":
            rows, cols = np.triu_indices(channels)
            flat = ops.take(flat, rows * channels + cols, axis=1)  # (B, C(C+1)/2)
        if self.config.gram_transform == "log1p":
            flat = ops.sign(flat) * ops.log1p(ops.abs(flat))
        # Standardise per example and keep the overall level and spread as two extra
        # inputs: raw Gram entries span decades and would saturate the Dense nets.
        level = ops.mean(flat, axis=-1, keepdims=True)  # (B, 1)
        spread = ops.std(flat, axis=-1, keepdims=True)  # (B, 1)
        flat = (flat - level) / (spread + 1e-6)
        return ops.concatenate([flat, level, spread], axis=-1)  # (B, F + 2)

    def call(self, features, training=None, grams=None):
        """(mean, logvar) from VGG features; `grams` ({layer: (B, C, C)}) skips their Grams."""
        feats = ([features[n] for n in self.config.style_layers]
                 if isinstance(features, dict) else list(features))
        means, logvars = [], []
        for name, net, f in zip(self.config.style_layers, self.nets, feats):
            channels = f.shape[-1]
            gram = grams[name] if grams is not None else gram_matrix(f)
            x = self._flatten_gram(gram, channels)
            for dense in net:
                x = dense(x, training=training)
            mean, logvar = ops.split(x, 2, axis=-1)
            means.append(mean)
            logvars.append(logvar)
        logvar = ops.concatenate(logvars, axis=-1)
        return ops.concatenate(means, axis=-1), logvar + self.config.logvar_offset

    def get_config(self):
        config = super().get_config()
        config["config"] = self.config.to_dict()
        return config


@keras.saving.register_keras_serializable(package="sketchstyle")
class Decoder(keras.layers.Layer):
    """Decoder of seed Table 2: Dense -> 4x4x1024, subpixel convs, ResBlocks, 5x5 conv.

    [z_content; z_style] -> Dense(4*4*1024), ReLU -> Subpixel 8x8x512 -> ResBlock x3
    -> Subpixel 16x16x256 -> 32x32x128 -> 64x64x64 (ReLU after each) -> Conv 5x5 to 3,
    sigmoid so the output lies in [0, 1] like the input images. The sigmoid and the output
    are float32 under any dtype policy.
    The subpixel convs start from config.subpixel_init ("icnr": no checkerboard at step 0).

    Args:
      config: a WAEConfig (or its dict).
      **kwargs: base Layer arguments.

    Reference:
      Nakada & Asoh 2018, Table 2 and Figure 4.
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = _as_config(config)
        cfg = self.config
        ch = cfg.decoder_channels
        self.start = cfg.image_size // 16
        self.dense = _wn(keras.layers.Dense(self.start * self.start * ch[0], name="dense"), cfg)
        opts = dict(weight_norm=cfg.weight_norm, data_init=cfg.data_dependent_init)
        up = dict(opts, activation="relu", init=cfg.subpixel_init)
        self.up1 = SubpixelConv2D(ch[1], 3, name="subpixel1", **up)
        self.res_blocks = [ResBlock(ch[1], name=f"res{i + 1}", **opts)
                           for i in range(cfg.num_res_blocks)]
        self.ups = [SubpixelConv2D(c, 3, name=f"subpixel{i + 2}", **up)
                    for i, c in enumerate(ch[2:])]
        self.out_conv = _wn(keras.layers.Conv2D(3, 5, padding="same", name="out_conv"), cfg)

    def build(self, input_shape):
        ch = self.config.decoder_channels
        self.dense.build(input_shape)
        shape = (None, self.start, self.start, ch[0])
        self.up1.build(shape)
        shape = self.up1.compute_output_shape(shape)
        for block in self.res_blocks:
            block.build(shape)
        for up in self.ups:
            up.build(shape)
            shape = up.compute_output_shape(shape)
        self.out_conv.build(shape)

    def call(self, z, training=None):
        ch = self.config.decoder_channels
        x = ops.relu(self.dense(z, training=training))
        x = ops.reshape(x, (-1, self.start, self.start, ch[0]))  # (B, 4, 4, 1024)
        x = self.up1(x, training=training)
        for block in self.res_blocks:
            x = block(x, training=training)
        for up in self.ups:
            x = up(x, training=training)
        logits = self.out_conv(x, training=training)  # (B, 64, 64, 3), bf16 under bf16
        return ops.sigmoid(ops.cast(logits, "float32"))  # float32 under any policy

    def get_config(self):
        config = super().get_config()
        config["config"] = self.config.to_dict()
        return config


@keras.saving.register_keras_serializable(package="sketchstyle")
class LatentDiscriminator(keras.layers.Layer):
    """WAE-GAN latent discriminator: an MLP from z to one logit (prior = 1, encoder = 0).

    Args:
      hidden: hidden layer sizes (ReLU).
      **kwargs: base Layer arguments.

    Reference:
      Tolstikhin et al., "Wasserstein Auto-Encoders", ICLR 2018 (WAE-GAN).
    """

    def __init__(self, hidden=(256, 256), **kwargs):
        super().__init__(**kwargs)
        self.hidden = tuple(int(h) for h in hidden)
        self.denses = [keras.layers.Dense(h, activation="relu", name=f"hidden{i}")
                       for i, h in enumerate(self.hidden)]
        self.out = keras.layers.Dense(1, name="logit")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for dense in self.denses:
            dense.build(shape)
            shape = dense.compute_output_shape(shape)
        self.out.build(shape)

    def call(self, z):
        x = z
        for dense in self.denses:
            x = dense(x)
        return ops.squeeze(self.out(x), -1)  # (B,)

    def get_config(self):
        config = super().get_config()
        config["hidden"] = list(self.hidden)
        return config


def _normal(shape, seed, dtype="float32"):
    """N(0, 1) from a SeedGenerator / int / None (keras.random) or a (2,) int seed tensor."""
    if seed is None or isinstance(seed, (int, keras.random.SeedGenerator)):
        return keras.random.normal(shape, dtype=dtype, seed=seed)
    return tf.random.stateless_normal(shape, seed=tf.cast(seed, tf.int32), dtype=dtype)


def _batch(x):
    return x.shape[0] if x.shape[0] is not None else ops.shape(x)[0]


def _broadcast_pair(a, b):
    """Broadcasts (Na, .) and (Nb, .) to a common batch (one of them may be 1)."""
    na, nb = a.shape[0], b.shape[0]
    if na is not None and nb is not None and na != nb and 1 not in (na, nb):
        raise ValueError(f"cannot broadcast batches {na} and {nb}: need equal sizes or 1")
    a = a + ops.zeros_like(b[:, :1])  # (N, Da)
    b = b + ops.zeros_like(a[:, :1])  # (N, Db)
    return a, b


@keras.saving.register_keras_serializable(package="sketchstyle")
class WAEStyle(keras.Model):
    """WAE style transfer: Dec(z_content(content image), z_style(style image)).

    Holds a frozen VGG16 (style Gram features and the perceptual loss), the content
    encoder, the style nets, the decoder and, for penalty="gan", two latent
    discriminators (content and style). Built on construction.

    Args:
      config: a WAEConfig (or its dict).
      **kwargs: keras.Model arguments (name).

    Reference:
      Nakada & Asoh, "A Style Transfer Method using Wasserstein Autoencoder", 2018;
      Tolstikhin et al., "Wasserstein Auto-Encoders", ICLR 2018.
    """

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = _as_config(config)
        cfg = self.config
        self.vgg = build_vgg(cfg.vgg_weights, cfg.vgg_seed, cfg.vgg_layers, cfg.image_size,
                             sha256=cfg.vgg_weights_sha256)
        self.content_encoder = ContentEncoder(cfg, name="content_encoder")
        self.style_encoder = StyleEncoder(cfg, name="style_encoder")
        self.decoder = Decoder(cfg, name="decoder")
        if cfg.penalty == "gan":
            self.disc_content = LatentDiscriminator(cfg.disc_hidden, name="disc_content")
            self.disc_style = LatentDiscriminator(cfg.disc_hidden, name="disc_style")
        else:
            self.disc_content = self.disc_style = None
        self.seed_generator = keras.random.SeedGenerator(cfg.seed)
        self.build((None, cfg.image_size, cfg.image_size, 3))

    def build(self, input_shape):
        cfg = self.config
        if not self.content_encoder.built:
            self.content_encoder.build(input_shape)
        if not self.style_encoder.built:
            shapes = {n: tuple(self.vgg.output[n].shape) for n in cfg.style_layers}
            self.style_encoder.build(shapes)
        if not self.decoder.built:
            self.decoder.build((None, cfg.content_dim + cfg.style_dim))
        if self.disc_content is not None and not self.disc_content.built:
            self.disc_content.build((None, cfg.content_dim))
            self.disc_style.build((None, cfg.style_dim))

    # Pieces.

    def vgg_features(self, images):
        """{layer name: VGG16 activation} of images in [0, 1]."""
        return dict(self.vgg(images, training=False))

    def encode_content(self, images, training=False):
        """(mean, logvar) of the content latent, each (B, content_dim)."""
        return self.content_encoder(images, training=training)

    def encode_style(self, images, training=False, features=None, grams=None):
        """(mean, logvar) of the style latent, each (B, style_dim).

        Reuses VGG `features` and their Gram matrices `grams` ({style layer: (B, C, C)}) if
        given.
        """
        if features is None:
            features = self.vgg_features(images)
        return self.style_encoder(features, training=training, grams=grams)

    def style_grams(self, features):
        """{style layer: (B, C, C) float32 Gram matrix} of VGG features."""
        return {n: gram_matrix(features[n]) for n in self.config.style_layers}

    def bf16_layers(self):
        """The layers that compute in bf16 when training with precision "bfloat16".

        The VGG16, the content encoder's convs and the decoder's Dense and convs. The
        content encoder's Dense (the latents), the style nets (Gram matrices) and the
        decoder's sigmoid (the reconstruction) stay float32; weight norm is float32
        everywhere (wae_style.layers.WeightNormalization).
        """
        dec = self.decoder
        out = [self.vgg, dec.dense, dec.up1] + dec.res_blocks + dec.ups + [dec.out_conv]
        out += list(self.content_encoder.convs)
        if self.content_encoder.glu is not None:
            out.append(self.content_encoder.glu)
        return out

    def _precision(self, compute_dtype):
        if compute_dtype in (None, "float32"):
            return contextlib.nullcontext()
        if compute_dtype != "bfloat16":
            raise ValueError(f'compute_dtype={compute_dtype!r}: use "float32" or "bfloat16"')
        return precision.compute_policy(self.bf16_layers(), precision.BF16_POLICY)

    def sample_latent(self, mean, logvar, training=False, seed=None):
        """z = mean + exp(logvar / 2) * eps when training (or given a seed), else mean.

        seed: None (the model's SeedGenerator), an int, a SeedGenerator or a (2,) int tensor.
        """
        if not training and seed is None:
            return mean
        logvar = ops.clip(logvar, *LOGVAR_RANGE)
        eps = _normal(ops.shape(mean), self.seed_generator if seed is None else seed,
                      dtype=mean.dtype)
        return mean + ops.exp(0.5 * logvar) * eps

    def decode(self, z_content, z_style, training=False):
        """Images in [0, 1] from (B, content_dim) and (B, style_dim) latents."""
        z = ops.concatenate([z_content, z_style], axis=-1)  # (B, content_dim + style_dim)
        return self.decoder(z, training=training)

    def discriminate(self, z_content, z_style):
        """WAE-GAN logits {"content": (B,), "style": (B,)}; penalty="gan" only."""
        if self.disc_content is None:
            raise ValueError('discriminate() needs a model built with penalty="gan"')
        return {"content": self.disc_content(z_content), "style": self.disc_style(z_style)}

    @property
    def discriminator_trainable_variables(self):
        if self.disc_content is None:
            return []
        return self.disc_content.trainable_variables + self.disc_style.trainable_variables

    @property
    def generator_trainable_variables(self):
        """Encoder, style-net and decoder variables (VGG is frozen, discriminators apart)."""
        return (self.content_encoder.trainable_variables
                + self.style_encoder.trainable_variables + self.decoder.trainable_variables)

    # Whole passes.

    def call(self, images, training=False, return_features=None, compute_dtype=None):
        """Reconstructs images from their own content and style latents.

        Returns a dict: recon, z_content, z_style, content_mean, content_logvar,
        style_mean, style_logvar; with return_features (default: training) also
        "features" / "recon_features" (VGG activations for the losses) and "grams" (the
        inputs' float32 Gram matrices of the style layers, computed once for the style
        nets and the Gram loss); with penalty="gan" and training also "disc_content" /
        "disc_style" logits of z.

        compute_dtype: None or "float32", or "bfloat16": the bf16_layers() compute in bf16
        (traced so; the layers return to their policies afterwards). The latents, Gram
        matrices and reconstruction stay float32; the VGG features are bf16.
        """
        if return_features is None:
            return_features = bool(training)
        with self._precision(compute_dtype):
            feats = self.vgg_features(images)
            c_mean, c_logvar = self.encode_content(images, training=training)
        grams = self.style_grams(feats)
        s_mean, s_logvar = self.encode_style(images, training=training, features=feats,
                                             grams=grams)
        z_c = self.sample_latent(c_mean, c_logvar, training=training)
        z_s = self.sample_latent(s_mean, s_logvar, training=training)
        with self._precision(compute_dtype):
            recon = self.decode(z_c, z_s, training=training)
            recon_feats = self.vgg_features(recon) if return_features else None
        out = {"recon": recon, "z_content": z_c, "z_style": z_s,
               "content_mean": c_mean, "content_logvar": c_logvar,
               "style_mean": s_mean, "style_logvar": s_logvar}
        if return_features:
            out["features"] = feats
            out["recon_features"] = recon_feats
            out["grams"] = grams
        if training and self.disc_content is not None:
            logits = self.discriminate(z_c, z_s)
            out["disc_content"], out["disc_style"] = logits["content"], logits["style"]
        return out

    def transfer(self, content_images, style_images, strength=1.0):
        """Stylised images in one feed-forward pass (latent means, no sampling).

        z_style = (1 - strength) * style(content) + strength * style(style_images).
        A batch of 1 broadcasts against a batch of N, either way.
        """
        z_c, _ = self.encode_content(content_images)
        z_s, _ = self.encode_style(style_images)
        if not (isinstance(strength, (int, float)) and strength == 1.0):
            own, _ = self.encode_style(content_images)
            t = ops.cast(strength, z_s.dtype)
            own, z_s = _broadcast_pair(own, z_s)
            z_s = (1.0 - t) * own + t * z_s
        z_c, z_s = _broadcast_pair(z_c, z_s)
        return self.decode(z_c, z_s)

    def mix_styles(self, style_a, style_b, t):
        """Style latent (1 - t) * style(style_a) + t * style(style_b), batches broadcast."""
        za, _ = self.encode_style(style_a)
        zb, _ = self.encode_style(style_b)
        za, zb = _broadcast_pair(za, zb)
        t = ops.cast(t, za.dtype)
        return (1.0 - t) * za + t * zb

    def data_dependent_init(self, images):
        """One eager training pass: weight-normed layers with data_init set g and bias.

        Needed before strategy.run under a multi-replica strategy (call it inside
        strategy.scope()); single-device training initialises on its first step anyway.
        """
        self(images, training=True, return_features=False)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        wae_config = config.pop("config")
        kwargs = {k: config[k] for k in ("name",) if k in config}
        model = cls(wae_config, **kwargs)
        model.trainable = config.get("trainable", True)
        model.vgg.trainable = False
        return model


def load_model(path):
    """Loads a saved .keras WAEStyle; the VGG weights come from the file, not vgg_weights."""
    with vgg_weights_from_checkpoint():
        return keras.saving.load_model(path)
