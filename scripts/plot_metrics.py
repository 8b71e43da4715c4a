"""Plots a run's loss curves from its TensorBoard events: python -m scripts.plot_metrics --workdir=W --out=curves.png."""

from absl import app
from absl import flags

from common import cli
from common.training import metrics_plot

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("workdir", None, "A training workdir (with events/); repeat to "
                          "draw several runs.", required=True)
flags.DEFINE_string("out", "curves.png", "Output PNG.")
flags.DEFINE_list("tags", ["L_R", "L_s", "L_p", "L_KL"], "Scalar tags to plot.")
flags.DEFINE_string("title", None, "Figure title.")
flags.DEFINE_list("split", ["train", "valid"], "Which curves: train (solid), valid (dashed).")
flags.DEFINE_multi_string("reference", [], "A horizontal line LABEL=VALUE, e.g. "
                          "--reference=Google=0.479 (repeat); TAG:LABEL=VALUE draws it on "
                          "TAG's panel only.")


def main(argv):
    del argv
    cli.quiet_logging()
    path = cli.exit_on_error(metrics_plot.plot_run, FLAGS.workdir, FLAGS.out, FLAGS.tags,
                             FLAGS.title, FLAGS.split, FLAGS.reference)
    print(f"Wrote {path}")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
