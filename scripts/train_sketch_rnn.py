"""Trains Sketch RNN: python -m scripts.train_sketch_rnn --dataset=builtin --workdir=workdirs/sketch."""

from absl import app
from absl import flags

from common import cli
from sketch_rnn import configs
from sketch_rnn import train

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("dataset", None, "Stroke sources: .npz / .ndjson files, folders, or 'builtin'.")
flags.DEFINE_multi_string("data_dir", None, "Folders (or files) of .npz / .ndjson stroke data.")
flags.DEFINE_string("workdir", None, "Where checkpoints, logs and the export go.", required=True)
flags.DEFINE_enum("config", "default", ["testing", "default", "paper", "layer_norm"], "Base config.")
flags.DEFINE_multi_string("override", [], "Per-field overrides, e.g. --override=dec_rnn_size=256.")
flags.DEFINE_integer("num_steps", None, "Total training steps (rerun with more to continue).")
flags.DEFINE_integer("save_every", None, "Checkpoint and export every N steps.")
flags.DEFINE_integer("eval_every", None, "Validate every N steps.")
flags.DEFINE_enum("strategy", None, ["default", "mirrored", "multi_worker"], "tf.distribute strategy.")
flags.DEFINE_integer("seed", None, "Random seed.")
flags.DEFINE_bool("overwrite", False, "Move an incompatible earlier run aside instead of refusing.")
flags.DEFINE_string("init_from", None, "Start from this workdir's weights (a run of ours or an "
                    "imported .gen.json model), with a fresh optimiser and step count.")


def main(argv):
    del argv
    cli.quiet_logging()
    sources = (FLAGS.dataset or []) + (FLAGS.data_dir or [])
    config = cli.exit_on_error(
        cli.build_config, configs.SketchRNNConfig, FLAGS.config,
        FLAGS.override, data=tuple(sources) if sources else None, num_steps=FLAGS.num_steps,
        save_every=FLAGS.save_every, eval_every=FLAGS.eval_every, strategy=FLAGS.strategy,
        seed=FLAGS.seed, init_from=FLAGS.init_from)
    cli.exit_on_error(train.train_and_evaluate, config, FLAGS.workdir, overwrite=FLAGS.overwrite)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
