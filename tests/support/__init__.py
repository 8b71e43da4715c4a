"""Helpers shared by the test modules: the shared data's paths here; layer, trainer, model and subprocess helpers in the submodules."""

import os
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED_DATA = pathlib.Path(
    os.environ.get("SKETCHSTYLE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
# QuickDraw simplified drawings, one ndjson per class, and the rows the parity tests feed.
SIMPLIFIED = "quickdraw_lamnguyen_simplified"
NUM_ROWS = 30


def shared_file(*parts):
    """A path under ../shared/data; the calling test is skipped loudly when it is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data missing: {path}")
    return path
