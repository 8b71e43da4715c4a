"""The end-to-end demo: train small Sketch RNN and WAE models on built-in data, export them, build a gallery."""

from absl import app
from absl import flags

from common import cli
from demo import gallery
from demo.sketch import SketchDemo
from demo.style import StyleDemo

FLAGS = flags.FLAGS
flags.DEFINE_string("out", "demo_out", "Output folder (workdirs, exports and gallery/).")
flags.DEFINE_multi_string("data_dir", None, "Stroke sources for Sketch RNN (default: builtin).")
flags.DEFINE_multi_string("image_dir", None, "Image folders for the WAE (default: builtin).")
flags.DEFINE_integer("sketch_steps", 3000, "Sketch RNN training steps (3,000: about 4.5 minutes "
                     "with the shape check on 2 cores; docs/sketch_rnn.md measures 400 to 4,000).")
flags.DEFINE_integer("wae_steps", 600, "WAE training steps (600: about 3 minutes on 2 cores; "
                     "the content check passes from about 300).")
flags.DEFINE_bool("quick", False, "Tiny models and a handful of steps (a smoke test).")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("vgg_weights", "imagenet",
                    "The WAE's VGG16: 'imagenet' (the ImageNet weights up to block3_conv1 that "
                    "ship with the package; no network), a VGG16 weights file, or 'random' "
                    "(tests only: its style features are not meaningful).")


def main(argv):
    del argv
    cli.quiet_logging()
    cli.exit_on_error(gallery.run_demo, FLAGS.out, [
        SketchDemo(tuple(FLAGS.data_dir or ["builtin"]), FLAGS.sketch_steps, FLAGS.quick,
                   FLAGS.seed),
        StyleDemo(tuple(FLAGS.image_dir or ["builtin"]), FLAGS.wae_steps, FLAGS.quick,
                  FLAGS.seed, FLAGS.vgg_weights)])


def run():
    app.run(main)


if __name__ == "__main__":
    run()
