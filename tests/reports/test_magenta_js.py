"""Google's runtime, @magenta/sketch 0.2.0 on Node.js, agrees with our numpy `.gen.json` reading."""

import os
import stat

import numpy as np
import pytest

from reports.pretrained import magenta_js
from sketch_rnn import js_format
from tests.support import NUM_ROWS, SIMPLIFIED


@pytest.mark.parametrize("name, temperature, softmax_temperature",
                         [("sheep", 1.0, 1.0), ("bicycle", 0.5, 0.8)])
def test_magenta_js_agrees_with_numpy_reference(shared_data, name, temperature,
                                                softmax_temperature):
    model = shared_data / "pretrained_sketch_rnn" / f"{name}.gen.json"
    drawings = shared_data / "sketches" / SIMPLIFIED / f"{name}.ndjson"
    for path in (model, drawings):
        if not path.is_file():
            pytest.skip(f"shared data missing: {path}")
    gen = js_format.read_gen_json(model)
    strokes = magenta_js.first_drawing_stroke5(drawings, NUM_ROWS)
    assert strokes.shape == (NUM_ROWS, 5)

    js = magenta_js.run_pdf(model, strokes, temperature, softmax_temperature)
    want = magenta_js.numpy_pdf(gen, strokes, temperature, softmax_temperature)

    assert js["scale_factor"] == 1.0
    assert js["info_scale_factor"] == gen.scale_factor
    assert js["default_pixel_factor"] == 2.0
    for key, expected in want.items():
        assert js[key].shape == expected.shape == (NUM_ROWS + 1, 3 if key == "pen" else 20), key
        np.testing.assert_allclose(js[key], expected, rtol=0, atol=1e-4, err_msg=key)


def test_missing_node_fails_with_install_hint(monkeypatch):
    monkeypatch.setattr(magenta_js.shutil, "which", lambda tool: None)
    with pytest.raises(RuntimeError, match="Node.js 20 and npm are needed for the magenta-js"):
        magenta_js.install()


def test_npm_failure_reports_its_stderr(tmp_path, monkeypatch):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    npm = fake_bin / "npm"
    npm.write_text("#!/bin/sh\necho 'npm error code E404 no such package' >&2\nexit 1\n")
    npm.chmod(npm.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(RuntimeError, match="exit 1.*E404 no such package"):
        magenta_js.install(tmp_path / "cache")
    assert not (tmp_path / "cache" / magenta_js.MARKER).exists()
