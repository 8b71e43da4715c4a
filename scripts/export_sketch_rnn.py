"""Exports a Sketch RNN run's best (or any kept) checkpoint as a SavedModel: python -m scripts.export_sketch_rnn."""

from absl import app
from absl import flags

from common import cli
from sketch_rnn import export

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "The training run's workdir.", required=True)
flags.DEFINE_string("out", None, "SavedModel folder to write (an existing export is replaced).",
                    required=True)
flags.DEFINE_string("checkpoint", "best", "best (on validation), latest, or a kept step number.")


def main(argv):
    del argv
    cli.quiet_logging()
    out, path = cli.exit_on_error(export.export_checkpoint, FLAGS.workdir, FLAGS.out,
                                  FLAGS.checkpoint)
    print(f"Exported {path} to {out}.", flush=True)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
