"""Baselines for the comparison: Gatys optimisation and per-image content/style losses."""

import time

import numpy as np
import keras
from keras import ops
import tensorflow as tf

from wae_style import losses
from wae_style.batches import as_image_batch


def _layers(vgg_model, layers):
    return tuple(layers) if layers else tuple(vgg_model.output)


def content_style_losses(vgg_model, outputs, contents, styles, content_layers=None,
                         style_layers=None, batch_size=64):
    """Per-image content loss (VGG feature MSE to the content) and style loss (Gram MSE).

    Args:
      vgg_model: a build_vgg model (dict outputs).
      outputs: (N, H, W, 3) stylised images in [0, 1].
      contents, styles: (N, H, W, 3) or one image (broadcast) in [0, 1].
      content_layers, style_layers: VGG layers of each loss; default all outputs.
      batch_size: images per VGG pass.

    Returns:
      (content_loss, style_loss), float32 arrays of shape (N,).
    """
    size = int(np.shape(outputs)[-2])
    out = as_image_batch(outputs, size, "outputs")
    c = as_image_batch(contents, size, "contents")
    s = as_image_batch(styles, size, "styles")
    n = len(out)
    for name, arr in (("contents", c), ("styles", s)):
        if len(arr) not in (1, n):
            raise ValueError(f"{name}: need 1 or {n} images, got {len(arr)}")
    c_layers, s_layers = _layers(vgg_model, content_layers), _layers(vgg_model, style_layers)
    c_all, s_all = [], []
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        fo = vgg_model(out[sl])
        fc = vgg_model(c if len(c) == 1 else c[sl])
        fs = vgg_model(s if len(s) == 1 else s[sl])
        c_all.append(ops.convert_to_numpy(
            losses.feature_loss(fo, fc, layers=c_layers, per_example=True)))
        s_all.append(ops.convert_to_numpy(
            losses.gram_loss(fo, fs, layers=s_layers, per_example=True)))
    return np.concatenate(c_all).astype(np.float32), np.concatenate(s_all).astype(np.float32)


def gatys_transfer(vgg_model, content, style, iterations=200, content_weight=1.0,
                   style_weight=1.0, lr=0.05, seed=0, init="noise", content_layers=None,
                   style_layers=None, normalise=True):
    """Gatys et al. style transfer: optimise the output pixels against VGG losses.

    loss = content_weight * Lc(out, content) / nc + style_weight * Ls(out, style) / ns
    with Lc = losses.feature_loss and Ls = losses.gram_loss, the VGG terms the WAE is
    trained with. With normalise, nc = Lc(style, content) and ns = Ls(content, style),
    so the weights are dimensionless (the content image scores style_weight, the style
    image content_weight) whatever the VGG weights; else nc = ns = 1. Pixels are
    sigmoid(u) with u optimised by Adam, so they stay in [0, 1]. Each step is
    compiled with tf.function.

    Args:
      vgg_model: a build_vgg model (dict outputs).
      content, style: (H, W, 3) images in [0, 1].
      iterations: Adam steps.
      content_weight, style_weight: loss weights.
      lr: Adam learning rate on the logits u.
      seed: seed of the noise init.
      init: "noise" (uniform in [0.25, 0.75], as in Gatys) or "content".
      content_layers, style_layers: VGG layers of each loss; default all outputs.
      normalise: divide each term by its content-vs-style value (see above).

    Returns:
      (image (H, W, 3) float32, info) with info keys content_loss, style_loss (raw,
      as content_style_losses reports them), loss (weighted, normalised),
      initial_loss, seconds (whole optimisation incl. tracing), iterations.

    Reference:
      Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural
      Networks", CVPR 2016.
    """
    size = int(np.shape(content)[-2])
    c = as_image_batch(content, size, "content")[:1]
    s = as_image_batch(style, size, "style")[:1]
    if init == "noise":
        x0 = np.random.default_rng(seed).uniform(0.25, 0.75, c.shape)
    elif init == "content":
        x0 = c
    else:
        raise ValueError(f"init must be 'noise' or 'content', got {init!r}")
    x0 = np.clip(x0, 1e-3, 1.0 - 1e-3)
    start = time.perf_counter()
    c_layers, s_layers = _layers(vgg_model, content_layers), _layers(vgg_model, style_layers)
    feats_c, feats_s = vgg_model(c), vgg_model(s)
    target_c = {k: feats_c[k] for k in c_layers}
    target_s = {k: feats_s[k] for k in s_layers}
    nc = ns = 1.0
    if normalise:
        nc = max(float(ops.convert_to_numpy(
            losses.feature_loss(feats_s, target_c, layers=c_layers))), 1e-12)
        ns = max(float(ops.convert_to_numpy(
            losses.gram_loss(feats_c, target_s, layers=s_layers))), 1e-12)
    u = keras.Variable(np.log(x0 / (1.0 - x0)).astype(np.float32), name="gatys_logits")
    opt = keras.optimizers.Adam(lr)
    opt.build([u])

    def objective():
        feats = vgg_model(ops.sigmoid(u))
        cl = losses.feature_loss(feats, target_c, layers=c_layers)
        sl = losses.gram_loss(feats, target_s, layers=s_layers)
        return content_weight * cl / nc + style_weight * sl / ns, cl, sl

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss, cl, sl = objective()
        opt.apply_gradients([(tape.gradient(loss, u.value), u)])
        return loss

    initial = float(ops.convert_to_numpy(objective()[0]))
    for _ in range(int(iterations)):
        step()
    loss, cl, sl = objective()
    image = ops.convert_to_numpy(ops.sigmoid(u))[0].astype(np.float32)
    info = {"content_loss": float(ops.convert_to_numpy(cl)),
            "style_loss": float(ops.convert_to_numpy(sl)),
            "loss": float(ops.convert_to_numpy(loss)), "initial_loss": initial,
            "seconds": time.perf_counter() - start, "iterations": int(iterations)}
    return image, info
