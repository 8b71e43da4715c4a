"""Scores drawings by likelihood under Sketch RNN models: python -m scripts.score_sketches --model=W --input=FILE[:SPLIT]."""

from absl import app
from absl import flags

from common import cli
from commands import scoring

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("model", None, "Exported SavedModel folder or workdir (repeat).",
                          required=True)
flags.DEFINE_multi_string("input", None, "Drawings: FILE.ndjson, FILE.npz[:SPLIT] (default test) "
                          "or a folder of them; each file is one class (repeat).", required=True)
flags.DEFINE_string("normaliser", None, "Score every model with this normaliser: a number, or "
                    "'inputs' (the std of all the inputs' offsets). Default: each model's own.")
flags.DEFINE_string("out", None, "JSON file for per-sketch and per-class values.")
flags.DEFINE_integer("batch_size", 100, "Sketches per call.")
flags.DEFINE_integer("max_per_file", None, "Score only the first N readable sketches of each "
                     "file (a large class file is read no further).")


def main(argv):
    del argv
    cli.quiet_logging()
    cli.exit_on_error(scoring.score, FLAGS.model, FLAGS.input, FLAGS.out, FLAGS.normaliser,
                      FLAGS.batch_size, FLAGS.max_per_file)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
