"""studio.screenshot: the studio's screenshot taken through the page, and its one-line errors."""

import os
import subprocess
import sys

import pytest
from PIL import Image

from common.errors import DataError
from studio import screenshot
from studio.screenshot import CHROMIUM
from studio.screenshot import ScreenshotError
from studio.screenshot import ServerStartError
from studio.screenshot import ensure_chromium
from studio.screenshot import take_screenshot

REPO_ROOT = screenshot.REPO_ROOT
# Short strokes in a 400 x 400 canvas: the test models take at most 32 points.
SHORT = ([(80 + 12 * i, 90 + (-1) ** i * 25) for i in range(16)],
         [(90 + 9 * i, 300 - 6 * i) for i in range(20)])
SHORT_B = ([(60 + 14 * i, 320 - 12 * i) for i in range(20)],)


@pytest.fixture(scope="session")
def chromium_path():
    """Path to Debian's chromium, installed on first use; a failed install fails the test."""
    try:
        ensure_chromium()
    except RuntimeError as e:
        pytest.fail(f"cannot install Debian's chromium for the screenshot test: {e}")
    return CHROMIUM


@pytest.fixture
def fake_models(tmp_path):
    """Folders that pass the path checks (a saved_model.pb each) but load as nothing."""
    out = []
    for name in ("sketch", "style"):
        (tmp_path / name / "export").mkdir(parents=True)
        (tmp_path / name / "export" / "saved_model.pb").write_bytes(b"not a SavedModel")
        out.append(tmp_path / name)
    return out


def _one_line(err):
    msg = str(err.value)
    assert msg and "\n" not in msg, msg
    return msg


def test_a_missing_model_folder_is_one_line(tmp_path, fake_models):
    sketch, style = fake_models
    out = tmp_path / "shot.png"
    with pytest.raises(DataError) as err:
        take_screenshot(out, [tmp_path / "no_such_model"], style)
    assert "no_such_model: no such folder" in _one_line(err)
    with pytest.raises(DataError) as err:
        take_screenshot(out, [sketch], tmp_path / "no_wae")
    assert "no_wae: no such folder" in _one_line(err)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as err:
        take_screenshot(out, [sketch], tmp_path / "empty")
    assert "empty is not a SavedModel folder or a workdir with export/" in _one_line(err)
    for kwargs, words in (({"content": 7}, "preset 7"),
                          ({"style": str(tmp_path / "gone.jpg")}, "gone.jpg: no such file"),
                          ({"temperature": 0.33}, "multiples of 0.05"),
                          ({"strength": 1.5}, "multiples of 0.05"),
                          ({"discrete": "hot"}, "'hot'")):
        with pytest.raises(DataError) as err:
            take_screenshot(out, [sketch], style, **kwargs)
        assert words in _one_line(err)
    assert not out.exists()


def test_the_command_prints_one_line_for_a_missing_model(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.studio_screenshot", "--sketch_model=no/such/model",
         "--style_model=no/such/wae", f"--out={tmp_path / 'shot.png'}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[-1] == "error: Sketch RNN model no/such/model: no such folder", proc.stderr
    assert not (tmp_path / "shot.png").exists()


def test_missing_chromium_is_one_line(tmp_path, fake_models):
    with pytest.raises(ScreenshotError) as err:
        take_screenshot(tmp_path / "shot.png", [fake_models[0]], fake_models[1],
                        chromium=str(tmp_path / "no-chromium"))
    assert "no Chromium at" in _one_line(err) and "apt-get install chromium" in str(err.value)


def test_a_server_that_does_not_start_is_one_line(tmp_path, fake_models, chromium_path):
    with pytest.raises(ServerStartError) as err:
        take_screenshot(tmp_path / "shot.png", [fake_models[0]], fake_models[1],
                        chromium=chromium_path, log=None)
    assert _one_line(err).startswith("scripts.serve exited with code"), err.value.log_tail
    assert err.value.log_tail
    assert not (tmp_path / "shot.png").exists()


@pytest.mark.slow
def test_screenshot_of_the_test_models(sketch_export, style_export, chromium_path, tmp_path):
    out = tmp_path / "docs" / "studio.png"
    upload = tmp_path / "content.png"
    Image.new("RGB", (90, 70), (20, 120, 220)).save(upload)
    lines = []
    shot = take_screenshot(out, [sketch_export], style_export, drawing=SHORT, drawing_b=SHORT_B,
                           temperature=0.5, seed=1234, keep=True, steps=5, content=upload, style=1,
                           strength=0.5, chromium=chromium_path, log=lines.append)
    assert shot.path == str(out) and out.is_file()
    assert 30_000 < out.stat().st_size < 2_000_000
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (shot.width, shot.height)
        assert img.width == screenshot.VIEWPORT["width"] and img.height >= 900
    assert shot.interpolated  # The testing config is conditional.
    assert shot.seed >= 1234 and shot.model
    assert [p.name for p in out.parent.iterdir()] == ["studio.png"]  # No temp file left.
    assert any("completion seed" in line for line in lines), lines
    with pytest.raises(ProcessLookupError):  # The server is gone.
        os.kill(shot.server_pid, 0)
