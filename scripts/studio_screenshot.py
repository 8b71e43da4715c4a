"""Takes the studio's screenshot with real models: python -m scripts.studio_screenshot --sketch_model=M --style_model=W."""

from absl import app
from absl import flags

from common import cli
from studio import screenshot

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("sketch_model", None, "Sketch RNN export folder or workdir; repeat for "
                          "several (the first is the one that draws).", required=True)
flags.DEFINE_string("style_model", None, "WAE export folder or workdir.", required=True)
flags.DEFINE_string("out", "docs/studio.png", "The PNG to write.")
flags.DEFINE_float("temperature", 0.4, "The page's temperature slider (a multiple of 0.05).")
flags.DEFINE_enum("discrete_temperature", "web", list(screenshot.DISCRETE),
                  "The page's pen & mixture temperature.")
flags.DEFINE_integer("seed", None, "Completion seed, for the same picture every time (the page "
                     "has no seed control; it is added to its request). Default: random.")
flags.DEFINE_boolean("keep", False, "Press Keep it after the completion (its strokes turn "
                     "black; without it they stay in the model's red).")
flags.DEFINE_string("content", "3", "Content image: a preset (0-3) or an image file to upload.")
flags.DEFINE_string("style", "1", "Style image: a preset (0-3) or an image file to upload.")
flags.DEFINE_float("strength", 1.0, "The page's style strength slider (a multiple of 0.05).")
flags.DEFINE_string("chromium", screenshot.CHROMIUM, "The Chromium binary.")


def main(argv):
    del argv
    cli.quiet_logging()
    shot = cli.exit_on_error(
        screenshot.take_screenshot, FLAGS.out, FLAGS.sketch_model, FLAGS.style_model,
        temperature=FLAGS.temperature, discrete=FLAGS.discrete_temperature, seed=FLAGS.seed,
        keep=FLAGS.keep, content=FLAGS.content, style=FLAGS.style, strength=FLAGS.strength,
        chromium=FLAGS.chromium)
    print(f"wrote {shot.path} ({shot.width}x{shot.height}) in {shot.seconds:.0f} s; "
          f"model {shot.model}, completion seed {shot.seed}", flush=True)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
