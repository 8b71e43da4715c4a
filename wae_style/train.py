"""WAE style training: one tf.function step, TensorBoard summaries, checkpoints, resume and export."""

import dataclasses
import json
import pathlib

import keras
import numpy as np
import tensorflow as tf

from common.images import grid
from common.training import loop
from common.training import steps as train_steps
from common.training import strategies
from common.training import layout
from common.training import workdir as workdir_lib
from wae_style import data
from wae_style import export as export_lib
from wae_style import losses
from wae_style import precision as precision_lib
from wae_style import transfer as transfer_lib
from wae_style import vgg_weights
from wae_style.model import WAEStyle, resolve_vgg_weights

RESUMABLE_FIELDS = ("num_steps", "save_every", "eval_every", "log_every", "strategy", "jit_compile",
                    "max_grad_norm", "precision")
SHOWN = ("loss", "recon", "mmd")  # On the progress line.
EVAL_IMAGES = 64


def build(config, strategy):
    """Creates the model, the step counter and the optimisers under `strategy`."""
    keras.utils.set_random_seed(config.seed)  # Same seed, same initial weights.
    with strategy.scope():
        model = WAEStyle(config)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.adam_beta1,
                                          beta_2=config.adam_beta2)
        optimizer.build(model.generator_trainable_variables)
        disc_optimizer = None
        if config.penalty == "gan":
            disc_optimizer = keras.optimizers.Adam(config.disc_learning_rate,
                                                   beta_1=config.adam_beta1, beta_2=config.adam_beta2)
            disc_optimizer.build(model.discriminator_trainable_variables)
    return model, step, optimizer, disc_optimizer


def _prior_seed(config, step, salt):
    ctx = tf.distribute.get_replica_context()
    replica = ctx.replica_id_in_sync_group if ctx is not None else 0
    return tf.stack([tf.cast(config.seed * 1000 + salt, tf.int32),
                     tf.cast(step, tf.int32) * 64 + tf.cast(replica, tf.int32)])


def make_replica_step(model, optimizer, disc_optimizer, step, config):
    """Per replica: WAE losses, all-reduced gradients, a guarded update (and the GAN critic).

    The forward pass computes in precision_lib.training_dtype(config.precision, config).
    """
    gen_vars = model.generator_trainable_variables
    compute_dtype = precision_lib.training_dtype(config.precision, config)

    def replica_step(images):
        batch = tf.shape(images)[0]

        def loss_fn():
            outputs = model(images, training=True, compute_dtype=compute_dtype)
            prior = losses.sample_prior(batch, config, seed=_prior_seed(config, step, 1))
            values = losses.compute_losses(outputs, images, prior, config)
            values["z_content"], values["z_style"] = outputs["z_content"], outputs["z_style"]
            return values["loss"], values

        grads, loss, values, grad_norm, finite = train_steps.global_gradients(
            loss_fn, gen_vars, clip_value=0.0, jit_compile=config.jit_compile,
            max_grad_norm=config.max_grad_norm)
        train_steps.apply_if_finite(optimizer, grads, gen_vars, finite, jit_compile=True)
        metrics = {k: tf.cast(v, tf.float32) for k, v in values.items()
                   if k not in ("z_content", "z_style")}
        metrics.update(loss=loss, grad_norm=grad_norm)
        if disc_optimizer is not None:
            zc = tf.stop_gradient(values["z_content"])
            zs = tf.stop_gradient(values["z_style"])
            disc_vars = model.discriminator_trainable_variables

            def disc_fn():
                prior = losses.sample_prior(batch, config, seed=_prior_seed(config, step, 2))
                q = model.discriminate(zc, zs)
                p = model.discriminate(prior["content"], prior["style"])
                d = losses.discriminator_losses(q, p, config)
                return d["disc_loss"], d

            dgrads, dloss, _, _, dfinite = train_steps.global_gradients(
                disc_fn, disc_vars, 0.0, max_grad_norm=config.max_grad_norm)
            train_steps.apply_if_finite(disc_optimizer, dgrads, disc_vars, dfinite,
                                        jit_compile=True)
            metrics["disc_loss"] = dloss
            finite = tf.logical_and(finite, dfinite)
        metrics["finite"] = finite
        return metrics

    return replica_step


def make_evaluate(model, config, eval_images):
    """Reconstruction losses and MMD on the held-out images (latent means, fixed prior)."""

    @tf.function
    def eval_batch(images, seed):
        outputs = model(images, training=False, return_features=True)
        prior = losses.sample_prior(tf.shape(images)[0], config, seed=seed)
        values = losses.compute_losses(outputs, images, prior, config)
        return {k: values[k] for k in ("loss", "recon", "pixel", "feature", "gram", "mmd")}

    def evaluate(_):
        if eval_images is None:
            return {}
        totals, n = {}, 0
        for i in range(0, len(eval_images), config.batch_size):
            chunk = eval_images[i:i + config.batch_size]
            if len(chunk) < 2:  # The unbiased MMD needs two samples.
                continue
            out = eval_batch(tf.constant(chunk), tf.constant([config.seed, i], tf.int32))
            for k, v in out.items():
                totals[k] = totals.get(k, 0.0) + float(v) * len(chunk)
            n += len(chunk)
        return {k: v / max(n, 1) for k, v in totals.items()}

    return evaluate


def make_images(model, config, eval_images):
    """Input / reconstruction pairs and a content x style transfer grid."""
    contents = eval_images[:4] if eval_images is not None else data.content_reference_images(config, 4)
    styles = data.style_reference_images(config, 4)

    def images(_):
        recon = transfer_lib.reconstruct(model, contents)
        pairs = np.stack([x for pair in zip(contents, recon) for x in pair])
        transfers = transfer_lib.transfer_grid(model, contents, styles)
        return {"input_reconstruction": grid.to_summary_image(grid.image_grid(pairs, ncols=2)),
                "transfer_grid": grid.to_summary_image(transfers)}

    return images


def resolve_config(config):
    """(config with vgg_weights_sha256 set, note): checks the VGG weights before anything runs.

    Args:
      config: a WAEConfig. A non-empty vgg_weights_sha256 pins the file: another hash
        raises DataError.

    Returns:
      (resolved WAEConfig, a note on the weights to print, or "").
    """
    sha, note = resolve_vgg_weights(config.vgg_weights)
    vgg_weights.check_sha256(config.vgg_weights, sha, config.vgg_weights_sha256)
    return dataclasses.replace(config, vgg_weights_sha256=sha), note


def resumable_fields(workdir, config):
    """RESUMABLE_FIELDS plus what a resume may change about the VGG weights.

    vgg_weights_sha256 "" means unknown (a workdir from before the field, or "random"):
    only two known hashes are compared. With equal known hashes the file may have moved,
    so vgg_weights (its path) may change.
    """
    fields = RESUMABLE_FIELDS
    try:
        old = json.loads((pathlib.Path(workdir) / layout.CONFIG).read_text())
    except (OSError, ValueError):
        return fields  # No run yet, or a broken config.json that check_or_write_config names.
    if not isinstance(old, dict):
        return fields
    old_sha = old.get("vgg_weights_sha256") or ""
    if not old_sha or not config.vgg_weights_sha256:
        fields += ("vgg_weights_sha256",)
    elif old_sha == config.vgg_weights_sha256:
        fields += ("vgg_weights",)
    return fields


def describe_vgg(config):
    """One line on the VGG16 weights a run uses."""
    if config.vgg_weights == "random":
        return (f"VGG16 weights: 'random' (seeded He-normal init, seed {config.vgg_seed}; "
                "not ImageNet, for tests and offline smoke runs).")
    return (f"VGG16 weights: {config.vgg_weights!r} (pretrained, sha256 "
            f"{config.vgg_weights_sha256 or 'unknown'}).")


def train_and_evaluate(config, workdir, overwrite=False):
    """Trains (or resumes) the WAE in `workdir`; returns the last training metrics.

    The VGG weights are checked (and their sha256 put into the config) first, so a bad
    file fails before anything is written to `workdir`.
    """
    workdir = pathlib.Path(workdir)
    config, note = resolve_config(config.as_recorded(workdir / workdir_lib.CONFIG_NAME))
    strategy = strategies.make_strategy(config.strategy)
    if note:
        print(note + ".", flush=True)
    print(describe_vgg(config), flush=True)
    print(precision_lib.describe_precision(config), flush=True)  # "auto" measures here, once.
    # config.json records the precision that runs; a resume re-decides "auto" (resumable).
    config = dataclasses.replace(
        config, precision=precision_lib.training_dtype(config.precision, config))
    weights_note = config.loss_weights_note()
    if weights_note:
        print(weights_note, flush=True)
    sources = data.load_sources(config)  # Bad data fails here, before the workdir is touched.
    data.log_sources(sources)
    built = build(config, strategy)
    chief, _ = strategies.worker_info(strategy)
    with workdir_lib.claim_workdir(workdir, config.to_dict(), resumable_fields(workdir, config),
                                   overwrite, chief, type(config).absent_defaults()):
        return _train(config, workdir, sources, strategy, built)


def _train(config, workdir, sources, strategy, built):
    pipeline = data.MixedPipeline(sources, config.batch_size, config.seed)
    eval_images = sources.eval_images(EVAL_IMAGES)
    model, step, optimizer, disc_optimizer = built
    trackables = {"model": model, "optimizer": optimizer, "step": step,
                  "rng": train_steps.seed_generator_states(model)}
    if disc_optimizer is not None:
        trackables["disc_optimizer"] = disc_optimizer

    def export(path):
        export_lib.export(model, config, path)

    spec = loop.LoopSpec(
        workdir=workdir, strategy=strategy, num_steps=config.num_steps,
        log_every=config.log_every, eval_every=config.eval_every, save_every=config.save_every,
        step=step, trackables=trackables, make_dataset=pipeline.dataset,
        replica_step=make_replica_step(model, optimizer, disc_optimizer, step, config),
        items_per_step=config.batch_size, item_name="images",
        evaluate=make_evaluate(model, config, eval_images),
        images=make_images(model, config, eval_images), export=export, best_metric="recon",
        shown_metrics=SHOWN)
    last = loop.run(spec)
    print(loop.describe_outputs(workdir), flush=True)
    return last
