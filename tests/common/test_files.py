"""common.files.display_path: what a report shows of a path."""

import os
import pathlib

from common import files


def test_a_path_inside_the_working_folder_is_shown_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inside = tmp_path / "workdirs" / "sheep" / "export"
    assert files.display_path(inside) == os.path.join("workdirs", "sheep", "export")
    assert files.display_path(str(inside)) == os.path.join("workdirs", "sheep", "export")
    assert files.display_path("workdirs/sheep/") == os.path.join("workdirs", "sheep")
    assert files.display_path(tmp_path) == "."


def test_a_path_outside_is_shown_as_given(tmp_path, monkeypatch):
    work = tmp_path / "repo"
    work.mkdir()
    monkeypatch.chdir(work)
    assert files.display_path("../shared/data/x.npz") == "../shared/data/x.npz"
    outside = tmp_path / "runs" / "wae"
    assert files.display_path(outside) == str(outside)
    assert files.display_path(pathlib.Path("/elsewhere/x")) == "/elsewhere/x"


def test_names_that_are_not_paths_pass_through(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert files.display_path("imagenet") == "imagenet"
    assert files.display_path("random") == "random"
