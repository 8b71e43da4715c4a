"""Fixtures for the reliability suite: the loader sandbox, a results log, and the studio exports."""

import json
import os
import time

import pytest

# The studio's tiny exported models (built once per session), shared with tests/common.
from tests.common.conftest import sketch_export, style_export, studio_models  # noqa: F401
from tests.reliability.sandbox import Sandbox

LOG_ENV = "SKETCHSTYLE_RELIABILITY_LOG"


@pytest.fixture(scope="session")
def sandbox():
    """One loader worker process for the whole session (restarted after a hang or crash)."""
    box = Sandbox(time_bound=30.0)
    yield box
    box.close()


@pytest.fixture(scope="session")
def record():
    """record(name, **numbers): prints a result line and appends it to $SKETCHSTYLE_RELIABILITY_LOG.

    The figures in docs/reliability.md come from these lines.
    """
    path = os.environ.get(LOG_ENV)

    def write(name, **values):
        line = json.dumps({"test": name, "time": time.strftime("%Y-%m-%d %H:%M:%S"), **values},
                          default=str)
        print(line)
        if path:
            with open(path, "a") as f:
                f.write(line + "\n")

    return write
