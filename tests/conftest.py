"""Test set-up: quiet TF logs, two logical CPU devices, and paths to the shared real data."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from hypothesis import settings  # noqa: E402

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

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(
    os.environ.get("SKETCHSTYLE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
SKETCHES = SHARED_DATA / "sketches"
IMAGES = SHARED_DATA / "images"


@pytest.fixture(scope="session")
def shared_data():
    """Path to ../shared/data; tests that need it are skipped loudly if it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sketches_dir(shared_data):
    return shared_data / "sketches"


@pytest.fixture(scope="session")
def images_dir(shared_data):
    return shared_data / "images"
