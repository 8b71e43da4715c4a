"""The sampled corpus: sketch-rnn .npz files of finished int16 drawings, reproducible, resumable."""

import numpy as np
import pytest

from common.errors import DataError
from common.strokes import dataset
from common.strokes.safe_npz import load_npz
from experiments.sketch import corpus
from sketch_rnn import pretrained
from tests.support import shared_file


@pytest.fixture(scope="module")
def key_model(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("models") / "key"
    pretrained.import_gen_json(shared_file("pretrained_sketch_rnn", "key.gen.json"), workdir)
    return workdir


def test_corpus_files_are_sketch_rnn_npz_and_reproducible(key_model, tmp_path, capsys):
    reports = corpus.make_corpus([key_model.parent], tmp_path / "a", train=12, valid=4,
                                 batch_size=8, seed=3)
    (report,) = reports
    assert (report.name, report.train, report.valid) == ("key", 12, 4)
    assert report.drawn >= 16 and report.drawn - report.unfinished >= 16
    data = load_npz(tmp_path / "a" / "key.npz")
    assert [len(data[k]) for k in ("train", "valid", "test")] == [12, 4, 0]
    for s in data["train"] + data["valid"]:
        assert s.dtype == np.int16 and s.shape[1] == 3 and 0 < len(s) < 110
        assert set(np.unique(s[:, 2])) <= {0, 1}
    # Our stroke pipeline reads it like any sketch-rnn file.
    splits = dataset.load_strokes([str(tmp_path / "a" / "key.npz")], max_seq_len=110)
    assert len(splits.train) == 12 and splits.class_names == ["key"]
    # Same seed, same drawings; an existing complete file is kept.
    corpus.make_corpus([key_model], tmp_path / "b", train=12, valid=4, batch_size=8, seed=3)
    again = load_npz(tmp_path / "b" / "key.npz")
    for x, y in zip(data["train"], again["train"]):
        np.testing.assert_array_equal(x, y)
    assert corpus.make_corpus([key_model], tmp_path / "b", train=12, valid=4, batch_size=8,
                              seed=3) == []
    assert "kept" in capsys.readouterr().out


def test_corpus_refuses_bad_arguments(key_model, tmp_path):
    with pytest.raises(DataError, match="folder of workdirs"):
        corpus.make_corpus([tmp_path / "nothing"], tmp_path / "out")
    with pytest.raises(DataError, match="train=0"):
        corpus.make_corpus([key_model], tmp_path / "out", train=0)
    with pytest.raises(DataError, match="temperature"):
        corpus.make_corpus([key_model], tmp_path / "out", temperature=0)
    with pytest.raises(DataError, match=r"no model for classes \['sheep'\]"):
        corpus.make_corpus([key_model], tmp_path / "out", classes=["sheep"])
