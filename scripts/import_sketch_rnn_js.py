"""Imports a Google sketch-rnn-js model: python -m scripts.import_sketch_rnn_js --input=sheep.gen.json --workdir=workdirs/sheep_google."""

from absl import app
from absl import flags

from common import cli
from sketch_rnn import pretrained

FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "A sketch-rnn-js / magenta-js .gen.json decoder, or a folder "
                    "of them.", required=True)
flags.DEFINE_string("workdir", None, "Where the imported run goes (config, checkpoint, export/); "
                    "for a folder, each model goes to WORKDIR/<name>.", required=True)
flags.DEFINE_string("normaliser", "magenta_js",
                    "Data units per model unit: 'magenta_js' (scale_factor / 2: the canvas pixels "
                    "of @magenta/sketch, about the 256-pixel QuickDraw box), 'scale_factor' (the "
                    "file's, QuickDraw-app pixels), a number, or a stroke file whose train "
                    "split's std is used (e.g. aaron_sheep.npz).")
flags.DEFINE_bool("overwrite", False, "Move a non-empty workdir's contents aside first.")


def main(argv):
    del argv
    cli.quiet_logging()
    cli.exit_on_error(pretrained.import_and_report, FLAGS.input, FLAGS.workdir, FLAGS.normaliser,
                      FLAGS.overwrite)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
