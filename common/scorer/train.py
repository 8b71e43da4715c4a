"""AlexNet scorer training: labelled strokes or TFDS bitmaps, augmentation, eval, reports, export."""

import json
import pathlib

import keras
import tensorflow as tf

from common.files import atomic_write_text
from common.images import grid
from common.scorer import export as export_lib
from common.scorer.data import (
    DATA_INFO, data_info, load_data, load_real_train, make_batches, to_images)
from common.scorer.evaluate import (
    TEST_METRICS, TEST_REPORT, Predictor, confusion_image, evaluate_split, ink_to_picture, report)
from common.scorer.losses import classification_loss
from common.scorer.model import AlexNet
from common.training import loop
from common.training import steps as train_steps
from common.training import strategies
from common.training import workdir as workdir_lib
from common.training.schedules import learning_rate

# Fields that may change when a run is resumed; any other change needs --overwrite.
RESUMABLE_FIELDS = ("num_steps", "save_every", "eval_every", "log_every", "strategy",
                    "max_grad_norm", "test_data")


# ----------------------------------------------------------------------------- data


# ----------------------------------------------------------------------------- training


def build(config, num_classes, strategy):
    """Creates the model, the step counter and the optimiser under `strategy`."""
    with strategy.scope():
        model = AlexNet(**config.model_kwargs(num_classes))
        model.build((None, config.image_size, config.image_size, 1))
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")

        def lr():
            return learning_rate(step, config.learning_rate, config.decay_rate,
                                 config.min_learning_rate)

        if config.weight_decay > 0:
            optimizer = keras.optimizers.AdamW(learning_rate=lr, weight_decay=config.weight_decay)
        else:
            optimizer = keras.optimizers.Adam(learning_rate=lr)
        optimizer.build(model.trainable_variables)
    return model, step, optimizer


def make_replica_step(model, optimizer, step, config):
    """The per-replica step: rasterise, forward, all-reduced gradients, a guarded update."""

    def replica_step(batch):
        images = to_images(batch, config)
        labels = batch["labels"]

        def loss_fn():
            logits = model(images, training=True)
            loss = classification_loss(logits, labels, config.label_smoothing)
            acc = tf.reduce_mean(tf.cast(
                tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels), tf.float32))
            return loss, {"accuracy": acc}

        grads, loss, aux, grad_norm, finite = train_steps.global_gradients(
            loss_fn, model.trainable_variables, config.grad_clip,
            max_grad_norm=config.max_grad_norm)
        train_steps.apply_if_finite(optimizer, grads, model.trainable_variables, finite)
        lr = learning_rate(step, config.learning_rate, config.decay_rate, config.min_learning_rate)
        return {"loss": loss, "accuracy": aux["accuracy"], "lr": lr, "grad_norm": grad_norm,
                "finite": finite}

    return replica_step


def _eval_split_name(splits):
    return "valid" if len(splits.valid) else "train"  # Tiny data may have no valid split.


def make_evaluate(model, splits, config, state):
    """Validation accuracy / loss / error_rate; keeps the confusion matrix in `state`."""
    split = _eval_split_name(splits)
    predictor = Predictor(model, config)  # Traced once, reused at every evaluation.

    def evaluate(_):
        r = evaluate_split(predictor, splits, split, config, batch_size=max(config.batch_size, 64))
        state["confusion"] = r["confusion"]
        return {"accuracy": r["accuracy"], "error_rate": 1.0 - r["accuracy"], "loss": r["loss"],
                "mean_true_prob": r["mean_true_prob"]}

    return evaluate


def make_images(batches, config, state):
    """A rasterised, augmented training batch and the latest confusion matrix."""

    def images(step):
        batch = batches.batch(step)
        x = to_images({k: tf.constant(v) for k, v in batch.items()}, config).numpy()[:16]
        out = {"train_batch": grid.to_summary_image(
            grid.image_grid(ink_to_picture(x), ncols=min(8, len(x))))}
        if state.get("confusion") is not None:
            out["confusion"] = grid.to_summary_image(confusion_image(state["confusion"]))
        return out

    return images


def train_and_evaluate(config, workdir, overwrite=False):
    """Trains (or resumes) the scorer in `workdir`, then reports test accuracy.

    Writes config.json, data.json, checkpoints/, best/ (best valid error_rate), events/,
    export/ (SavedModel, at every save), and test_report.md / test_metrics.json (final
    weights, and the best-on-valid checkpoint when there is one).

    Returns:
      dict: the last training metrics plus test_accuracy (final weights).
    """
    workdir = pathlib.Path(workdir)
    strategy = strategies.make_strategy(config.strategy)
    splits = load_data(config)  # Bad data fails here, before the workdir is touched.
    real = load_real_train(splits, config)
    info = data_info(splits)
    if real is not None:
        info.update(num_real_train=len(real.sketches), notes=info["notes"] + real.notes)
    print(f"Data: {info['num_train']} train / {info['num_valid']} valid / {info['num_test']} "
          f"test examples in {info['num_classes']} classes.", flush=True)
    for note in info.get("notes", []):
        print(note, flush=True)
    built = build(config, info["num_classes"], strategy)
    chief, _ = strategies.worker_info(strategy)
    with workdir_lib.claim_workdir(workdir, config.to_dict(), RESUMABLE_FIELDS, overwrite, chief,
                                   type(config)().to_dict()):
        return _train(config, workdir, splits, info, strategy, built, real)


def _train(config, workdir, splits, info, strategy, built, real=None):
    chief, _ = strategies.worker_info(strategy)
    if chief:
        atomic_write_text(workdir / DATA_INFO, json.dumps(info, indent=2) + "\n")
    batches = make_batches(splits, config, "train", augment=True, real=real)
    model, step, optimizer = built
    state = {}

    def export(path):
        export_lib.export(model, config, info, path)

    spec = loop.LoopSpec(
        workdir=workdir, strategy=strategy, num_steps=config.num_steps,
        log_every=config.log_every, eval_every=config.eval_every, save_every=config.save_every,
        step=step, trackables={"model": model, "optimizer": optimizer, "step": step,
                               "rng": train_steps.seed_generator_states(model)},
        make_dataset=batches.dataset,
        replica_step=make_replica_step(model, optimizer, step, config),
        items_per_step=config.batch_size, item_name="examples",
        evaluate=make_evaluate(model, splits, config, state),
        images=make_images(batches, config, state), export=export, best_metric="error_rate")
    last = loop.run(spec)
    if chief and len(splits.test):
        last["test_accuracy"] = _test_report(model, step.numpy(), splits, config, workdir, info)
    print(loop.describe_outputs(workdir), flush=True)
    return last


def _test_report(model, step, splits, config, workdir, info):
    """Evaluates the final and the best-on-valid weights on test; writes the report.

    test_metrics.json has the keys "final" and (with a best checkpoint) "best", each with
    step, accuracy, loss, mean_true_prob, num_examples and per_class.
    """
    step = int(step)
    results = {"final": (step, evaluate_split(model, splits, "test", config))}
    best = tf.train.latest_checkpoint(str(workdir / "best"))
    if best:
        best_step = tf.Variable(0, dtype=tf.int64)
        best_model = AlexNet(**config.model_kwargs(info["num_classes"]))
        best_model.build((None, config.image_size, config.image_size, 1))
        tf.train.Checkpoint(model=best_model, step=best_step).restore(best).expect_partial()
        k = int(best_step.numpy())
        results["best"] = (k, results["final"][1] if k == step
                           else evaluate_split(best_model, splits, "test", config))
    if "best" in results and results["best"][0] == step:
        runs = [(f"final = best on valid (step {step})", results["final"][1])]
    else:
        runs = [(f"final (step {step})", results["final"][1])]
        if "best" in results:
            runs.append((f"best on valid (step {results['best'][0]})", results["best"][1]))
    report(runs, workdir / TEST_REPORT, title="AlexNet scorer: test accuracy")
    summary = {key: {"step": k, "accuracy": r["accuracy"], "loss": r["loss"],
                     "mean_true_prob": r["mean_true_prob"], "num_examples": r["num_examples"],
                     "per_class": r["per_class"]} for key, (k, r) in results.items()}
    atomic_write_text(workdir / TEST_METRICS, json.dumps(summary, indent=2) + "\n")
    print("Test accuracy " + ", ".join(f"{r['accuracy']:.4f} ({label})" for label, r in runs)
          + f"; chance {1.0 / info['num_classes']:.4f}.", flush=True)
    return results["final"][1]["accuracy"]
