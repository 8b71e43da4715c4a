"""Experiment 1 at the seed's level, resumable: python -m scripts.run_experiment1 --corpus=corpus/quickdraw23 --real=corpus/quickdraw23_real --out=docs/experiments/exp1_qd23."""

import shlex
import sys

from absl import app
from absl import flags

from common import cli
from experiments.sketch import exp1_run

FLAGS = flags.FLAGS
flags.DEFINE_string("corpus", None, "Generated training corpus (scripts.make_quickdraw_corpus).",
                    required=True)
flags.DEFINE_string("real", None, "Real-drawing split (scripts.split_real_drawings).",
                    required=True)
flags.DEFINE_string("scorer_workdir", "workdirs/qd23_alexnet", "AlexNet scorer workdir.")
flags.DEFINE_string("model_workdir", "workdirs/qd23_sketch_rnn", "Sketch RNN workdir.")
flags.DEFINE_string("out", None, "Report folder: curve.md / .json / .png and the latest "
                    "Experiment 1 report (report.md, report.json, grid.png).", required=True)
flags.DEFINE_string("scorer_config", "default", "Scorer preset.")
flags.DEFINE_string("model_config", "default", "Sketch RNN preset.")
flags.DEFINE_multi_string("scorer_override", [], "Scorer config overrides, field=value.")
flags.DEFINE_multi_string("model_override", [], "Sketch RNN config overrides, field=value.")
flags.DEFINE_integer("scorer_every", 1000, "Scorer steps between curve points.")
flags.DEFINE_integer("scorer_max_steps", 10000, "Scorer steps at most.")
flags.DEFINE_integer("model_every", 2000, "Sketch RNN steps between curve points.")
flags.DEFINE_integer("model_max_steps", 40000, "Sketch RNN steps at most.")
flags.DEFINE_integer("target", 34, "Correct outputs that end the run (the seed's 34 of 60).")
flags.DEFINE_integer("patience", 3, "Points without improvement that make a curve flat.")
flags.DEFINE_integer("num_inputs", 60, "Experiment 1 inputs.")
flags.DEFINE_bool("real_training", True, "Mix the split's train/ drawings into the scorer's "
                  "batches (never its test/ or inputs/).")


def main(argv):
    del argv
    cli.quiet_logging()
    plan = exp1_run.Exp1Plan(
        corpus=FLAGS.corpus, real=FLAGS.real, scorer_workdir=FLAGS.scorer_workdir,
        model_workdir=FLAGS.model_workdir, scorer_config=FLAGS.scorer_config,
        model_config=FLAGS.model_config, scorer_overrides=tuple(FLAGS.scorer_override),
        model_overrides=tuple(FLAGS.model_override), scorer_every=FLAGS.scorer_every,
        scorer_max_steps=FLAGS.scorer_max_steps, model_every=FLAGS.model_every,
        model_max_steps=FLAGS.model_max_steps, target=FLAGS.target, patience=FLAGS.patience,
        num_inputs=FLAGS.num_inputs, real_training=FLAGS.real_training)
    command = "python -m scripts.run_experiment1 " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    try:
        cli.exit_on_error(exp1_run.run, plan, FLAGS.out, command)
    except exp1_run.ChildFailed as e:
        print(f"stopped: {e}", file=sys.stderr, flush=True)
        sys.exit(e.code if 0 < e.code < 256 else 1)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
