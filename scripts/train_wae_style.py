"""Trains the WAE style model: python -m scripts.train_wae_style --data_dir=photos --workdir=workdirs/wae."""

from absl import app
from absl import flags

from common import cli
from wae_style import configs
from wae_style import train

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("data_dir", None, "Image folders (searched recursively), or 'builtin'.")
flags.DEFINE_list("tfds", None, "TFDS datasets, e.g. celeb_a,imagenet2012.")
flags.DEFINE_string("tfds_data_dir", None, "tfds.load data_dir.")
flags.DEFINE_string("manual_dir", None, "tfds manual_dir (e.g. for imagenet2012).")
flags.DEFINE_list("mix", None, "Sampling weight per source (data_dir entries, then tfds).")
flags.DEFINE_string("workdir", None, "Where checkpoints, logs and the export go.", required=True)
flags.DEFINE_enum("config", "default", ["testing", "default", "paper"], "Base config.")
flags.DEFINE_multi_string("override", [], "Per-field overrides, e.g. --override=content_dim=256.")
flags.DEFINE_integer("num_steps", None, "Total training steps (rerun with more to continue).")
flags.DEFINE_integer("save_every", None, "Checkpoint and export every N steps.")
flags.DEFINE_integer("eval_every", None, "Validate every N steps.")
flags.DEFINE_string("vgg_weights", None,
                    "'imagenet' (the packaged ImageNet VGG16 up to block3_conv1; offline), "
                    "a VGG16 weights file (Keras 3 .weights.h5 or legacy .h5; checked before "
                    "training, its sha256 goes into config.json), or 'random' (a seeded random "
                    "VGG16, for tests only).")
flags.DEFINE_enum("strategy", None, ["default", "mirrored", "multi_worker"], "tf.distribute strategy.")
flags.DEFINE_integer("seed", None, "Random seed.")
flags.DEFINE_bool("overwrite", False, "Move an incompatible earlier run aside instead of refusing.")


def main(argv):
    del argv
    cli.quiet_logging()
    mix = None
    if FLAGS.mix:
        mix = cli.exit_on_error(lambda: tuple(float(w) for w in FLAGS.mix))
    config = cli.exit_on_error(
        cli.build_config, configs.WAEConfig, FLAGS.config,
        FLAGS.override,
        data=tuple(FLAGS.data_dir) if FLAGS.data_dir else (() if FLAGS.tfds else None),
        tfds=tuple(FLAGS.tfds) if FLAGS.tfds else None, tfds_data_dir=FLAGS.tfds_data_dir,
        manual_dir=FLAGS.manual_dir, mix=mix, num_steps=FLAGS.num_steps,
        save_every=FLAGS.save_every, eval_every=FLAGS.eval_every,
        strategy=FLAGS.strategy, seed=FLAGS.seed)
    if FLAGS.vgg_weights:  # The measured loss weights follow the VGG (WAEConfig.with_vgg).
        config = config.with_vgg(FLAGS.vgg_weights)
    cli.exit_on_error(train.train_and_evaluate, config, FLAGS.workdir, overwrite=FLAGS.overwrite)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
