"""Sketch RNN training: one tf.function step, TensorBoard summaries, checkpoints, resume and export."""

import pathlib

import keras
import numpy as np
import tensorflow as tf

from common.errors import DataError
from common.images import grid
from common.strokes import formats as strokes_lib
from common.strokes import render
from common.training import checkpoints as checkpoints_lib
from common.training import layout
from common.training import loop
from common.training import schedules
from common.training import steps as train_steps
from common.training import strategies
from common.training import workdir as workdir_lib
from sketch_rnn import data
from sketch_rnn import export as export_lib
from sketch_rnn import losses
from sketch_rnn import sample as sample_lib
from sketch_rnn.configs import describe_matmul_dtype, read_workdir_config
from sketch_rnn.model import SketchRNN

# Fields that may change when a run is resumed; any other change needs --overwrite.
RESUMABLE_FIELDS = ("num_steps", "save_every", "eval_every", "eval_max_sketches", "log_every",
                    "strategy", "jit_compile", "sample_temperatures", "matmul_dtype",
                    "max_grad_norm", "init_from")
METRICS = ("loss", "L_R", "L_s", "L_p", "L_KL", "w_KL", "lr", "grad_norm")
SHOWN = ("loss", "L_R", "L_s", "L_p", "L_KL")  # On the progress line.
EVAL_METRICS = ("loss", "L_R", "L_s", "L_p", "L_KL", "nll_offsets", "nll_pen", "nll")
TEST_METRICS = ("nll_offsets", "nll_pen", "nll")  # Also logged on the test split, as test_*.
# On pixel data also the probability of the whole-pixel offsets (see pixel_cells.cell_log_prob).
DISCRETE_METRICS = ("nll_offsets_discrete", "nll_discrete")  # Valid, and test as test_*.


def build(config, strategy):
    """Creates the model, the step counter and the optimiser under `strategy`."""
    keras.utils.set_random_seed(config.seed)  # Same seed, same initial weights.
    with strategy.scope():
        model = SketchRNN(config)  # Builds every weight in __init__.
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        optimizer = keras.optimizers.Adam(learning_rate=lambda: schedules.learning_rate(
            tf.cast(step, tf.float32), config.learning_rate, config.decay_rate,
            config.min_learning_rate))
        optimizer.build(model.trainable_variables)
    return model, step, optimizer


def make_replica_step(model, optimizer, step, config):
    """The per-replica step: losses, all-reduced clipped gradients, a guarded update."""

    def replica_step(batch):
        def loss_fn():
            outputs = model(batch, training=True)
            values = losses.compute_losses(outputs, batch, step, config)
            return values["loss"], values

        grads, loss, values, grad_norm, finite = train_steps.global_gradients(
            loss_fn, model.trainable_variables, config.grad_clip, jit_compile=config.jit_compile,
            max_grad_norm=config.max_grad_norm)
        train_steps.apply_if_finite(optimizer, grads, model.trainable_variables, finite)
        lr = schedules.learning_rate(tf.cast(step, tf.float32), config.learning_rate,
                                  config.decay_rate, config.min_learning_rate)
        metrics = {k: tf.cast(values[k], tf.float32) for k in METRICS if k in values}
        metrics.update(loss=loss, grad_norm=grad_norm, lr=lr, finite=finite)
        return metrics

    return replica_step


def make_evaluate(model, step, config, pipeline, test_pipeline=None, half_width=None):
    """Mean validation losses over the whole split (no augmentation, z = mu), in fp32.

    Besides magenta's losses: nll_offsets, nll_pen and nll, the means over sketches of the
    `log_likelihood` signature's per-sketch values (nats per point, the data's normaliser);
    one end-of-sketch row is appended so that a sketch of max_seq_len points has its end
    step scored too, and magenta's losses see the first max_seq_len steps as before.

    With a test_pipeline the test split's NLLs are logged too (test_nll_offsets, ...), so
    the test curve can be read beside the validation one. Nothing is chosen by them: the
    best checkpoint is picked on validation.

    With `half_width` (half a pixel in the model's units; for pixel data) also
    nll_offsets_discrete and nll_discrete (and test_* of them): the offsets scored as whole
    pixels, by the mixture's mass over each pixel's cell. On such data the plain density
    NLL keeps falling as the mixture peaks on the integer lattice; this one is a probability
    and cannot, so it shows where the model stops improving.
    """
    per_sketch = ("mu", "presig", "z")
    training_model = model
    model, config = export_lib.fp32_copy(model, config)  # Validation in fp32, as exports.

    @tf.function
    def eval_batch(batch):
        longer = export_lib.with_end_row(batch["strokes"])  # (B, T + 2, 5)
        outputs = model({"strokes": longer, "lengths": batch["lengths"]}, training=False)
        first = {k: v if k in per_sketch else v[:, :-1] for k, v in outputs.items()}  # T steps
        values = losses.compute_losses(first, batch, step, config)
        values.update({k: tf.reduce_mean(v) for k, v in losses.sketch_nll(
            longer[:, 1:], batch["lengths"], outputs, half_width).items()})
        names = EVAL_METRICS + (DISCRETE_METRICS if half_width is not None else ())
        return {k: tf.cast(values[k], tf.float32) for k in names}

    def means(split):
        totals, n = {}, 0
        for batch in split.eval_batches():
            real = np.asarray(batch["weights"]) > 0  # The last batch is padded with copies.
            size = int(real.sum())
            out = eval_batch({"strokes": tf.constant(batch["strokes"][real]),
                              "lengths": tf.constant(batch["lengths"][real])})
            for k, v in out.items():
                totals[k] = totals.get(k, 0.0) + float(v) * size
            n += size
        return {k: v / max(n, 1) for k, v in totals.items()}

    def evaluate(_):
        export_lib.copy_weights(training_model, model)
        values = means(pipeline)
        if test_pipeline is not None:
            test = means(test_pipeline)
            values.update({f"test_{k}": test[k] for k in TEST_METRICS + DISCRETE_METRICS
                           if k in test})
        return values

    return evaluate


def reconstruct(model, sketches, temperature, seed, max_len):
    """Normalised stroke-3 sketches -> z = mu -> decoded stroke-3 sketches."""
    x, lengths = strokes_lib.pad_batch(sketches, max(len(s) for s in sketches))
    mu, _ = model.encode(tf.constant(x[:, 1:]), tf.constant(lengths), training=False)
    strokes5, out_lengths = sample_lib.decode(model, mu, temperature, seed, max_len)
    return sample_lib.to_stroke3_list(strokes5, out_lengths)


def make_images(model, config, splits, scale):
    """Rendered reconstructions next to their inputs, and samples at a few temperatures."""
    valid = splits.valid or splits.train
    inputs = [s for s in valid[:4]]

    def images(step):
        out = {}
        seed = int(step)
        if config.conditional and inputs:
            recon = reconstruct(model, inputs, temperature=0.1, seed=seed,
                                max_len=config.max_seq_len)
            pairs = [x for pair in zip(inputs, recon) for x in pair]
            out["reconstructions"] = grid.to_summary_image(render.sketch_grid(pairs, ncols=2, cell=96))
        for t in config.sample_temperatures:
            strokes5, lengths = sample_lib.sample(model, n=4, temperature=t, seed=seed,
                                                  max_len=config.max_seq_len)
            sketches = sample_lib.to_stroke3_list(strokes5, lengths)
            out[f"samples_tau_{t:g}"] = grid.to_summary_image(render.sketch_grid(sketches, ncols=4, cell=96))
        return out

    return images


def train_and_evaluate(config, workdir, overwrite=False, on_step=None):
    """Trains (or resumes) Sketch RNN in `workdir`; returns the last training metrics.

    on_step: optional step -> None called after each step (see common.training.loop.LoopSpec).
    """
    workdir = pathlib.Path(workdir)
    strategy = strategies.make_strategy(config.strategy)
    splits = load_data(config)  # Bad data fails here, before the workdir is touched.
    built = build(config, strategy)
    print(describe_matmul_dtype(config), flush=True)  # With why: measured, cached or set.
    if config.init_from and not checkpoints_lib.latest_checkpoint(workdir):
        init_weights(built[0], config.init_from)  # A resumed run restores its own weights.
    chief, _ = strategies.worker_info(strategy)
    with workdir_lib.claim_workdir(workdir, config.to_dict(), RESUMABLE_FIELDS, overwrite, chief,
                                   type(config)().to_dict()):
        return _train(config, workdir, splits, strategy, built, on_step)


def init_weights(model, workdir):
    """Copies the latest weights of another run's workdir into `model` (same architecture).

    The source may be a training run or an imported .gen.json model; precision and training
    settings may differ, the weights (names and shapes) may not.

    Raises:
        DataError: no run or checkpoint there, or a weight that does not match (named).
    """
    workdir = pathlib.Path(workdir)
    source_config, _ = read_workdir_config(workdir)
    latest = checkpoints_lib.latest_checkpoint(workdir)
    if latest is None:
        raise DataError(f"--init_from={workdir}: no checkpoint in {workdir / layout.CHECKPOINTS}")
    source = SketchRNN(source_config)
    tf.train.Checkpoint(model=source).restore(latest).expect_partial()

    def by_name(m):
        return {v.path.split("/", 1)[-1]: v for v in m.weights}

    theirs = by_name(source)
    for name, v in by_name(model).items():
        if name not in theirs:
            raise DataError(f"--init_from={workdir}: its model has no weight {name!r} "
                            f"{tuple(v.shape)}; the architectures differ")
        if tuple(theirs[name].shape) != tuple(v.shape):
            raise DataError(f"--init_from={workdir}: weight {name!r} has shape "
                            f"{tuple(theirs[name].shape)} there and {tuple(v.shape)} here")
    extra = sorted(set(theirs) - set(by_name(model)))
    if extra:
        raise DataError(f"--init_from={workdir}: its weight {extra[0]!r} has no place here; "
                        "the architectures differ")
    for name, v in by_name(model).items():
        v.assign(theirs[name])
    print(f"Weights from {latest} (optimiser and step start afresh).", flush=True)


def load_data(config):
    """The configured splits, with a summary printed (and what was dropped)."""
    splits = data.load(config)
    print(f"Data: {len(splits.train)} train / {len(splits.valid)} valid / {len(splits.test)} test "
          f"sketches in {len(splits.class_names)} classes; scale factor {splits.scale_factor:.4g}.",
          flush=True)
    dropped, clamped = sum(splits.n_dropped.values()), sum(splits.n_clamped.values())
    if dropped or clamped or splits.n_skipped:
        print(f"Data: dropped {dropped} sketches longer than max_seq_len={config.max_seq_len}; "
              f"clamped large offsets in {clamped}; skipped {splits.n_skipped} bad ndjson lines.",
              flush=True)
    return splits


def best_metric(config, splits):
    """The validation metric whose minimum picks the best checkpoint.

    On pixel data the NLL of the whole-pixel offsets and the pen (z = mu), a probability that
    the mixture cannot lower by peaking on the integer lattice; otherwise magenta's
    reconstruction loss (conditional) or whole loss (unconditional).
    """
    if splits.integer_offsets:
        return "nll_discrete"
    return "L_R" if config.conditional else "loss"


def _train(config, workdir, splits, strategy, built, on_step=None):
    data.write_info(workdir, splits)
    pipeline = data.train_pipeline(splits, config)
    valid = data.eval_pipeline(splits, config)
    test = data.eval_pipeline(splits, config, "test") if splits.test else None
    if config.eval_max_sketches:
        print(f"Evaluation: {len(valid.sketches)} valid / {len(test.sketches) if test else 0} "
              f"test sketches each time (eval_max_sketches={config.eval_max_sketches}).",
              flush=True)
    # Pixel data: also score whole pixels, and pick the best on it.
    half_width = 0.5 / splits.scale_factor if splits.integer_offsets else None
    model, step, optimizer = built
    info = data.info(splits)

    def export(path):
        export_lib.export(model, config, info, path)

    spec = loop.LoopSpec(
        workdir=workdir, strategy=strategy, num_steps=config.num_steps,
        log_every=config.log_every, eval_every=config.eval_every, save_every=config.save_every,
        step=step, trackables={"model": model, "optimizer": optimizer, "step": step,
                    "rng": train_steps.seed_generator_states(model)},
        make_dataset=pipeline.dataset, replica_step=make_replica_step(model, optimizer, step, config),
        items_per_step=config.batch_size, item_name="sketches",
        evaluate=make_evaluate(model, step, config, valid, test, half_width),
        images=make_images(model, config, splits, splits.scale_factor),
        export=export, best_metric=best_metric(config, splits), shown_metrics=SHOWN,
        on_step=on_step)
    last = loop.run(spec)
    print(loop.describe_outputs(workdir), flush=True)
    return last
