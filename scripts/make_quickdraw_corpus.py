"""Samples a QuickDraw-like corpus from Sketch RNN decoders: python -m scripts.make_quickdraw_corpus --models=workdirs/google --out=corpus."""

from absl import app
from absl import flags

from common import cli
from experiments.sketch import corpus

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("models", None, "Workdirs or exports, or folders of them (one model "
                          "per class, e.g. imported .gen.json models).", required=True)
flags.DEFINE_string("out", None, "Output folder: one sketch-rnn .npz per class.", required=True)
flags.DEFINE_integer("train", 20_000, "Training drawings per class.")
flags.DEFINE_integer("valid", 500, "Validation drawings per class.")
flags.DEFINE_float("temperature", 1.0, "Sampling temperature (1.0: the learned distribution).")
flags.DEFINE_integer("seed", 0, "Base seed (class k uses seed + k).")
flags.DEFINE_integer("batch_size", 1000, "Drawings per call of the export.")
flags.DEFINE_list("classes", None, "Only these classes (default: every model found).")


def main(argv):
    del argv
    cli.quiet_logging()
    cli.exit_on_error(corpus.make_corpus, FLAGS.models, FLAGS.out, FLAGS.train, FLAGS.valid,
                      FLAGS.temperature, FLAGS.seed, FLAGS.batch_size, FLAGS.classes)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
