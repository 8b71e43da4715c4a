"""Google's .gen.json models in and ours out: import, log_likelihood, web export, and parity with @magenta/sketch."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from common import files
from common.errors import DataError, WorkdirError
from sketch_rnn.client import SketchModel
from sketch_rnn import configs, js_format, losses, pretrained, train
from sketch_rnn.export import SketchRNNExport
from sketch_rnn.model import SketchRNN
from reports.pretrained import magenta_js
from tests.support import NUM_ROWS, SIMPLIFIED, shared_file
from tests.support.models import make_batch

SIGNATURES = {"sample", "complete", "log_likelihood", "mixture", "metadata"}


def _model_file(shared_data, name):
    return shared_file("pretrained_sketch_rnn", f"{name}.gen.json")


@pytest.fixture(scope="module")
def imported(shared_data, tmp_path_factory):
    """sheep and bicycle imported once (the default normaliser, scale_factor / 2)."""
    out = {}
    for name in ("sheep", "bicycle"):
        workdir = tmp_path_factory.mktemp(f"import_{name}")
        pretrained.import_gen_json(_model_file(shared_data, name), workdir, overwrite=True)
        out[name] = workdir
    return out


def _drawing(shared_data, name):
    return magenta_js.first_drawing_stroke5(  # (N, 5) in model units.
        shared_file("sketches", SIMPLIFIED, f"{name}.ndjson"), NUM_ROWS)


def _export_mixture(workdir, strokes5):
    """Our export's `mixture` along a stroke-5 drawing given in model units."""
    model = SketchModel(workdir)
    return model.mixture(np.column_stack([strokes5[:, :2] * model.scale_factor, strokes5[:, 3]]))


@pytest.mark.parametrize("name", ["sheep", "bicycle"])
def test_import_writes_a_run_and_matches_numpy(imported, shared_data, name):
    workdir = imported[name]
    path = _model_file(shared_data, name)
    gen = js_format.read_gen_json(path)
    saved = json.loads((workdir / "config.json").read_text())
    assert saved["source"]["sha256"] == gen.sha256 and saved["source"]["info"] == gen.info
    assert saved["source"]["normaliser"] == gen.scale_factor / 2
    config, source = pretrained.read_workdir_config(workdir)
    assert (config.conditional, config.dec_model, config.dec_rnn_size, config.num_mixture) == (
        False, "lstm", gen.num_units, gen.num_mixture)
    assert config.max_seq_len == gen.max_seq_len and source["file"] == files.display_path(path)
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints"))
    model = SketchModel(workdir)
    assert set(model.meta["signatures"]) == SIGNATURES
    assert model.class_names == [name]
    # The parameters along a real drawing equal a numpy decoding of the file, at every step.
    strokes = _drawing(shared_data, name)
    got = _export_mixture(workdir, strokes)
    want = magenta_js.numpy_pdf(gen, strokes, 1.0, 1.0)
    for ours, theirs in (("pen", "pen"), ("pi", "pi"), ("mu_x", "mu_x"), ("mu_y", "mu_y"),
                         ("sigma_x", "sigma_x"), ("sigma_y", "sigma_y"), ("rho", "corr")):
        np.testing.assert_allclose(got[ours], want[theirs], rtol=1e-4, atol=1e-5, err_msg=ours)
    sketches = model.sample(3, 0.5, seed=1, max_len=60)
    assert len(sketches) == 3 and all(s.shape[1] == 3 for s in sketches)


@pytest.mark.parametrize("name", ["sheep", "bicycle"])
def test_export_agrees_with_magenta_js(imported, shared_data, name):
    strokes = _drawing(shared_data, name)
    js = magenta_js.run_pdf(_model_file(shared_data, name), strokes)
    got = _export_mixture(imported[name], strokes)
    for ours, theirs in (("pen", "pen"), ("pi", "pi"), ("mu_x", "mu_x"), ("mu_y", "mu_y"),
                         ("sigma_x", "sigma_x"), ("sigma_y", "sigma_y"), ("rho", "corr")):
        np.testing.assert_allclose(got[ours], js[theirs], rtol=0, atol=1e-4, err_msg=ours)


def test_import_export_import_keeps_the_weights(imported, shared_data, tmp_path):
    gen = js_format.read_gen_json(_model_file(shared_data, "sheep"))
    out = tmp_path / "sheep_again.gen.json"
    info = pretrained.export_gen_json(imported["sheep"], out)
    assert info["name"] == "sheep" and info["scale_factor"] == gen.scale_factor
    again = js_format.read_gen_json(out)
    for key, value in gen.weights.items():
        np.testing.assert_array_equal(again.weights[key], value)  # Same int16 codes.
    assert again.info["max_seq_len"] == gen.max_seq_len


def test_import_refuses_bad_files_and_writes_nothing(shared_data, tmp_path):
    good = _model_file(shared_data, "sheep").read_bytes()
    doc = json.loads(good)
    bad = {
        "truncated": good[:len(good) // 2],
        "not_json": b"<html>not found</html>",
        "wrong_dims": json.dumps([doc[0], [[512, 123], [123], [5, 2048], [512, 2048]], doc[2][:4]]),
        "vae": json.dumps([{**doc[0], "mode": 0}, doc[1], doc[2]]),
        "layer_norm": json.dumps([doc[0], doc[1] + [[2048], [2048]], doc[2] + ["AAAA", "AAAA"]]),
        "max_seq_len": json.dumps([{**doc[0], "max_seq_len": 10**9}, doc[1], doc[2]]),
    }
    for name, data in bad.items():
        path = tmp_path / f"{name}.gen.json"
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        workdir = tmp_path / f"run_{name}"
        with pytest.raises(DataError) as err:
            pretrained.import_gen_json(path, workdir)
        assert str(path) in str(err.value) and "\n" not in str(err.value), name
        assert not workdir.exists(), name
    assert "info max_seq_len 1000000000 is out of range" in str(err.value)  # Before any build.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    with pytest.raises(WorkdirError, match="not empty"):
        pretrained.import_gen_json(_model_file(shared_data, "sheep"), kept)
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]


def test_normaliser_choices(shared_data):
    gen = js_format.read_gen_json(_model_file(shared_data, "sheep"))
    assert pretrained.resolve_normaliser(None, gen)[0] == gen.scale_factor / 2
    assert pretrained.resolve_normaliser("magenta_js", gen)[0] == gen.scale_factor / 2
    assert pretrained.resolve_normaliser("scale_factor", gen)[0] == gen.scale_factor
    assert pretrained.resolve_normaliser("12.5", gen) == (12.5, "given")
    sheep = shared_data / "sketches" / "hardmaru_sketch-rnn-datasets" / "aaron_sheep.npz"
    if sheep.is_file():
        value, how = pretrained.resolve_normaliser(str(sheep), gen)
        assert abs(value - 18.52) < 0.01 and "train split" in how
    for bad in ("-3", "nan", "0"):
        with pytest.raises(DataError, match="normaliser"):
            pretrained.resolve_normaliser(bad, gen)


# ------------------------------------------------------------------ log_likelihood


@pytest.mark.parametrize("conditional", [False, True])
def test_log_likelihood_against_the_training_loss(conditional):
    config = dataclasses.replace(configs.SketchRNNConfig.testing(), conditional=conditional)
    model = SketchRNN(config)
    lengths = [5, 31, 12, 1]
    batch = make_batch(config, lengths, seed=4)
    scale = 3.0
    module = SketchRNNExport(model, config, {"scale_factor": scale, "class_names": ["x"]})
    s3 = np.concatenate([batch["strokes"][:, 1:, :2] * scale, batch["strokes"][:, 1:, 3:4]], -1)
    got = module.log_likelihood(tf.constant(s3[:, :max(lengths)]), tf.constant(lengths))
    # The same batch through the model, as the trainer sees it (z = mu when not training).
    outputs = model(batch, training=False)
    target = batch["strokes"][:, 1:]
    n, t = np.asarray(lengths, np.float64), config.max_seq_len
    l_s = losses.stroke_loss(target, batch["lengths"], outputs, epsilon=1e-30).numpy()
    np.testing.assert_allclose((got["nll_offsets"].numpy() * n).sum() / (len(n) * t), l_s,
                               rtol=1e-5)
    l_p = losses.pen_loss(target, outputs["pen_logits"], mask=batch["lengths"] + 1).numpy()
    np.testing.assert_allclose((got["nll_pen"].numpy() * (n + 1)).sum() / (len(n) * t), l_p,
                               rtol=1e-5)
    np.testing.assert_allclose(got["nll"], got["nll_offsets"] + got["nll_pen"], rtol=1e-6)


def test_sketch_nll_is_exact_where_l_s_is_floored():
    # Far-off points: L_s's epsilon floors -log p at 13.8; the likelihood stays exact.
    m = 2
    params = {"pi_logits": np.zeros((1, 2, m), np.float32),
              "mu_x": np.zeros((1, 2, m), np.float32), "mu_y": np.zeros((1, 2, m), np.float32),
              "log_sigma_x": np.zeros((1, 2, m), np.float32),
              "log_sigma_y": np.zeros((1, 2, m), np.float32),
              "rho": np.zeros((1, 2, m), np.float32),
              "pen_logits": np.zeros((1, 2, 3), np.float32)}
    target = np.array([[[30.0, 0.0, 1, 0, 0], [0, 0, 0, 0, 1]]], np.float32)
    out = losses.sketch_nll(target, np.array([1]), params)
    np.testing.assert_allclose(out["nll_offsets"], [30.0 ** 2 / 2 + np.log(2 * np.pi)],
                               rtol=1e-6)
    np.testing.assert_allclose(out["nll_pen"], [np.log(3.0)], rtol=1e-6)


# ------------------------------------------------------------------ our models to the web format


@pytest.fixture(scope="module")
def web_run(tmp_path_factory):
    """A one-step testing()-sized unconditional LSTM model with magenta-js's 20 mixtures."""
    workdir = tmp_path_factory.mktemp("web_run")
    config = dataclasses.replace(configs.SketchRNNConfig.testing(), conditional=False,
                                 dec_model="lstm", num_mixture=20, num_steps=1)
    train.train_and_evaluate(config, workdir)
    return workdir


def test_trained_model_round_trips_through_magenta_js(web_run, tmp_path):
    out = tmp_path / "ours.gen.json"
    info = pretrained.export_gen_json(web_run, out, name="doodles")
    gen = js_format.read_gen_json(out)
    assert info["name"] == "doodles" and gen.num_units == 16 and gen.num_mixture == 20
    rng = np.random.default_rng(3)
    strokes = np.zeros((25, 5))
    strokes[:, :2] = rng.normal(size=(25, 2))
    lift = rng.random(25) < 0.2
    strokes[:, 2], strokes[:, 3] = ~lift, lift
    strokes = strokes.astype(np.float32).astype(np.float64)
    js = magenta_js.run_pdf(out, strokes)
    # The file holds int16-quantised weights: compare Node with our model of those weights.
    requant = tmp_path / "requant"
    pretrained.import_gen_json(out, requant)
    got = _export_mixture(requant, strokes)
    for ours, theirs in (("pen", "pen"), ("pi", "pi"), ("mu_x", "mu_x"), ("sigma_x", "sigma_x"),
                         ("rho", "corr")):
        np.testing.assert_allclose(got[ours], js[theirs], rtol=0, atol=1e-4, err_msg=ours)
    # And the quantised model stays close to the trained one.
    direct = _export_mixture(web_run, strokes)
    np.testing.assert_allclose(direct["mu_x"], got["mu_x"], atol=2e-3)


def test_export_refuses_what_the_format_cannot_hold(web_run, tmp_path):
    conditional = tmp_path / "conditional"
    shutil.copytree(web_run, conditional)
    cfg = json.loads((conditional / "config.json").read_text())
    (conditional / "config.json").write_text(json.dumps({**cfg, "conditional": True}))
    with pytest.raises(DataError, match="conditional.*Formats: a SavedModel"):
        pretrained.export_gen_json(conditional, tmp_path / "x.gen.json")
    for change, what in (({"dec_model": "layer_norm"}, "'layer_norm' decoder"),
                         ({"num_mixture": 3}, "3 mixture components")):
        (conditional / "config.json").write_text(json.dumps({**cfg, **change}))
        with pytest.raises(DataError, match=what):
            pretrained.export_gen_json(conditional, tmp_path / "x.gen.json")
    # A weight beyond +-10 is named with its value.
    big = tmp_path / "big"
    shutil.copytree(web_run, big)
    config, _ = pretrained.read_workdir_config(big)
    model = SketchRNN(config)
    ckpt = tf.train.Checkpoint(model=model)
    ckpt.restore(tf.train.latest_checkpoint(str(big / "checkpoints"))).expect_partial()
    model.head.bias.assign(np.full(model.head.bias.shape, 12.5, np.float32))
    shutil.rmtree(big / "checkpoints")
    tf.train.CheckpointManager(ckpt, str(big / "checkpoints"), 1).save(5)
    with pytest.raises(DataError, match=r"output_b: largest \|weight\| 12.5 exceeds"):
        pretrained.export_gen_json(big, tmp_path / "big.gen.json")
    assert not (tmp_path / "big.gen.json").exists()


def test_import_script_takes_a_folder_and_names_bad_files(shared_data, tmp_path):
    import subprocess
    import sys

    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(_model_file(shared_data, "key"), folder / "key.gen.json")
    proc = subprocess.run([sys.executable, "-m", "scripts.import_sketch_rnn_js",
                           f"--input={folder}", f"--workdir={tmp_path / 'runs'}"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Imported" in proc.stdout and (tmp_path / "runs" / "key" / "export").is_dir()
    (folder / "broken.gen.json").write_text("[{}]")
    proc = subprocess.run([sys.executable, "-m", "scripts.import_sketch_rnn_js",
                           f"--input={folder / 'broken.gen.json'}", f"--workdir={tmp_path / 'b'}"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "broken.gen.json" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "b").exists()
