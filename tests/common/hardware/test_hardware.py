"""Tests of common.hardware: what a measurement ran on."""

import os
import subprocess
import sys

import tensorflow as tf

from common import hardware


def test_describe_reports_the_cpu_its_relevant_flags_cores_load_and_tensorflow():
    d = hardware.describe(flags={"sse4_2", "amx_tile", "avx2", "fma"}, model="Some CPU")
    assert d["cpu"] == "Some CPU"
    assert d["cpu_flags"] == ["avx2", "amx_tile"]  # REPORTED_FLAGS' order, others left out.
    assert d["cores"] == len(os.sched_getaffinity(0)) == hardware.cores()
    assert d["load_avg_1m"] == round(d["load_avg_1m"], 2) >= 0
    assert d["tensorflow"] == tf.__version__
    assert "gpu" not in d  # Injected flags judge no GPU.


def test_describe_of_this_machine_uses_its_model_name_and_flags():
    d = hardware.describe()
    assert d["cpu"] == hardware.cpu_model(default=d["cpu"])
    assert set(d["cpu_flags"]) == set(hardware.REPORTED_FLAGS) & hardware.cpu_flags()


def test_cores_follow_the_affinity_mask():
    # A child pinned to one processor counts one, whatever the machine has.
    code = ("import os; os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); "
            "from common import hardware; print(hardware.cores())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_describe_never_imports_tensorflow():
    code = ("import sys; from common import hardware; d = hardware.describe(); "
            "print('tensorflow' in sys.modules, d['tensorflow'] is not None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
