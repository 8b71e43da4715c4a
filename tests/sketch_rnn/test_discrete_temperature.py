"""The discrete temperature (mixture and pen softmaxes) through the sampler, the export and the client."""

import json

import numpy as np
import pytest
import tensorflow as tf

from common.errors import DataError
from sketch_rnn import export as export_lib
from sketch_rnn import sample as S
from sketch_rnn.client import SketchModel
from sketch_rnn.client import parse_discrete_temperature
from tests.support.models import seeded_sketch_rnn


def _model(conditional=True):
    return seeded_sketch_rnn(conditional)


def _prefix():
    prefix = np.zeros((2, 4, 5), np.float32)
    prefix[:, 0, 2] = 1.0
    prefix[:, 1:, :2] = 0.5
    prefix[:, 1:, 2] = 1.0
    return prefix, [3, 2]


def test_resolve_against_numpy():
    tau = np.array([0.001, 0.1, 0.4, 0.7, 1.0])
    np.testing.assert_array_equal(S.resolve_discrete_temperature("paper", tau),
                                  tau.astype(np.float32))
    np.testing.assert_array_equal(S.resolve_discrete_temperature("web", tau),
                                  (0.5 + 0.5 * tau).astype(np.float32))
    np.testing.assert_array_equal(S.resolve_discrete_temperature(0.3, tau), np.full(5, 0.3, np.float32))
    assert S.resolve_discrete_temperature(" Web ", 0.1) == np.float32(0.55)
    assert S.resolve_discrete_temperature("2", 0.1) == np.float32(2.0)
    assert [S.parse_discrete_temperature(v) for v in ("paper", "WEB", "0.5", 3)] == [
        "paper", "web", 0.5, 3.0]


@pytest.mark.parametrize("bad", ["magenta", "", "-1", "0", "nan", "inf", 0, -0.5, True, None,
                                 [0.5]])
def test_bad_settings_fail_with_one_line_naming_them(bad):
    with pytest.raises(ValueError) as err:
        S.parse_discrete_temperature(bad)
    assert "\n" not in str(err.value) and f"discrete_temperature={bad!r}" in str(err.value)
    with pytest.raises(DataError, match="use 'paper'"):
        parse_discrete_temperature(bad)


def test_scale_params_divides_only_the_softmaxes():
    rng = np.random.default_rng(3)
    params = {k: rng.normal(size=(3, 4)).astype("float32")
              for k in ("pi_logits", "log_sigma_x", "log_sigma_y")}
    params["pen_logits"] = rng.normal(size=(3, 3)).astype("float32")
    tau = np.array([0.1, 0.5, 0.9], np.float32)
    tau_d = S.resolve_discrete_temperature("web", tau)
    pi, pen, sx, sy = S.scale_params(params, tau, tau_d)
    np.testing.assert_allclose(pi, params["pi_logits"] / tau_d[:, None], rtol=1e-6)
    np.testing.assert_allclose(pen, params["pen_logits"] / tau_d[:, None], rtol=1e-6)
    np.testing.assert_allclose(sx, np.exp(params["log_sigma_x"]) * np.sqrt(tau)[:, None], rtol=1e-6)
    np.testing.assert_allclose(sy, np.exp(params["log_sigma_y"]) * np.sqrt(tau)[:, None], rtol=1e-6)
    # None is the paper's: the same tensors as dividing by tau.
    for a, b in zip(S.scale_params(params, tau), S.scale_params(params, tau, tau)):
        np.testing.assert_array_equal(a, b)


# Recorded with the sampler before the discrete temperature existed (fp32 matmuls): lengths,
# summed offsets and pen states of sample() at tau 0.1 / 0.4 / 0.7 / 1.0 (seed 3) and of
# complete() at tau 0.5 (seed 4).
PINNED = {
    True: {"sample": ([24, 24, 24, 21], [[-5.568, 15.603], [6.188, -8.036], [-32.099, -5.104],
                                         [3.512, 13.51]]),
           "complete": ([16, 16], [[-8.092, 18.434], [1.602, 15.558]])},
    False: {"sample": ([24, 24, 24, 21], [[2.663, 13.569], [-23.299, 9.782], [-19.06, 6.809],
                                          [-10.763, 8.526]]),
            "complete": ([16, 16], [[-7.973, 15.577], [5.398, 5.66]])},
}
PINNED_PENS = {
    (True, "complete"): [[0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1],
                         [1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]],
    (False, "complete"): [[0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                          [1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]],
}


@pytest.mark.parametrize("conditional", [True, False])
def test_the_default_samples_as_before(conditional):
    """Same seed and the default setting: the samples recorded before the option existed."""
    model = _model(conditional)
    temps = [0.1, 0.4, 0.7, 1.0]
    default = S.sample(model, 4, temps, seed=3, max_len=24)
    again = S.sample(model, 4, temps, seed=3, max_len=24, discrete_temperature="paper")
    np.testing.assert_array_equal(again[0], default[0])
    prefix, lengths = _prefix()
    done = S.complete(model, prefix, lengths, 0.5, seed=4, max_len=16)
    for what, (strokes, got_len) in (("sample", default), ("complete", done)):
        want_len, want_sum = PINNED[conditional][what]
        strokes = np.asarray(strokes)
        assert np.asarray(got_len).tolist() == want_len, what
        np.testing.assert_allclose(strokes[:, :, :2].sum(1), want_sum, atol=2e-3, err_msg=what)
        if (conditional, what) in PINNED_PENS:
            assert strokes[:, :, 2:].argmax(-1).tolist() == PINNED_PENS[conditional, what]


def test_web_is_its_number_and_differs_from_the_paper():
    model = _model(conditional=False)
    kw = dict(seed=5, max_len=30)
    web = S.sample(model, 6, 0.1, discrete_temperature="web", **kw)
    number = S.sample(model, 6, 0.1, discrete_temperature=0.55, **kw)
    paper = S.sample(model, 6, 0.1, **kw)
    np.testing.assert_array_equal(web[0], number[0])
    assert not np.array_equal(web[0], paper[0])
    # A discrete temperature equal to tau is the paper's, sample for sample.
    np.testing.assert_array_equal(S.sample(model, 6, 0.1, discrete_temperature=0.1, **kw)[0],
                                  paper[0])
    with pytest.raises(ValueError, match="discrete_temperature='hot'"):
        S.sample(model, 2, 0.1, discrete_temperature="hot", **kw)


class _OldExport(export_lib.SketchRNNExport):
    """An export as written before the discrete_temperature input existed."""

    def __init__(self, model, config, info):
        super().__init__(model, config, info)
        f32, i32 = tf.float32, tf.int32
        spec = lambda d, name: tf.TensorSpec([], d, name=name)  # noqa: E731
        strokes = [tf.TensorSpec([None, None, 3], f32, name="strokes"),
                   tf.TensorSpec([None], i32, name="lengths")]
        old = [spec(f32, "temperature"), spec(i32, "seed"), spec(i32, "max_len")]
        self.sample = tf.function(lambda n, temperature, seed, max_len: self._sample(
            n, temperature, seed, max_len), input_signature=[spec(i32, "n")] + old)
        self.complete = tf.function(lambda strokes, lengths, temperature, seed, max_len:
                                    self._complete(strokes, lengths, temperature, seed, max_len),
                                    input_signature=strokes + old)
        self.decode = tf.function(lambda z, temperature, seed, max_len: self._decode(
            z, temperature, seed, max_len),
            input_signature=[tf.TensorSpec([None, self.z_size], f32, name="z")] + old)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """(in-process model, new export, old-style export) of one conditional model."""
    model = _model(conditional=True)
    info = {"scale_factor": 2.0, "class_names": ["x"]}
    new = export_lib.export(model, model.config, info, tmp_path_factory.mktemp("new"))
    old = tmp_path_factory.mktemp("old")
    module = _OldExport(model, model.config, info)
    tf.saved_model.save(module, str(old), options=tf.saved_model.SaveOptions(
        experimental_custom_gradients=False))
    (old / export_lib.METADATA).write_text(module.meta_text)
    return model, new, old


def test_export_input_is_optional_and_matches_the_sampler(exports):
    model, new, _ = exports
    loaded = tf.saved_model.load(str(new))
    meta = json.loads(loaded.metadata()["json"].numpy())
    assert "0.5 + 0.5 x temperature" in meta["discrete_temperature"]
    base = loaded.sample(n=3, temperature=0.1, seed=2, max_len=20)
    zero = loaded.sample(n=3, temperature=0.1, seed=2, max_len=20, discrete_temperature=0.0)
    web = loaded.sample(n=3, temperature=0.1, seed=2, max_len=20, discrete_temperature=0.55)
    np.testing.assert_array_equal(zero["strokes"], base["strokes"])
    for got, setting in ((base, "paper"), (web, "web")):
        s5, lengths = S.sample(model, 3, 0.1, 2, 20, discrete_temperature=setting)
        want = export_lib.stroke5_to_stroke3(s5, lengths, 2.0)
        np.testing.assert_array_equal(got["lengths"], lengths)
        np.testing.assert_allclose(got["strokes"], want, rtol=1e-5, atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="discrete_temperature must be >= 0"):
        loaded.sample(n=1, temperature=0.1, seed=2, max_len=5, discrete_temperature=-1.0)


def test_client_passes_it_everywhere_and_an_old_export_refuses_all_but_the_paper(exports):
    model, new, old = exports
    client, before = SketchModel(new), SketchModel(old)
    assert client.takes_discrete_temperature and not before.takes_discrete_temperature
    assert client.info()["discrete_temperature"] is True
    for setting in ("paper", "web", 0.8):
        s5, lengths = S.sample(model, 3, 0.4, 6, 20, discrete_temperature=setting)
        want = S.to_stroke3_list(s5, lengths, 2.0)
        got = client.sample(3, 0.4, 6, 20, discrete_temperature=setting)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-4)
    sketch = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 1.0, 1.0]], np.float32)
    z = client.encode([sketch, sketch])
    for call in (lambda c, d: c.sample(2, 0.1, 1, 12, discrete_temperature=d),
                 lambda c, d: c.complete(sketch, 2, 0.1, 1, 12, discrete_temperature=d),
                 lambda c, d: c.decode(z, 0.1, 1, 12, discrete_temperature=d),
                 lambda c, d: c.decode(z, 0.1, 1, 12, shared_noise=True, discrete_temperature=d),
                 lambda c, d: c.reconstruct([sketch], 0.1, 1, 12, discrete_temperature=d),
                 lambda c, d: c.interpolate(sketch, sketch, 3, temperature=0.1, seed=1, max_len=12,
                                            discrete_temperature=d)):
        paper = call(client, "paper")
        for g, w in zip(call(before, "paper"), paper):  # The old export still samples.
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
        assert any(not np.array_equal(g, w) for g, w in zip(call(client, 2.5), paper))
        with pytest.raises(DataError, match="no discrete_temperature input") as err:
            call(before, "web")
        assert "\n" not in str(err.value)
        with pytest.raises(DataError, match="discrete_temperature='warm'"):
            call(client, "warm")
