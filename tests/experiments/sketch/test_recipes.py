"""Recipes: their commands, their inputs' checks, the script's arguments, a tiny real rebuild."""

import dataclasses
import json
import subprocess
import sys

import pytest

from common.errors import DataError
from experiments.sketch import recipes

REPO = recipes.pathlib.Path(__file__).resolve().parents[3]


def _script(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "scripts.reproduce_sketch_rnn", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_commands_spell_out_the_whole_run(tmp_path):
    recipe = recipes.get("sheep_finetuned")
    lines = recipes.commands(recipe, tmp_path / "m", "/data")
    assert lines[0] == (f"python -m scripts.import_sketch_rnn_js "
                        f"--input=/data/pretrained_sketch_rnn/sheep.gen.json "
                        f"--workdir={tmp_path}/m/sheep_google")
    train = lines[1]
    for part in ("--dataset=/data/sketches/hardmaru_sketch-rnn-datasets/aaron_sheep.npz",
                 f"--workdir={tmp_path}/m/sheep_finetuned", "--config=default",
                 "--override=conditional=False", "--override=learning_rate=2e-6",
                 f"--init_from={tmp_path}/m/sheep_google", f"--num_steps={recipe.num_steps}",
                 "--seed=0"):
        assert part in train.split(), part
    config = recipes.config_for(recipe, "/data/x.npz", tmp_path / "init")
    assert not config.conditional and config.learning_rate == 2e-6
    assert not config.use_recurrent_dropout and config.init_from == str(tmp_path / "init")
    assert config.num_steps == recipe.num_steps and config.data == ("/data/x.npz",)


def test_a_from_scratch_recipe_trains_without_an_import(tmp_path):
    recipe = recipes.get("sheep_scratch")
    lines = recipes.commands(recipe, tmp_path / "m", "/data")
    assert len(lines) == 1 and "import_sketch_rnn_js" not in lines[0]
    for part in ("--dataset=/data/sketches/hardmaru_sketch-rnn-datasets/aaron_sheep.npz",
                 f"--workdir={tmp_path}/m/sheep_scratch", "--config=default",
                 "--override=conditional=False", f"--num_steps={recipe.num_steps}",
                 "--eval_every=250", "--save_every=250", "--seed=0"):
        assert part in lines[0].split(), part
    assert "--init_from" not in lines[0]
    _, gen, init, workdir = recipes.paths(recipe, tmp_path / "m", "/data")
    assert gen is None and init is None and workdir == tmp_path / "m" / "sheep_scratch"
    config = recipes.config_for(recipe, "/data/x.npz", None)
    assert not config.conditional and config.init_from == "" and config.dec_rnn_size == 512
    assert config.learning_rate == 1e-3 and config.use_recurrent_dropout  # The defaults.


def test_the_conditional_recipe_is_default_with_its_encoder(tmp_path):
    recipe = recipes.get("sheep_conditional")
    (line,) = recipes.commands(recipe, tmp_path / "m", "/data")
    assert "--override" not in line and "--init_from" not in line
    for part in (f"--workdir={tmp_path}/m/sheep_conditional", "--config=default",
                 f"--num_steps={recipe.num_steps}", "--eval_every=250", "--seed=0"):
        assert part in line.split(), part
    config = recipes.config_for(recipe, "/data/x.npz", None)
    assert config.conditional and config.enc_rnn_size == 256 and config.z_size == 128
    assert config.kl_weight == 0.5 and config.dec_rnn_size == 512


def test_unknown_recipe_and_missing_inputs_are_named(tmp_path):
    with pytest.raises(DataError, match="no recipe 'cat'.*sheep_finetuned"):
        recipes.get("cat")
    with pytest.raises(DataError, match=f"{tmp_path}/sketches/.*aaron_sheep.npz: not found"):
        recipes.check_inputs(recipes.get("sheep_finetuned"), tmp_path / "m", tmp_path)


def test_script_arguments(tmp_path):
    out = _script("--list")
    assert out.returncode == 0 and "sheep_finetuned:" in out.stdout and "$ python" in out.stdout
    out = _script("--recipe=sheep_finetuned", "--print_only", f"--out={tmp_path}",
                  "--data_root=/d")
    assert out.returncode == 0
    want = recipes.commands(recipes.get("sheep_finetuned"), str(tmp_path), "/d")
    assert out.stdout.splitlines() == want
    assert not any(tmp_path.iterdir())  # Printing makes nothing.
    out = _script("--recipe=nope")
    assert out.returncode != 0 and "sheep_finetuned" in out.stderr  # absl names the choices.
    out = _script("--recipe=sheep_finetuned", f"--data_root={tmp_path}/nowhere",
                  f"--out={tmp_path}/m")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path}/nowhere/")
    assert not (tmp_path / "m").exists()
    out = _script()
    assert out.returncode == 2 and "give --recipe" in out.stderr and "sheep_finetuned" in out.stdout


def test_tiny_recipe_imports_fine_tunes_and_resumes(shared_data, tmp_path, monkeypatch):
    # The real sheep recipe at testing() sizes around Google's decoder: one step.
    tiny = dataclasses.replace(
        recipes.get("sheep_finetuned"), name="tiny", config="testing", num_steps=1,
        overrides=recipes.get("sheep_finetuned").overrides + (
            "dec_rnn_size=512", "num_mixture=20", "max_seq_len=250", "batch_size=2"),
        eval_every=1, save_every=1)
    monkeypatch.setitem(recipes.RECIPES, "tiny", tiny)
    out = tmp_path / "models"
    workdir = recipes.reproduce("tiny", out, shared_data)
    assert workdir == out / "tiny" and (workdir / "export" / "saved_model.pb").is_file()
    assert (out / "sheep_google" / "export" / "saved_model.pb").is_file()
    config = json.loads((workdir / "config.json").read_text())
    assert config["init_from"] == str(out / "sheep_google") and config["num_steps"] == 1
    before = sorted(p.name for p in (workdir / "checkpoints").iterdir())
    recipes.reproduce("tiny", out, shared_data)  # Done already: resumes, trains nothing.
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == before
