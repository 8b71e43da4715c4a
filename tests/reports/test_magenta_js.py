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


def _ours(gen, strokes5, temperature, discrete_temperature):
    """getPDF()'s rows from our sampler's scale_params over the numpy decoder's logits."""
    import tensorflow as tf

    from sketch_rnn import sample as sample_lib

    m = gen.num_mixture
    h = c = np.zeros(gen.num_units)
    heads = []
    for x in [np.array([0.0, 0.0, 1.0, 0.0, 0.0]), *strokes5]:
        h, c, head = js_format.numpy_decoder_step(gen, x, h, c)
        heads.append(head)
    pen, pi, mu_x, mu_y, log_sx, log_sy, rho = np.split(np.asarray(heads),
                                                        [3 + k * m for k in range(7)], axis=1)[:7]
    params = {"pi_logits": pi, "pen_logits": pen, "log_sigma_x": log_sx, "log_sigma_y": log_sy}
    tau = np.full(len(heads), temperature, np.float32)
    tau_d = sample_lib.resolve_discrete_temperature(discrete_temperature, tau)
    pi_s, pen_s, sx, sy = sample_lib.scale_params(params, tau, tau_d)
    return {"pen": tf.nn.softmax(pen_s).numpy(), "pi": tf.nn.softmax(pi_s).numpy(),
            "mu_x": mu_x, "mu_y": mu_y, "sigma_x": sx.numpy(), "sigma_y": sy.numpy(),
            "corr": np.tanh(rho)}


@pytest.mark.parametrize("temperature", [0.1, 0.4])
def test_web_discrete_temperature_is_magenta_js_default_on_a_fixed_random_stream(
        shared_data, temperature):
    """getPDF(state, tau) with its default softmax temperature equals our "web" setting, and
    magenta-js's own sample() on a fixed Math.random() stream draws what those
    probabilities draw; the paper's setting (= tau) does not."""
    model = shared_data / "pretrained_sketch_rnn" / "sheep.gen.json"
    drawings = shared_data / "sketches" / SIMPLIFIED / "sheep.ndjson"
    for path in (model, drawings):
        if not path.is_file():
            pytest.skip(f"shared data missing: {path}")
    gen = js_format.read_gen_json(model)
    strokes = magenta_js.first_drawing_stroke5(drawings, NUM_ROWS)
    uniforms = np.random.default_rng(7).random(20 * (NUM_ROWS + 1))
    js = magenta_js.run_pdf(model, strokes, temperature, None, uniforms=uniforms)
    web = _ours(gen, strokes, temperature, "web")
    for key, ours in web.items():
        np.testing.assert_allclose(js[key], ours, rtol=0, atol=1e-4, err_msg=key)
    drawn = magenta_js.numpy_js_sample(web, uniforms)
    np.testing.assert_array_equal(js["samples"][:, 2:], drawn[:, 2:])
    np.testing.assert_allclose(js["samples"][:, :2], drawn[:, :2], rtol=0, atol=1e-3)
    paper = _ours(gen, strokes, temperature, "paper")
    assert np.abs(paper["pen"] - js["pen"]).max() > 1e-2
    assert np.abs(paper["pi"] - js["pi"]).max() > 1e-2
