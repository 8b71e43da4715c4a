"""Fixtures for the reliability suite: the loader sandbox, a results log and two reference trainer runs."""

import concurrent.futures
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

from tests.support.sandbox import Sandbox
from tests.support.trainers import REFERENCE_STEPS, TRAINERS

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


REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def reference_runs(tmp_path_factory):
    """Uninterrupted runs of both trainer CLIs (testing configs, 4 steps, one save at the end).

    The kill tests compare against their weights; the load test serves their exports.
    """
    root = tmp_path_factory.mktemp("reference")
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")

    def run(model):  # Both at once: much of a CLI run is single-threaded Python.
        workdir = root / model
        res = subprocess.run(
            [sys.executable, "-m"] + TRAINERS[model] + [f"--workdir={workdir}",
                                                        f"--num_steps={REFERENCE_STEPS}",
                                                        f"--save_every={REFERENCE_STEPS}",
                                                        "--eval_every=100"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
        return workdir

    with concurrent.futures.ThreadPoolExecutor(len(TRAINERS)) as pool:
        futures = {model: pool.submit(run, model) for model in TRAINERS}
        return {model: f.result() for model, f in futures.items()}
