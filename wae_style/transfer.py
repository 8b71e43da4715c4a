"""Style transfer with an in-process WAEStyle model (numpy in and out, batched, compiled once)."""

import weakref

import numpy as np
import tensorflow as tf

from wae_style import batches
from wae_style.batches import as_image_batch, batched, pair_indices

_FNS = weakref.WeakKeyDictionary()


def _compiled(model):
    """tf.functions for the model, traced once per model (batch dimension left open)."""
    fns = _FNS.get(model)
    if fns is None:
        ref = weakref.ref(model)
        size = model.config.image_size
        img = tf.TensorSpec((None, size, size, 3), tf.float32)
        z_style = tf.TensorSpec((None, model.config.style_dim), tf.float32)
        fns = {
            "transfer": tf.function(lambda c, s: ref().transfer(c, s),
                                    input_signature=[img, img]),
            "blend": tf.function(lambda c, s, t: ref().transfer(c, s, strength=t),
                                 input_signature=[img, img, tf.TensorSpec((), tf.float32)]),
            "reconstruct": tf.function(lambda x: ref()(x, training=False)["recon"],
                                       input_signature=[img]),
            "style": tf.function(lambda x: ref().encode_style(x)[0], input_signature=[img]),
            "decode_style": tf.function(
                lambda c, z: ref().decode(ref().encode_content(c)[0], z),
                input_signature=[img, z_style]),
        }
        _FNS[model] = fns
    return fns


def transfer(model, content, style, strength=1.0, batch_size=64):
    """Stylises content images with style images in feed-forward passes.

    Args:
      model: a WAEStyle.
      content: (H, W, 3) or (N, H, W, 3) images in [0, 1] (or uint8).
      style: likewise; one image broadcasts against N, either way.
      strength: 1 uses the style image's latent; 0 the content's own; between blends.
      batch_size: images per forward pass.

    Returns:
      float32 (N, H, W, 3) in [0, 1]; (H, W, 3) when both inputs were single images.
    """
    size = model.config.image_size
    single = np.ndim(content) == 3 and np.ndim(style) == 3
    c = as_image_batch(content, size, "content")
    s = as_image_batch(style, size, "style")
    n, ic, js = pair_indices(len(c), len(s), "transfer")
    fns = _compiled(model)
    if float(strength) == 1.0:
        out = batched(fns["transfer"], n, batch_size, c[ic], s[js])
    else:
        t = tf.constant(float(strength), tf.float32)
        out = batched(lambda a, b: fns["blend"](a, b, t), n, batch_size, c[ic], s[js])
    return out[0] if single else out


def reconstruct(model, images, batch_size=64):
    """Reconstructions (latent means, no sampling) of (N, H, W, 3) or (H, W, 3) images."""
    x = as_image_batch(images, model.config.image_size)
    out = batched(_compiled(model)["reconstruct"], len(x), batch_size, x)
    return out[0] if np.ndim(images) == 3 else out


def style_latents(model, images, batch_size=64):
    """(N, style_dim) style latent means."""
    x = as_image_batch(images, model.config.image_size)
    return batched(_compiled(model)["style"], len(x), batch_size, x)


def mix_styles(model, style_a, style_b, t):
    """Style latent (1 - t) * style(style_a) + t * style(style_b); one image broadcasts."""
    za, zb = style_latents(model, style_a), style_latents(model, style_b)
    _, ia, ib = pair_indices(len(za), len(zb), "mix_styles")
    return ((1.0 - t) * za[ia] + t * zb[ib]).astype(np.float32)


def transfer_latent(model, content, z_style, batch_size=64):
    """Decodes content images with given (N, style_dim) or (style_dim,) style latents."""
    c = as_image_batch(content, model.config.image_size, "content")
    z = np.asarray(z_style, np.float32).reshape(-1, model.config.style_dim)
    n, ic, jz = pair_indices(len(c), len(z), "transfer_latent")
    return batched(_compiled(model)["decode_style"], n, batch_size, c[ic], z[jz])


def transfer_grid(model, contents, styles, strength=1.0, pad=2, batch_size=64):
    """A content x style grid (see wae_style.batches.transfer_grid) from an in-process model."""
    size = model.config.image_size
    return batches.transfer_grid(
        lambda c, s: transfer(model, c, s, strength=strength, batch_size=batch_size),
        as_image_batch(contents, size, "contents"), as_image_batch(styles, size, "styles"), pad)
