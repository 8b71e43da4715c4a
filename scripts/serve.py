"""Serves the sketch & style studio: python -m scripts.serve --sketch_model=WORKDIR --style_model=WORKDIR --port=8000."""

from absl import app
from absl import flags

from common import cli
from studio import serve

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("sketch_model", None,
                          "Sketch RNN export folder or workdir, or a folder of workdirs; repeat "
                          "for several (the page's model picker; the first is the default).")
flags.DEFINE_string("style_model", None, "WAE export folder or workdir.")
flags.DEFINE_string("host", "127.0.0.1", "Address to bind (loopback by default).")
flags.DEFINE_integer("port", 8000, "Port (0 picks a free one and prints it).")
flags.DEFINE_string("demo_out", "demo_out",
                    "Where the demo wrote its exports (used with no model flags).")
flags.DEFINE_string("models_dir", "models",
                    "Folder of workdirs listed in the model picker with no model flags "
                    "(where scripts.reproduce_sketch_rnn puts its models).")


def main(argv):
    del argv
    cli.quiet_logging()
    cli.exit_on_error(serve.serve, FLAGS.sketch_model, FLAGS.style_model, FLAGS.host, FLAGS.port,
                      FLAGS.demo_out, FLAGS.models_dir)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
