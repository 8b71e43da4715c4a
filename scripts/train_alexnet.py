"""Trains the AlexNet sketch scorer: python -m scripts.train_alexnet --dataset=builtin --workdir=workdirs/alexnet."""

from absl import app
from absl import flags

from common.scorer import configs as alexnet
from common.scorer import train as alexnet_train
from common import cli

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("dataset", None, "Stroke sources: .npz / .ndjson files, folders, or 'builtin'.")
flags.DEFINE_multi_string("data_dir", None, "Folders (or files) of .npz / .ndjson stroke data.")
flags.DEFINE_multi_string("test_data", None, "Test on every drawing of these sources instead of "
                          "the data's test split (classes matched by file name).")
flags.DEFINE_multi_string("real_data", None, "Real drawings mixed into every training batch "
                          "(--override=real_fraction=0.25 of it); never the test drawings.")
flags.DEFINE_enum("tfds", None, ["quickdraw_bitmap"], "Train on a TFDS dataset instead of strokes.")
flags.DEFINE_string("tfds_data_dir", None, "TFDS data_dir holding the prepared dataset (no downloads).")
flags.DEFINE_string("workdir", None, "Where checkpoints, logs, the export and reports go.", required=True)
flags.DEFINE_enum("config", "default", ["testing", "default", "large"], "Base config.")
flags.DEFINE_multi_string("override", [], "Per-field overrides, e.g. --override=image_size=96.")
flags.DEFINE_integer("num_steps", None, "Total training steps (rerun with more to continue).")
flags.DEFINE_integer("save_every", None, "Checkpoint and export every N steps.")
flags.DEFINE_integer("eval_every", None, "Validate every N steps.")
flags.DEFINE_enum("strategy", None, ["default", "mirrored", "multi_worker"], "tf.distribute strategy.")
flags.DEFINE_integer("seed", None, "Random seed.")
flags.DEFINE_bool("overwrite", False, "Move an incompatible earlier run aside instead of refusing.")


def main(argv):
    del argv
    sources = (FLAGS.dataset or []) + (FLAGS.data_dir or [])
    config = cli.exit_on_error(
        cli.build_config, alexnet.AlexNetConfig, FLAGS.config,
        FLAGS.override, data=tuple(sources) if sources else None,
        test_data=tuple(FLAGS.test_data) if FLAGS.test_data else None,
        real_data=tuple(FLAGS.real_data) if FLAGS.real_data else None, tfds=FLAGS.tfds,
        tfds_data_dir=FLAGS.tfds_data_dir, num_steps=FLAGS.num_steps,
        save_every=FLAGS.save_every, eval_every=FLAGS.eval_every, strategy=FLAGS.strategy,
        seed=FLAGS.seed)
    cli.exit_on_error(alexnet_train.train_and_evaluate, config, FLAGS.workdir,
                      overwrite=FLAGS.overwrite)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
