"""WAE style losses: pixel, VGG feature and Gram terms; WAE-MMD and WAE-GAN penalties."""

import keras
from keras import ops
import tensorflow as tf

from wae_style.gram import gram_matrix

DEFAULT_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def _mse(x, y, per_example):
    """Mean squared error, in float32 at least (bf16 activations are cast up first)."""
    x = ops.convert_to_tensor(x)
    if x.dtype not in ("float32", "float64"):
        x = ops.cast(x, "float32")
    y = ops.cast(ops.convert_to_tensor(y), x.dtype)
    if not per_example:  # One fused sum of squares; its gradient is one multiply.
        diff = x - y
        return 2.0 * tf.nn.l2_loss(diff) / ops.cast(ops.size(diff), x.dtype)
    sq = ops.square(x - y)
    return ops.mean(ops.reshape(sq, (ops.shape(sq)[0], -1)), axis=1)  # (B,)


def _select(feats, layers):
    """A list of activations from a dict (in `layers` order) or a list."""
    if isinstance(feats, dict):
        return [feats[n] for n in (layers if layers is not None else feats)]
    return list(feats)


def pixel_loss(x, y, per_example=False):
    """Mean squared pixel error; (B,) per image with per_example."""
    return _mse(x, y, per_example)


def feature_loss(feats_x, feats_y, layers=None, per_example=False):
    """Mean over layers of the MSE between VGG activations.

    Args:
      feats_x, feats_y: {layer name: (B, h, w, C)} dicts or lists in the same order.
      layers: names to use (dicts only); default all of feats_x.
      per_example: return (B,) instead of a scalar.
    """
    fx, fy = _select(feats_x, layers), _select(feats_y, layers if layers else
                                                 (list(feats_x) if isinstance(feats_x, dict)
                                                  else None))
    terms = [_mse(a, b, per_example) for a, b in zip(fx, fy)]
    return ops.mean(ops.stack(terms), axis=0)


def gram_loss(feats_x, feats_y, layers=None, per_example=False, grams_x=None):
    """Mean over layers of the MSE between Gram matrices (wae_style.gram.gram_matrix).

    grams_x: the Gram matrices of feats_x if already computed, in the same form (a dict
    with the same names, or a list in the same order).
    """
    fx, fy = _select(feats_x, layers), _select(feats_y, layers if layers else
                                                 (list(feats_x) if isinstance(feats_x, dict)
                                                  else None))
    gx = ([gram_matrix(a) for a in fx] if grams_x is None
          else _select(grams_x, layers if layers else
                       (list(feats_x) if isinstance(feats_x, dict) else None)))
    terms = [_mse(g, gram_matrix(b), per_example) for g, b in zip(gx, fy)]
    return ops.mean(ops.stack(terms), axis=0)


def squared_distances(x, y):
    """(N, M) matrix of ||x_i - y_j||^2, clipped at 0 against round-off."""
    xx = ops.sum(ops.square(x), axis=1, keepdims=True)  # (N, 1)
    yy = ops.sum(ops.square(y), axis=1, keepdims=True)  # (M, 1)
    d = xx + ops.transpose(yy) - 2.0 * ops.matmul(x, ops.transpose(y))  # (N, M)
    return ops.maximum(d, 0.0)


def imq_kernel_sum(x, y, scales=DEFAULT_SCALES, prior_sigma=1.0):
    """(N, M) inverse multiquadratic kernel summed over scales.

    k(x, y) = sum_s C_s / (C_s + ||x - y||^2), C_s = 2 * d_z * prior_sigma^2 * s,
    as in the official wae code (Tolstikhin et al. 2018).
    """
    x = ops.convert_to_tensor(x)
    y = ops.cast(ops.convert_to_tensor(y), x.dtype)
    base = 2.0 * x.shape[-1] * prior_sigma ** 2
    dist = squared_distances(x, y)
    total = 0.0
    for scale in scales:
        c = base * scale
        total = total + c / (c + dist)
    return total


def mmd_penalty(z, prior_samples, scales=DEFAULT_SCALES, prior_sigma=1.0):
    """Unbiased IMQ-kernel MMD^2 between encoder samples z (N, d) and prior samples (M, d).

    MMD = sum_{i!=j} k(z_i, z_j) / (N(N-1)) + sum_{i!=j} k(p_i, p_j) / (M(M-1))
          - 2 sum_{i,j} k(z_i, p_j) / (N M).
    """
    z = ops.convert_to_tensor(z)
    p = ops.cast(ops.convert_to_tensor(prior_samples), z.dtype)
    n = ops.cast(ops.shape(z)[0], z.dtype)
    m = ops.cast(ops.shape(p)[0], z.dtype)

    def off_diagonal_sum(a):
        k = imq_kernel_sum(a, a, scales, prior_sigma)
        return ops.sum(k * (1.0 - ops.eye(ops.shape(a)[0], dtype=k.dtype)))

    qq = off_diagonal_sum(z) / (n * n - n)
    pp = off_diagonal_sum(p) / (m * m - m)
    qp = 2.0 * ops.sum(imq_kernel_sum(z, p, scales, prior_sigma)) / (n * m)
    return qq + pp - qp


def sample_prior(batch_size, config, seed=None):
    """Prior samples {"content": (B, content_dim), "style": (B, style_dim)} ~ N(0, sigma^2 I).

    seed: None, an int or a keras SeedGenerator (keras.random), or a (2,) int tensor.
    """
    dim = config.content_dim + config.style_dim
    if seed is None or isinstance(seed, (int, keras.random.SeedGenerator)):
        eps = keras.random.normal((batch_size, dim), seed=seed)
    else:
        eps = tf.random.stateless_normal((batch_size, dim), seed=tf.cast(seed, tf.int32))
    z = config.prior_sigma * eps  # (B, content_dim + style_dim)
    return {"content": z[:, :config.content_dim], "style": z[:, config.content_dim:]}


def gan_generator_loss(logits_q):
    """Encoder's WAE-GAN loss: -log D(z) (the discriminator should call z prior-like)."""
    return ops.mean(ops.softplus(-logits_q))


def discriminator_loss(logits_q, logits_p):
    """Discriminator cross-entropy: prior samples labelled 1, encoder samples 0."""
    return ops.mean(ops.softplus(-logits_p)) + ops.mean(ops.softplus(logits_q))


def discriminator_losses(q_logits, p_logits, config):
    """WAE-GAN discriminator objective from {"content", "style"} logit dicts.

    Returns {"disc_loss": gan_lambda * (content + style), "disc_content", "disc_style"}.
    """
    dc = discriminator_loss(q_logits["content"], p_logits["content"])
    ds = discriminator_loss(q_logits["style"], p_logits["style"])
    return {"disc_loss": config.gan_lambda * (dc + ds), "disc_content": dc, "disc_style": ds}


def reconstruction_terms(model_outputs, images, config):
    """Unweighted {"pixel", "feature", "gram"} terms of a reconstruction."""
    if "features" not in model_outputs or "recon_features" not in model_outputs:
        raise ValueError("model outputs lack VGG features: call the model with "
                         "training=True or return_features=True")
    feats, recon_feats = model_outputs["features"], model_outputs["recon_features"]
    return {
        "pixel": pixel_loss(images, model_outputs["recon"]),
        "feature": feature_loss(feats, recon_feats, layers=config.content_feature_layers),
        "gram": gram_loss(feats, recon_feats, layers=config.style_layers,
                          grams_x=model_outputs.get("grams")),
    }


def compute_losses(model_outputs, images, prior, config):
    """All WAE style training losses.

    Args:
      model_outputs: WAEStyle(images, training=True) output dict (with VGG features;
        with penalty="gan" also the disc_content / disc_style logits).
      images: (B, H, W, 3) inputs in [0, 1].
      prior: {"content", "style"} prior samples, or a seed for sample_prior.
      config: the WAEConfig.

    Returns:
      {"loss", "pixel", "feature", "gram", "recon", "mmd_content", "mmd_style", "mmd"}
      and, with penalty="gan", "gan_content", "gan_style", "gan". loss = recon +
      mmd_lambda * mmd (MMD) or recon + gan_lambda * gan (GAN; MMD is then a metric).
    """
    out = reconstruction_terms(model_outputs, images, config)
    out["recon"] = (config.pixel_weight * out["pixel"] + config.feature_weight * out["feature"]
                    + config.gram_weight * out["gram"])
    if not isinstance(prior, dict):
        prior = sample_prior(ops.shape(model_outputs["z_content"])[0], config, seed=prior)
    kw = dict(scales=config.mmd_scales, prior_sigma=config.prior_sigma)
    out["mmd_content"] = mmd_penalty(model_outputs["z_content"], prior["content"], **kw)
    out["mmd_style"] = mmd_penalty(model_outputs["z_style"], prior["style"], **kw)
    out["mmd"] = out["mmd_content"] + out["mmd_style"]
    if config.penalty == "gan":
        if "disc_content" not in model_outputs:
            raise ValueError('penalty="gan" needs the discriminator logits: call a '
                             'penalty="gan" model with training=True')
        out["gan_content"] = gan_generator_loss(model_outputs["disc_content"])
        out["gan_style"] = gan_generator_loss(model_outputs["disc_style"])
        out["gan"] = out["gan_content"] + out["gan_style"]
        out["loss"] = out["recon"] + config.gan_lambda * out["gan"]
    else:
        out["loss"] = out["recon"] + config.mmd_lambda * out["mmd"]
    return out


def suggest_loss_weights(model_outputs, images, config, pixel_weight=1.0):
    """Weights that make the three reconstruction terms equal to pixel_weight * pixel.

    Measure on a freshly initialised model (docs/wae_style.md records the defaults).
    """
    terms = reconstruction_terms(model_outputs, images, config)
    pixel = float(ops.convert_to_numpy(terms["pixel"])) * pixel_weight
    return {"pixel_weight": pixel_weight,
            "feature_weight": pixel / float(ops.convert_to_numpy(terms["feature"])),
            "gram_weight": pixel / float(ops.convert_to_numpy(terms["gram"]))}
