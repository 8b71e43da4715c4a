"""Tests for common.strokes.dataset: loading and splitting sources, and the deterministic pipeline."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from common.strokes import formats as S
from common.errors import DataError
from common.strokes.dataset import StrokePipeline, load_strokes, split_indices

HARDMARU = "hardmaru_sketch-rnn-datasets"
RAW = "quickdraw_exupery_raw"
SIMPLIFIED = "quickdraw_lamnguyen_simplified"


@pytest.fixture(scope="module")
def sheep(sketches_dir):
    return load_strokes([sketches_dir / HARDMARU / "aaron_sheep.npz"])


def toy_sketches(n, rng, max_len=12):
    out = []
    for _ in range(n):
        k = int(rng.integers(2, max_len + 1))
        s = np.concatenate([rng.normal(size=(k, 2)), (rng.random((k, 1)) < 0.2)], axis=1)
        s[-1, 2] = 1
        out.append(s.astype(np.float32))
    return out


# load_strokes

def test_aaron_sheep(sheep, sketches_dir):
    assert sheep.class_names == ["aaron_sheep"]
    assert (len(sheep.train), len(sheep.valid), len(sheep.test)) == (7400, 300, 300)
    assert sheep.n_dropped == {"train": 0, "valid": 0, "test": 0}
    assert all(lab.dtype == np.int32 and not lab.any()
               for lab in (sheep.train_labels, sheep.valid_labels, sheep.test_labels))
    assert sheep.train[0].dtype == np.float32
    # The factor is the std of the clamped train offsets, and every split uses it.
    from common.strokes.safe_npz import load_npz
    raw = load_npz(sketches_dir / HARDMARU / "aaron_sheep.npz")
    expected = np.std(np.concatenate([s[:, :2].ravel() for s in S.clamp(raw["train"])]))
    assert sheep.scale_factor == pytest.approx(expected)
    np.testing.assert_allclose(sheep.valid[3][:, :2] * sheep.scale_factor, raw["valid"][3][:, :2],
                               rtol=1e-5, atol=1e-4)
    assert S.scale_factor(sheep.train) == pytest.approx(1.0, rel=1e-4)
    assert sheep.integer_offsets and S.on_integer_grid(raw["test"])  # Whole pixels.


def test_length_filter_counts(sketches_dir):
    sp = load_strokes([sketches_dir / HARDMARU / "aaron_sheep.npz"], max_seq_len=100)
    assert sp.max_seq_len == 100 and sp.n_dropped["train"] > 0
    assert len(sp.train) + sp.n_dropped["train"] == 7400
    assert max(len(s) for s in sp.train + sp.valid + sp.test) <= 100
    assert len(sp.train_labels) == len(sp.train)


def test_combining_sources_with_labels(sketches_dir):
    sources = [str(sketches_dir / HARDMARU / "aaron_sheep.npz"),
               str(sketches_dir / RAW / "cat.ndjson"), str(sketches_dir / RAW)]
    sp = load_strokes(sources, seed=3)
    # cat appears twice (file and folder); files with the same key_id are deduplicated.
    assert sp.class_names == ["aaron_sheep", "cat", "cloud", "donut", "fork", "moon", "pig",
                              "sheep"]
    assert sp.n_duplicates == 25 and sp.n_skipped == 0
    counts = {name: 0 for name in sp.class_names}
    for split in ("train", "valid", "test"):
        sks, labs = sp.split(split)
        assert len(sks) == len(labs)
        for lab in labs:
            counts[sp.class_names[lab]] += 1
    assert counts["cat"] == 25 and counts["fork"] == 45 and counts["aaron_sheep"] == 8000
    cat = sp.class_names.index("cat")
    # 25 cats: round(2.5) = 2 valid, 2 test, 21 train.
    assert [int((lab == cat).sum()) for lab in (sp.train_labels, sp.valid_labels,
                                                 sp.test_labels)] == [21, 2, 2]
    # The same seed gives the same split; another seed another one.
    again = load_strokes(sources, seed=3)
    for a, b in zip(again.valid, sp.valid):
        np.testing.assert_array_equal(a, b)
    other = load_strokes(sources, seed=4)
    assert not all(np.array_equal(a, b) for a, b in zip(other.valid, sp.valid))


def test_raw_and_simplified_same_drawings(sketches_dir):
    sp = load_strokes([sketches_dir / RAW / "pig.ndjson", sketches_dir / SIMPLIFIED / "pig.ndjson"],
                      valid_fraction=0.0, test_fraction=0.0)
    # 19 raw pigs + 25 simplified, 19 of them the same drawings.
    assert sp.class_names == ["pig"] and len(sp.train) == 25 and sp.n_duplicates == 19
    assert sp.valid == [] and sp.test == []


def test_builtin_source():
    sp = load_strokes(["builtin"], builtin_per_class=10, seed=1)
    assert len(sp.class_names) >= 2
    assert len(sp.train) + len(sp.valid) + len(sp.test) == 10 * len(sp.class_names)
    assert sorted(set(sp.train_labels.tolist())) == list(range(len(sp.class_names)))
    again = load_strokes(["builtin"], builtin_per_class=10, seed=1)
    np.testing.assert_array_equal(again.train[5], sp.train[5])
    assert sp.integer_offsets  # Drawn on a pixel grid, as QuickDraw is.


def test_float_offsets_are_not_integer_data(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {k: np.array(toy_sketches(n, rng) + [np.zeros((0, 3), np.float32)], object)[:-1]
              for k, n in (("train", 20), ("valid", 4), ("test", 4))}
    np.savez(tmp_path / "toy.npz", allow_pickle=True, **arrays)
    assert not load_strokes([tmp_path / "toy.npz"]).integer_offsets


def test_bad_sources(tmp_path, sketches_dir):
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as info:
        load_strokes([tmp_path / "missing.npz", tmp_path / "notes.txt", tmp_path / "empty",
                      "builtins"])
    msg = str(info.value)
    assert all(x in msg for x in ("missing.npz", "notes.txt", "empty", "builtins"))
    with pytest.raises(DataError, match="no stroke sources"):
        load_strokes([])
    with pytest.raises(DataError, match="fractions"):
        load_strokes(["builtin"], valid_fraction=0.6, test_fraction=0.5)
    bad = tmp_path / "bad.ndjson"
    bad.write_text("garbage\n")
    with pytest.raises(DataError, match="no train sketches"):
        load_strokes([bad])
    with pytest.raises(DataError, match="bad.ndjson:1"):
        load_strokes([bad], on_error="raise")


def test_split_indices():
    tr, va, te = split_indices(10, 0, "x", 0.2, 0.1)
    assert (len(tr), len(va), len(te)) == (7, 2, 1)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(10))
    tr, va, te = split_indices(1, 0, "x", 0.4, 0.4)
    assert (len(tr), len(va), len(te)) == (1, 0, 0)


# StrokePipeline

@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    sks = toy_sketches(23, rng)
    return sks, np.arange(23, dtype=np.int32) % 3


def test_batch_shapes_and_padding(toy):
    sks, labels = toy
    pipe = StrokePipeline(sks, labels, batch_size=5, max_seq_len=15, seed=0, augment=False)
    assert pipe.batches_per_epoch == 4
    b = pipe.batch(2)
    assert b["strokes"].shape == (5, 16, 5) and b["strokes"].dtype == np.float32
    assert b["lengths"].dtype == np.int32 and b["labels"].dtype == np.int32
    order = np.random.default_rng([0, 0]).permutation(23)[10:15]
    np.testing.assert_array_equal(b["labels"], labels[order])
    for row, n, j in zip(b["strokes"], b["lengths"], order):
        assert n == len(sks[j])
        np.testing.assert_array_equal(row[0], [0, 0, 1, 0, 0])
        np.testing.assert_array_equal(row[n + 1:], np.tile([0, 0, 0, 0, 1], (15 - n, 1)))
        np.testing.assert_array_equal(row, S.pad_stroke5(sks[j], 15))


def test_determinism_and_resume(toy):
    sks, labels = toy
    make = lambda seed: StrokePipeline(sks, labels, 4, 15, seed)  # noqa: E731
    a, b, c = make(7), make(7), make(8)
    steps = range(0, 2 * a.batches_per_epoch + 3)
    for k in steps:
        for key in ("strokes", "lengths", "labels"):
            np.testing.assert_array_equal(a.batch(k)[key], b.batch(k)[key])
    assert not all(np.array_equal(a.batch(k)["strokes"], c.batch(k)["strokes"]) for k in steps)
    # Out-of-order access gives the same batches (pure function of seed and step).
    np.testing.assert_array_equal(b.batch(11)["strokes"], make(7).batch(11)["strokes"])
    # Augmentation differs between epochs and from the plain sketches.
    assert not np.array_equal(a.batch(0)["strokes"], a.batch(a.batches_per_epoch)["strokes"])
    # Each epoch visits distinct sketches.
    epoch = np.concatenate([a.batch(k)["labels"] for k in range(a.batches_per_epoch)])
    assert len(epoch) == 20


def test_dataset_resume_matches_fresh_run(toy):
    sks, labels = toy
    pipe = StrokePipeline(sks, labels, 4, 15, seed=2)
    fresh = [x for _, x in zip(range(8), pipe.dataset())]
    resumed = [x for _, x in zip(range(3), pipe.dataset(start_step=5))]
    for k, x in enumerate(fresh):
        np.testing.assert_array_equal(x["strokes"].numpy(), pipe.batch(k)["strokes"])
    for x, y in zip(resumed, fresh[5:]):
        for key in ("strokes", "lengths", "labels"):
            np.testing.assert_array_equal(x[key].numpy(), y[key].numpy())
    assert fresh[0]["strokes"].shape == (4, 16, 5)


def test_augmentation_only_shrinks(toy):
    sks, labels = toy
    plain = StrokePipeline(sks, labels, 23, 15, seed=1, augment=False).batch(0)
    aug = StrokePipeline(sks, labels, 23, 15, seed=1, augment_stroke_prob=0.9).batch(0)
    np.testing.assert_array_equal(plain["labels"], aug["labels"])
    assert np.all(aug["lengths"] <= plain["lengths"]) and np.any(aug["lengths"] < plain["lengths"])
    # Stroke count (lifts) is unchanged, and each sketch is still valid stroke-5.
    np.testing.assert_array_equal(aug["strokes"][:, :, 3].sum(1), plain["strokes"][:, :, 3].sum(1))
    np.testing.assert_array_equal(aug["strokes"][:, :, 2:].sum(-1), np.ones((23, 16)))
    same = StrokePipeline(sks, labels, 23, 15, seed=1, random_scale_factor=0.0,
                          augment_stroke_prob=0.0).batch(0)
    np.testing.assert_array_equal(same["strokes"], plain["strokes"])


def test_small_dataset_and_eval_batches(toy):
    sks, labels = toy
    small = StrokePipeline(sks[:3], labels[:3], 8, 15, seed=0)
    assert small.batches_per_epoch == 1 and small.batch(0)["strokes"].shape == (8, 16, 5)
    pipe = StrokePipeline(sks, labels, 10, 15, seed=0, augment=True)
    batches = list(pipe.eval_batches())
    assert len(batches) == pipe.num_eval_batches() == 3
    w = np.concatenate([b["weights"] for b in batches])
    assert w.sum() == 23 and w[23:].sum() == 0 and len(w) == 30
    got = np.concatenate([b["labels"] for b in batches])[:23]
    np.testing.assert_array_equal(got, labels)  # In order, every sketch once, unaugmented.
    np.testing.assert_array_equal(batches[1]["strokes"][4], S.pad_stroke5(sks[14], 15))
    assert all(b["strokes"].shape == (10, 16, 5) for b in batches)


def test_from_splits(sheep):
    tr = StrokePipeline.from_splits(sheep, "train", batch_size=50, seed=0)
    va = StrokePipeline.from_splits(sheep, "valid", batch_size=50, seed=0)
    assert tr.augment and not va.augment and tr.max_seq_len == 250
    assert tr.batches_per_epoch == 148 and va.num_eval_batches() == 6
    assert tr.batch(0)["strokes"].shape == (50, 251, 5)


def test_pipeline_bad_inputs(toy):
    sks, labels = toy
    with pytest.raises(DataError, match="max_seq_len=5"):
        StrokePipeline(sks, labels, 4, 5, seed=0)
    with pytest.raises(DataError, match="labels"):
        StrokePipeline(sks, labels[:3], 4, 15, seed=0)
    with pytest.raises(DataError, match="no sketches"):
        StrokePipeline([], [], 4, 15, seed=0)
    with pytest.raises(DataError, match="sketch 0"):
        StrokePipeline([np.zeros((3, 2))], [0], 4, 15, seed=0)


def test_benchmark_script_runs(sketches_dir):
    script = pathlib.Path(__file__).resolve().parents[3] / "benchmarks" / "stroke_pipeline.py"
    out = subprocess.run(
        [sys.executable, str(script), "--npz", str(sketches_dir / HARDMARU / "aaron_sheep.npz"),
         "--reps", "2", "--batches", "2"], capture_output=True, text=True, check=True)
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    assert rec["name"] == "stroke_pipeline" and rec["min"] <= rec["sketches_per_s"] <= rec["max"]
