"""Real drawings split apart by class and drawing: inputs, scorer train and scorer test share nothing."""

import dataclasses
import json

import numpy as np
import pytest

from common.errors import DataError
from common.scorer import data as scorer_data
from common.scorer.configs import AlexNetConfig
from common.strokes import dataset as stroke_data
from experiments.sketch import evaluate
from experiments.sketch import real_split

CLASSES = ("cat", "pig", "sheep")


@pytest.fixture(scope="module")
def sources(sketches_dir):
    # The raw and simplified folders hold the same drawings (key_id): duplicates to drop.
    return [str(sketches_dir / "quickdraw_exupery_raw"),
            str(sketches_dir / "quickdraw_lamnguyen_simplified")]


@pytest.fixture(scope="module")
def split(sources, tmp_path_factory):
    out = tmp_path_factory.mktemp("real")
    return out, real_split.split_real(sources, out, CLASSES, num_inputs=7, train_fraction=0.5,
                                      seed=0, max_seq_len=250)


def _keys(path):
    return [str(json.loads(line)["key_id"]) for line in path.read_text().splitlines()]


def test_parts_are_disjoint_cover_every_drawing_and_keep_the_lines(sources, split):
    out, info = split
    every = stroke_data.load_every_sketch(sources, max_seq_len=250)
    for name in CLASSES:
        parts = {p: _keys(out / p / f"{name}.ndjson") for p in real_split.PARTS}
        assert parts == {p: info["classes"][name][p] for p in real_split.PARTS}
        flat = sum(parts.values(), [])
        assert len(flat) == len(set(flat))  # No drawing in two parts (or twice in one).
        n = int(np.sum(every.train_labels == every.class_names.index(name)))
        assert len(flat) == n  # The loaders' drawings, one per key_id, all placed.
        assert abs(len(parts["train"]) - len(parts["test"])) <= 1
    # 7 inputs over 3 sorted classes: 3, 2, 2 (select_inputs' rule); the first of each class.
    assert [len(info["classes"][c]["inputs"]) for c in CLASSES] == [3, 2, 2]
    assert info["counts"]["inputs"] == 7 and info["classes"]["cat"]["duplicates"] > 0
    chosen, names, _ = evaluate.select_inputs([str(out / "inputs")], list(CLASSES),
                                              split="all", total=7)
    first, _, _ = evaluate.select_inputs(sources, list(CLASSES), split="all", per_class=3)
    assert names == ["cat"] * 3 + ["pig"] * 2 + ["sheep"] * 2
    np.testing.assert_allclose(chosen[0], first[0], atol=1e-4)  # Lines copied unchanged.


def test_split_is_reproducible_and_guards_its_folder(sources, split, tmp_path):
    out, info = split
    again = real_split.split_real(sources, tmp_path / "b", CLASSES, num_inputs=7, seed=0)
    assert again["classes"] == info["classes"]
    other = real_split.split_real(sources, tmp_path / "c", CLASSES, num_inputs=7, seed=1)
    assert other["classes"]["cat"]["train"] != info["classes"]["cat"]["train"]
    assert other["classes"]["cat"]["inputs"] == info["classes"]["cat"]["inputs"]
    # The same folder with other settings is refused; the same settings rewrite it unchanged.
    with pytest.raises(DataError, match="different split"):
        real_split.split_real(sources, tmp_path / "b", CLASSES, num_inputs=7, seed=1)
    real_split.split_real(sources, tmp_path / "b", CLASSES, num_inputs=7, seed=0)
    assert _keys(tmp_path / "b" / "train" / "cat.ndjson") == info["classes"]["cat"]["train"]


def test_bad_sources_are_one_line_errors(sketches_dir, tmp_path):
    npz = sketches_dir / "hardmaru_sketch-rnn-datasets" / "aaron_sheep.npz"
    with pytest.raises(DataError, match="key_id"):
        real_split.split_real([str(npz)], tmp_path / "o")
    with pytest.raises(DataError, match="no usable drawing"):
        real_split.split_real([str(sketches_dir / "quickdraw_exupery_raw")], tmp_path / "o",
                              classes=["no_such_class"])
    bad = tmp_path / "cat.ndjson"
    bad.write_bytes(b'{"drawing": "x"}\nnot json\n\xff\xfe\n')
    with pytest.raises(DataError, match="no usable drawing"):
        real_split.split_real([str(bad)], tmp_path / "o")
    with pytest.raises(DataError, match="train_fraction"):
        real_split.split_real([str(bad)], tmp_path / "o", train_fraction=2)
    with pytest.raises(DataError, match="not a folder"):
        real_split.class_names_from(tmp_path / "missing")


def test_scorer_mixes_real_training_drawings_and_refuses_test_ones(split, sketches_dir):
    out, info = split
    corpus = [str(sketches_dir / "quickdraw_exupery_raw" / f"{c}.ndjson") for c in CLASSES]
    config = dataclasses.replace(AlexNetConfig.testing(),
        data=tuple(corpus), test_data=(str(out / "test"),), real_data=(str(out / "train"),),
        real_fraction=0.5, max_seq_len=250)
    splits = scorer_data.load_data(config)
    real = scorer_data.load_real_train(splits, config)
    assert len(real.sketches) == info["counts"]["train"] and "2 of every batch" in real.notes[0]
    batches = scorer_data.make_batches(splits, config, "train", augment=True, real=real)
    b = batches.batch(5)
    assert b["strokes"].shape == (4, 250, 3) and b["labels"].shape == (4,)
    # Without augmentation the last two rows are real drawings, as they are.
    exact = scorer_data.make_batches(splits, config, "train", augment=False, real=real).batch(5)
    pool = {np.round(s, 4).tobytes() for s in real.sketches}
    for row, n in zip(exact["strokes"][2:], exact["lengths"][2:]):
        assert np.round(row[:n], 4).tobytes() in pool
    plain = scorer_data.make_batches(splits, config, "train", augment=True).batch(5)
    assert plain["strokes"].shape == (4, 250, 3)
    again = scorer_data.make_batches(splits, config, "train", real=real).batch(5)
    for k in b:
        np.testing.assert_array_equal(b[k], again[k])
    # Test drawings as real training data are refused.
    leak = dataclasses.replace(config, real_data=(str(out / "test"),))
    with pytest.raises(DataError, match="also test drawings"):
        scorer_data.load_real_train(scorer_data.load_data(leak), leak)
    with pytest.raises(ValueError, match="real_fraction"):
        dataclasses.replace(config, real_fraction=0.1)
