"""Stylises images with an exported WAE: python -m scripts.stylize --model=WORKDIR --content=a.jpg --style=b.jpg --out=o.png."""

from absl import app
from absl import flags

from common import cli
from wae_style import precision
from commands import stylize

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("model", None, "Exported SavedModel folder or workdir (repeat for several).",
                          required=True)
flags.DEFINE_multi_string("content", [], "Content image files or folders.")
flags.DEFINE_multi_string("style", [], "Style image files or folders.")
flags.DEFINE_string("out", "stylized.png", "Output PNG.")
flags.DEFINE_float("strength", 1.0, "Style strength in [0, 1]: 0 keeps the content's own style.")
flags.DEFINE_enum("mode", "transfer", list(stylize.MODES),
                  "transfer: a content x style grid; pairs: content i with style i (broadcasting "
                  "one against many); figure6: reconstructions per model; figure7: a transfer "
                  "strip per model (the seed's Figures 6 and 7); strength: content i with style i "
                  "at strengths 0, 0.25, 0.5, 0.75, 1, one row per model.")
flags.DEFINE_bool("labels", True, "Draw row and column labels (models, image names, strengths) "
                  "around cells enlarged 2x; --nolabels writes the bare grid.")
flags.DEFINE_enum("precision", "auto", list(precision.PRECISIONS),
                  "Transfer precision: auto uses bf16 convolutions for batches of 16 or more "
                  "on CPUs with native bf16 (avx512_bf16 or AMX), else float32.")


def main(argv):
    del argv
    cli.quiet_logging()
    cli.exit_on_error(stylize.stylize, FLAGS.model, FLAGS.content, FLAGS.style, FLAGS.out,
                      FLAGS.strength, FLAGS.mode, FLAGS.precision, FLAGS.labels)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
