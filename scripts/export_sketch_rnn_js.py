"""Exports a Sketch RNN workdir for sketch-rnn-js / @magenta/sketch: python -m scripts.export_sketch_rnn_js --workdir=W --out=model.gen.json."""

from absl import app
from absl import flags

from common import cli
from sketch_rnn import pretrained

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A training or import workdir (its latest checkpoint).",
                    required=True)
flags.DEFINE_string("out", None, "The .gen.json file to write.", required=True)
flags.DEFINE_string("name", None, "Model name in the file (default: the data's class names).")


def main(argv):
    del argv
    cli.quiet_logging()
    info = cli.exit_on_error(pretrained.export_gen_json, FLAGS.workdir, FLAGS.out, FLAGS.name)
    print(f"Wrote {FLAGS.out}: {info['name']}, max_seq_len {info['max_seq_len']}, "
          f"scale_factor {info['scale_factor']:.6g}.")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
