"""Cuts the packaged ImageNet VGG16 (to block3_conv1): python -m scripts.make_vgg16_asset --source=.../vgg16_imagenet_notop.weights.h5."""

from absl import app
from absl import flags

from common import cli
from wae_style import vgg_weights

FLAGS = flags.FLAGS
flags.DEFINE_string("source", None, "The full no-top file vgg16_imagenet_notop.weights.h5 "
                    "(its sha256 is checked against the pinned one).", required=True)
flags.DEFINE_string("out", None, "Where to write the .npz; default: the package's "
                    "wae_style/assets/vgg16_block3_conv1.npz.")


def main(argv):
    del argv
    cli.quiet_logging()
    out = FLAGS.out or vgg_weights.asset_path()
    sha = cli.exit_on_error(vgg_weights.make_asset, FLAGS.source, out)
    print(f"Wrote {out} (sha256 {sha})")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
