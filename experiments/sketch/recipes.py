"""Named Sketch RNN runs anyone can rebuild: data, preset, overrides, seed, steps and init."""

import dataclasses
import pathlib
import shlex

from common import cli
from common.errors import DataError
from sketch_rnn import configs
from sketch_rnn import pretrained
from sketch_rnn import train

DEFAULT_OUT = "models"  # Recipe workdirs go to OUT/<name>; the studio lists them.


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One reproducible training run.

    Paths are relative to the shared data folder (`../shared/data` beside a clone).

    Attributes:
      name: the workdir's name under the output folder.
      summary: one line for listings.
      dataset: the stroke file trained on.
      config: the SketchRNNConfig preset.
      overrides: "field=value" strings on top of the preset.
      num_steps, eval_every, save_every, seed: as the trainer's flags.
      init_gen_json: a Google `.gen.json` decoder imported first (to OUT/<init_name>) and
        used as --init_from; "" for a run from scratch.
      init_name: the imported model's workdir name.
      result: what the recorded run reached, for the listing (not checked).
    """

    name: str
    summary: str
    dataset: str
    config: str
    overrides: tuple[str, ...]
    num_steps: int
    eval_every: int = 100
    save_every: int = 100
    seed: int = 0
    init_gen_json: str = ""
    init_name: str = ""
    result: str = ""


AARON_SHEEP = "sketches/hardmaru_sketch-rnn-datasets/aaron_sheep.npz"

RECIPES = {r.name: r for r in (
    Recipe(
        name="sheep_finetuned",
        summary="Google's sheep decoder fine-tuned on aaron_sheep (unconditional, LSTM 512)",
        dataset=AARON_SHEEP, config="default",
        # Google's decoder was trained without recurrent dropout (with it, its first L_s is
        # 0.68, not 0.17). 1e-5 and 3e-5 score better as whole pixels (6.526, 6.491 against
        # 6.577) but their samples end less often; 2e-6 stays closer to Google's
        # (docs/sketch_rnn.md).
        overrides=("conditional=False", "learning_rate=2e-6", "min_learning_rate=1e-6",
                   "use_recurrent_dropout=False"),
        num_steps=2000, init_gen_json="pretrained_sketch_rnn/sheep.gen.json",
        init_name="sheep_google",
        result="aaron_sheep test nll_offsets -0.452, as whole pixels 6.577 (Google's sheep: "
               "0.479, 6.709), 20 min on 2 cores"),
    Recipe(
        name="sheep_scratch",
        summary="an unconditional LSTM 512 trained from scratch on aaron_sheep (Google's sizes)",
        dataset=AARON_SHEEP, config="default", overrides=("conditional=False",),
        num_steps=27000, eval_every=250, save_every=250,
        result="aaron_sheep test nll_offsets -0.392, as whole pixels 6.405, flat since about "
               "18,500 steps (Google's sheep: 0.479, 6.709); about 6 h on 2 cores"),
    Recipe(
        name="sheep_conditional",
        summary="a conditional VAE (encoder 256, LSTM 512, z 128) from scratch on aaron_sheep",
        dataset=AARON_SHEEP, config="default", overrides=(),
        num_steps=5500, eval_every=250, save_every=250,
        result="aaron_sheep test nll_offsets 0.058 (unconditional at 5,500 steps: 0.235; Google's "
               "sheep: 0.479); about 2 h on 2 cores"),
)}


def get(name):
    """The recipe called `name`, or a DataError listing the known ones."""
    if name not in RECIPES:
        raise DataError(f"no recipe {name!r}; known: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


def paths(recipe, out, data_root):
    """(dataset file, .gen.json or None, init workdir or None, workdir) for `recipe`."""
    data_root, out = pathlib.Path(data_root), pathlib.Path(out)
    gen = data_root / recipe.init_gen_json if recipe.init_gen_json else None
    init = out / recipe.init_name if recipe.init_gen_json else None
    return data_root / recipe.dataset, gen, init, out / recipe.name


def commands(recipe, out, data_root):
    """The shell commands that make the recipe's workdir (what `reproduce` runs)."""
    dataset, gen, init, workdir = paths(recipe, out, data_root)
    q = lambda p: shlex.quote(str(p))  # noqa: E731
    lines = []
    if gen is not None:
        lines.append(f"python -m scripts.import_sketch_rnn_js --input={q(gen)} "
                     f"--workdir={q(init)}")
    train = [f"python -m scripts.train_sketch_rnn --dataset={q(dataset)} --workdir={q(workdir)}",
             f"--config={recipe.config}"]
    train += [f"--override={shlex.quote(o)}" for o in recipe.overrides]
    if init is not None:
        train.append(f"--init_from={q(init)}")
    train += [f"--num_steps={recipe.num_steps}", f"--eval_every={recipe.eval_every}",
              f"--save_every={recipe.save_every}", f"--seed={recipe.seed}"]
    lines.append(" ".join(train))
    return lines


def config_for(recipe, dataset, init):
    """The SketchRNNConfig the recipe trains."""
    return cli.build_config(
        configs.SketchRNNConfig, recipe.config, recipe.overrides, data=(str(dataset),),
        num_steps=recipe.num_steps, eval_every=recipe.eval_every,
        save_every=recipe.save_every, seed=recipe.seed, init_from=str(init) if init else None)


def check_inputs(recipe, out, data_root):
    """DataError naming the first input file that is missing."""
    dataset, gen, _, _ = paths(recipe, out, data_root)
    for path in (dataset, gen):
        if path is not None and not path.is_file():
            raise DataError(f"{path}: not found (recipe {recipe.name!r} reads it; "
                            f"--data_root={data_root} is the shared data folder)")


def reproduce(name, out=DEFAULT_OUT, data_root="../shared/data"):
    """Imports the init model if needed, then trains (or resumes) the recipe's workdir.

    Returns:
        The workdir.
    """
    recipe = get(name)
    check_inputs(recipe, out, data_root)
    dataset, gen, init, workdir = paths(recipe, out, data_root)
    for line in commands(recipe, out, data_root):
        print(f"$ {line}", flush=True)
    if init is not None and not (init / "export" / "saved_model.pb").is_file():
        pretrained.import_and_report(gen, init)
    train.train_and_evaluate(config_for(recipe, dataset, init), workdir)
    return workdir
