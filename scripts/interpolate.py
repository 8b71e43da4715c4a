"""Walks the latent space between two sketches: PNG + SVG strips, and a continuity report.

  python -m scripts.interpolate --model=WORKDIR --pair=a.ndjson:0,b.ndjson:3 --out=interp
  python -m scripts.interpolate --model=WORKDIR --report --steps=10000 --out=exp2
"""

from absl import app
from absl import flags

from common import cli
from commands import drawing
from commands import inputs

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Exported SavedModel folder or workdir.", required=True)
flags.DEFINE_multi_string("pair", [], "A pair 'REF_A,REF_B'; a REF is FILE.ndjson[:INDEX] or "
                          "FILE.npz[:SPLIT]:INDEX. Default: the seed's fork,cloud and donut,moon.")
flags.DEFINE_string("quickdraw_dir", inputs.DEFAULT_QUICKDRAW,
                    "Folder with fork/cloud/donut/moon.ndjson for the default pairs.")
flags.DEFINE_integer("index", 0, "Sketch index in each file of the default pairs.")
flags.DEFINE_integer("steps", 10, "Points on the path, both ends included (up to 10000 and more).")
flags.DEFINE_list("method", ["linear", "slerp"], "linear (eq. 15) and/or slerp.")
flags.DEFINE_list("temperature", ["0.1"], "Decoding temperatures (<= 0.001 decodes greedily).")
flags.DEFINE_string("discrete_temperature", "paper", "Temperature of the mixture and pen "
                    "softmaxes: paper (= each temperature), web (0.5 + 0.5 x temperature, as "
                    "@magenta/sketch) or a number > 0.")
flags.DEFINE_integer("seed", 0, "Decoding seed.")
flags.DEFINE_integer("max_len", None, "Points per frame at most (default: the model's).")
flags.DEFINE_integer("frames", 10, "Frames shown in each strip (evenly spaced along the path).")
flags.DEFINE_integer("batch_size", 256, "Latents decoded per call (bounds memory for large --steps).")
flags.DEFINE_bool("report", False, "Also compute the continuity metric, report.md and report.json.")
flags.DEFINE_string("scorer", None, "Optional AlexNet export: also measure continuity of its "
                    "embeddings (report mode).")
flags.DEFINE_string("out", "interpolation", "Output folder.")
flags.DEFINE_integer("cell", 128, "Strip cell size in pixels (8-1024).", lower_bound=8,
                     upper_bound=1024)
flags.DEFINE_bool("shared_noise", True, "Decode every frame with the same random draws, so frames "
                  "change only with z (one decode call per frame); --noshared_noise batches them, "
                  "each frame with its own noise.")


def main(argv):
    del argv
    cli.quiet_logging()
    temps = cli.exit_on_error(inputs.parse_temperatures, FLAGS.temperature)
    discrete = cli.exit_on_error(inputs.parse_discrete_temperature, FLAGS.discrete_temperature)
    pairs = cli.exit_on_error(inputs.parse_pairs, FLAGS.pair, FLAGS.quickdraw_dir, FLAGS.index)
    cli.exit_on_error(drawing.interpolate, FLAGS.model, pairs, FLAGS.out, FLAGS.steps, FLAGS.method, temps,
                      FLAGS.seed, FLAGS.max_len, FLAGS.frames, FLAGS.batch_size, FLAGS.report,
                      FLAGS.scorer, FLAGS.cell, FLAGS.shared_noise, discrete)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
