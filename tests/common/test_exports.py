"""Finding exports: the folder rules, one-line errors, and no TensorFlow import for the check."""

import subprocess
import sys

import pytest

from common import exports
from common.errors import DataError


def test_resolve_export_takes_an_export_or_a_workdir_holding_one(tmp_path):
    (tmp_path / "run" / "export").mkdir(parents=True)
    (tmp_path / "run" / "export" / "saved_model.pb").write_bytes(b"")
    assert exports.resolve_export(tmp_path / "run") == tmp_path / "run" / "export"
    assert exports.resolve_export(tmp_path / "run" / "export") == tmp_path / "run" / "export"
    assert exports.is_export(tmp_path / "run") and exports.is_export(tmp_path / "run" / "export")
    assert not exports.is_export(tmp_path) and not exports.is_export(tmp_path / "missing")


@pytest.mark.parametrize("name, words", [("missing", "missing: no such folder"),
                                         ("empty", "empty is not a SavedModel folder")])
def test_resolve_export_errors_name_the_path(tmp_path, name, words):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=words) as e:
        exports.resolve_export(tmp_path / name)
    assert "\n" not in str(e.value)


def test_resolve_export_imports_no_tensorflow(tmp_path):
    code = ("import sys; from common import exports, errors\n"
            "try: exports.resolve_export(sys.argv[1])\n"
            "except errors.DataError: pass\n"
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
