"""Evidence on Google's pretrained decoders: python -m scripts.report_pretrained --out=DIR [--figures=DIR]."""

import os
import shlex
import sys

from absl import app
from absl import flags

from common import cli
from reports.pretrained import report as pretrained_report
from commands import inputs

SHARED = os.path.join("..", "shared", "data")
FLAGS = flags.FLAGS
flags.DEFINE_string("models", os.path.join(SHARED, "pretrained_sketch_rnn"),
                    "Folder of sketch-rnn-js .gen.json decoders.")
flags.DEFINE_string("sketches", os.path.join(SHARED, "sketches"),
                    "Folder with quickdraw_exupery_raw*/ (raw QuickDraw ndjson, one file per "
                    "class) and hardmaru_sketch-rnn-datasets/aaron_sheep.npz.")
flags.DEFINE_string("out", None, "Output folder: workdirs/ (imports, kept when unchanged), "
                    "report.json and report.md.", required=True)
flags.DEFINE_string("figures", None, "Folder for the PNGs (default: --out).")
flags.DEFINE_list("model", None, "Only these models (names of MODEL.gen.json; default: all).")
flags.DEFINE_list("classes", None, "Classes of drawings to score (default: the models' names).")
flags.DEFINE_integer("samples_shown", 4, "Samples drawn per model and temperature.")
flags.DEFINE_integer("samples_stats", 25, "Samples per model and temperature for the statistics.")
flags.DEFINE_list("temperature", ["0.1", "0.5", "0.9"], "Sampling temperatures.")
flags.DEFINE_integer("completion_drawings", 2, "Real drawings completed per model (0: none).")
flags.DEFINE_integer("completion_n", 3, "Completions per drawing.")
flags.DEFINE_float("completion_temperature", 0.3, "Completion temperature.")
flags.DEFINE_integer("seed", 0, "Sampling seed.")
flags.DEFINE_integer("cell", 80, "Grid cell size in pixels (16-1024).", lower_bound=16,
                     upper_bound=1024)
flags.DEFINE_bool("aaron_sheep", True, "Score the sheep model (and the others) on aaron_sheep's "
                  "test split with its train-split normaliser.")
flags.DEFINE_list("sweep_classes", list(pretrained_report.SWEEP_CLASSES),
                  "Classes for the normaliser sweep (own model on own drawings).")
flags.DEFINE_integer("batch_size", 100, "Sketches per log_likelihood call.")


def main(argv):
    del argv
    cli.quiet_logging()
    temps = cli.exit_on_error(inputs.parse_temperatures, FLAGS.temperature)
    cli.exit_on_error(
        pretrained_report.run, FLAGS.models, FLAGS.sketches, FLAGS.out,
        command="python -m scripts.report_pretrained " + shlex.join(sys.argv[1:]),
        figures=FLAGS.figures, model_names=FLAGS.model, classes=FLAGS.classes,
        samples_shown=FLAGS.samples_shown, samples_stats=FLAGS.samples_stats,
        sample_temperatures=tuple(temps), completion_drawings=FLAGS.completion_drawings,
        completion_n=FLAGS.completion_n, completion_temperature=FLAGS.completion_temperature,
        seed=FLAGS.seed, cell=FLAGS.cell, aaron_sheep=FLAGS.aaron_sheep,
        sweep_classes=tuple(FLAGS.sweep_classes or ()), batch_size=FLAGS.batch_size)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
