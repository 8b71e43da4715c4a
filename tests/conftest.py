"""Test set-up: quiet TF logs, a private precision cache, two logical CPUs, the shared data."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# "auto" precision is measured once per machine and cached on disk
# (common.hardware.probe): a run of the tests caches in a folder of its own, which
# its xdist workers and subprocesses inherit, never in the user's cache.
if "PYTEST_XDIST_WORKER" not in os.environ:
    os.environ["SKETCHSTYLE_CACHE_DIR"] = tempfile.mkdtemp(prefix="sketchstyle-test-cache-")
    atexit.register(shutil.rmtree, os.environ["SKETCHSTYLE_CACHE_DIR"], True)

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from hypothesis import settings  # noqa: E402

from tests.support import SHARED_DATA  # noqa: E402

# Property tests run the same examples every time, so that CI cannot fail by chance. Explore
# new random examples with `pytest --hypothesis-profile=explore`.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile("ci")

# Two logical CPUs so MirroredStrategy can be tested on one machine.
_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
except RuntimeError:  # Already initialised.
    pass


@pytest.fixture(scope="session")
def shared_data():
    """Path to ../shared/data; tests that need it are skipped loudly if it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def tfds_offline(monkeypatch):
    """Imports tensorflow_datasets and makes any network connection fail the test."""
    import socket

    tfds = pytest.importorskip("tensorflow_datasets")

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    return tfds


@pytest.fixture(scope="session")
def sketches_dir(shared_data):
    return shared_data / "sketches"


@pytest.fixture(scope="session")
def images_dir(shared_data):
    return shared_data / "images"


# The default run uses two xdist workers (setup.cfg: -n 2 --dist loadfile), one test file per
# unit of work. Files that share a costly session fixture form one unit, so it is built once,
# and the slowest units start first, so no worker is left with a long file at the end. Both
# lists only steer speed; a file missing from them still runs.
SHARED_UNITS = {
    "tests/studio/test_api.py": "studio exports",
    "tests/studio/test_browser.py": "studio exports",
    "tests/studio/test_screenshot.py": "studio exports",
    "tests/reliability/test_kill_resume.py": "reference runs",
    "tests/reliability/test_load.py": "reference runs",
}
SLOWEST_FIRST = (
    "tests/sketch_rnn/test_train.py", "tests/wae_style/test_train.py", "reference runs",
    "tests/reliability/test_faults.py", "tests/scripts/test_scripts.py",
    "tests/commands/test_drawing.py", "studio exports", "tests/common/scorer/test_train.py",
    "tests/sketch_rnn/test_recurrence.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` with the units and order above; other --dist modes are untouched."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    rank = {unit: i for i, unit in enumerate(SLOWEST_FIRST)}

    class Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid):
            path = nodeid.split("::", 1)[0]
            return SHARED_UNITS.get(path, path)

        def _assign_work_unit(self, node):
            # The workqueue keeps the collection's indices; only the pick order changes.
            first = min(self.workqueue, key=lambda unit: rank.get(unit, len(rank)))
            self.workqueue.move_to_end(first, last=False)
            super()._assign_work_unit(node)

    return Scheduling(config, log)
