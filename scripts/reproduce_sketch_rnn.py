"""Rebuilds a named Sketch RNN model: python -m scripts.reproduce_sketch_rnn --recipe=sheep_finetuned."""

import os
import sys

from absl import app
from absl import flags

from common import cli
from experiments.sketch import recipes

FLAGS = flags.FLAGS
flags.DEFINE_enum("recipe", None, sorted(recipes.RECIPES), "Which model to rebuild.")
flags.DEFINE_string("out", recipes.DEFAULT_OUT, "Folder of recipe workdirs (OUT/<recipe>); "
                    "`scripts.serve` lists the models in ./models by default.")
flags.DEFINE_string("data_root", os.path.join("..", "shared", "data"), "The shared data folder.")
flags.DEFINE_bool("list", False, "List the recipes and their commands, and exit.")
flags.DEFINE_bool("print_only", False, "Print the recipe's commands without running them.")


def main(argv):
    del argv
    cli.quiet_logging()
    if FLAGS.list or FLAGS.recipe is None:
        if FLAGS.recipe is None and not FLAGS.list:
            print("error: give --recipe (or --list)", file=sys.stderr, flush=True)
        for recipe in recipes.RECIPES.values():
            result = f" ({recipe.result})" if recipe.result else ""
            print(f"{recipe.name}: {recipe.summary}{result}")
            for line in recipes.commands(recipe, FLAGS.out, FLAGS.data_root):
                print(f"  $ {line}")
        raise SystemExit(0 if FLAGS.list else 2)
    if FLAGS.print_only:
        recipe = recipes.get(FLAGS.recipe)
        print("\n".join(recipes.commands(recipe, FLAGS.out, FLAGS.data_root)))
        return
    cli.exit_on_error(recipes.reproduce, FLAGS.recipe, FLAGS.out, FLAGS.data_root)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
