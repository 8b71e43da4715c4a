"""Encodes sketches and decodes them again (a conditional Sketch RNN): a PNG + SVG grid."""

from absl import app
from absl import flags

from common import cli
from commands import drawing
from commands import inputs

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Exported SavedModel folder or workdir (conditional).",
                    required=True)
flags.DEFINE_multi_string("input", None, "A sketch: FILE.ndjson[:INDEX] or FILE.npz[:SPLIT]:INDEX "
                          "(repeat for more rows).", required=True)
flags.DEFINE_string("out", "reconstructions", "Output prefix: writes OUT.png and OUT.svg.")
flags.DEFINE_integer("n", 3, "Reconstructions per input and temperature.")
flags.DEFINE_list("temperature", ["0.1", "0.5", "0.9"], "Temperatures, comma separated.")
flags.DEFINE_string("discrete_temperature", "paper", "Temperature of the mixture and pen "
                    "softmaxes: paper (= each temperature), web (0.5 + 0.5 x temperature, as "
                    "@magenta/sketch) or a number > 0.")
flags.DEFINE_integer("seed", 0, "Decoding seed.")
flags.DEFINE_integer("max_len", None, "Points per sketch at most (default: the model's max_seq_len).")
flags.DEFINE_integer("cell", 128, "Grid cell size in pixels (8-1024).", lower_bound=8,
                     upper_bound=1024)


def main(argv):
    del argv
    cli.quiet_logging()
    temps = cli.exit_on_error(inputs.parse_temperatures, FLAGS.temperature)
    discrete = cli.exit_on_error(inputs.parse_discrete_temperature, FLAGS.discrete_temperature)
    cli.exit_on_error(drawing.reconstruct, FLAGS.model, FLAGS.input, FLAGS.out, FLAGS.n, temps,
                      FLAGS.seed, FLAGS.max_len, FLAGS.cell, discrete)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
