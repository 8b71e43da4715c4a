"""Numpy-friendly style transfer helpers on top of a WAEStyle model (batched, compiled once)."""

import weakref

import numpy as np
import tensorflow as tf

from common.errors import DataError

_FNS = weakref.WeakKeyDictionary()


def as_image_batch(images, size, name="images"):
    """(N, size, size, 3) float32 in [0, 1] from one image or a batch (uint8 is divided by 255).

    Raises:
      DataError: wrong shape, or float values outside [0, 1]; the message names `name`.
    """
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    arr = arr.astype(np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[1:] != (size, size, 3) or len(arr) == 0:
        raise DataError(f"{name}: expected ({size}, {size}, 3) or (N, {size}, {size}, 3) "
                        f"images, got shape {np.asarray(images).shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name}: float images must lie in [0, 1], got non-finite values")
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise DataError(f"{name}: float images must lie in [0, 1], got range "
                        f"[{arr.min()}, {arr.max()}]")
    return arr


def _broadcast_indices(n_a, n_b, what):
    if n_a != n_b and 1 not in (n_a, n_b):
        raise DataError(f"{what}: cannot pair {n_a} with {n_b} images; need equal counts or 1")
    n = max(n_a, n_b)
    return n, np.arange(n) % n_a, np.arange(n) % n_b


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


def _batched(fn, n, batch_size, *arrays):
    out = []
    for start in range(0, n, batch_size):
        out.append(fn(*[a[start:start + batch_size] for a in arrays]).numpy())
    return np.concatenate(out, axis=0)


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
    n, ic, js = _broadcast_indices(len(c), len(s), "transfer")
    fns = _compiled(model)
    if float(strength) == 1.0:
        out = _batched(fns["transfer"], n, batch_size, c[ic], s[js])
    else:
        t = tf.constant(float(strength), tf.float32)
        out = _batched(lambda a, b: fns["blend"](a, b, t), n, batch_size, c[ic], s[js])
    return out[0] if single else out


def reconstruct(model, images, batch_size=64):
    """Reconstructions (latent means, no sampling) of (N, H, W, 3) or (H, W, 3) images."""
    x = as_image_batch(images, model.config.image_size)
    out = _batched(_compiled(model)["reconstruct"], len(x), batch_size, x)
    return out[0] if np.ndim(images) == 3 else out


def style_latents(model, images, batch_size=64):
    """(N, style_dim) style latent means."""
    x = as_image_batch(images, model.config.image_size)
    return _batched(_compiled(model)["style"], len(x), batch_size, x)


def mix_styles(model, style_a, style_b, t):
    """Style latent (1 - t) * style(style_a) + t * style(style_b); one image broadcasts."""
    za, zb = style_latents(model, style_a), style_latents(model, style_b)
    _, ia, ib = _broadcast_indices(len(za), len(zb), "mix_styles")
    return ((1.0 - t) * za[ia] + t * zb[ib]).astype(np.float32)


def transfer_latent(model, content, z_style, batch_size=64):
    """Decodes content images with given (N, style_dim) or (style_dim,) style latents."""
    c = as_image_batch(content, model.config.image_size, "content")
    z = np.asarray(z_style, np.float32).reshape(-1, model.config.style_dim)
    n, ic, jz = _broadcast_indices(len(c), len(z), "transfer_latent")
    return _batched(_compiled(model)["decode_style"], n, batch_size, c[ic], z[jz])


def transfer_grid(model, contents, styles, strength=1.0, pad=2, batch_size=64):
    """A uint8 grid: first row the styles, first column the contents, cell (i, j) the transfer.

    The top-left cell is white. Returns common.render.image_grid's uint8 image with
    len(contents) + 1 rows and len(styles) + 1 columns.
    """
    from common.render import image_grid

    size = model.config.image_size
    c = as_image_batch(contents, size, "contents")
    s = as_image_batch(styles, size, "styles")
    pairs_c = np.repeat(c, len(s), axis=0)  # (Nc*Ns, H, W, 3), content-major
    pairs_s = np.tile(s, (len(c), 1, 1, 1))
    out = transfer(model, pairs_c, pairs_s, strength=strength, batch_size=batch_size)
    out = out.reshape(len(c), len(s), size, size, 3)
    rows = [np.concatenate([np.ones((1, size, size, 3), np.float32), s])]
    rows += [np.concatenate([c[i:i + 1], out[i]]) for i in range(len(c))]
    return image_grid(np.concatenate(rows), ncols=len(s) + 1, pad=pad)
