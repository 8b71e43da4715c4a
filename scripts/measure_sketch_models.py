"""Scores Sketch RNN models on a split and measures their samples: python -m scripts.measure_sketch_models --model=A --model=B --data=aaron_sheep.npz --out=DIR."""

from absl import app
from absl import flags

from common import cli
from experiments.sketch import quality
from commands import inputs

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("model", None, "Exported SavedModel folder or workdir (repeat).",
                          required=True)
flags.DEFINE_string("data", None, "Stroke file (.npz with splits, or .ndjson).", required=True)
flags.DEFINE_string("split", "test", "Split of an .npz file to score and show.")
flags.DEFINE_string("normaliser", "train", "'train' (the std of the file's train split, the "
                    "same for every model), 'own' (each model's), or a number.")
flags.DEFINE_list("temperature", [str(t) for t in quality.TEMPERATURES], "Sampling temperatures.")
flags.DEFINE_list("discrete_temperature", ["paper"], "Temperatures of the mixture and pen "
                  "softmaxes, comma separated: paper (= each temperature), web (0.5 + 0.5 x "
                  "temperature, as @magenta/sketch) or numbers > 0; one report row per model, "
                  "temperature and setting.")
flags.DEFINE_integer("n", 200, "Samples per model and temperature.")
flags.DEFINE_integer("seed", 0, "Sampling seed.")
flags.DEFINE_integer("max_len", None, "Points per sample at most (default: the split's longest).")
flags.DEFINE_string("out", None, "Folder for report.json, report.md and samples.png.")


def main(argv):
    del argv
    cli.quiet_logging()
    temps = cli.exit_on_error(inputs.parse_temperatures, FLAGS.temperature)
    discrete = cli.exit_on_error(inputs.parse_discrete_temperatures, FLAGS.discrete_temperature)
    cli.exit_on_error(quality.measure, FLAGS.model, FLAGS.data, FLAGS.split, FLAGS.normaliser,
                      temps, FLAGS.n, FLAGS.seed, FLAGS.max_len, FLAGS.out,
                      discrete_temperatures=discrete)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
