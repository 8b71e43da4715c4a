"""SketchRNNConfig: magenta defaults, presets, validation, dict and string round trips."""

import dataclasses
import json

import pytest
from hypothesis import given, settings, strategies as st

from sketch_rnn.configs import SketchRNNConfig, get_config
from common import cli
from common.training import config as config_utils
from tests.support.precision import fake_machine, inject_decision


def test_defaults_are_magenta():
    c = SketchRNNConfig()
    assert (c.max_seq_len, c.batch_size, c.enc_model, c.dec_model) == (250, 100, "lstm", "lstm")
    assert (c.enc_rnn_size, c.dec_rnn_size, c.z_size, c.num_mixture) == (256, 512, 128, 20)
    assert c.conditional and c.use_recurrent_dropout and c.recurrent_dropout_prob == 0.9
    assert (c.kl_weight, c.kl_weight_start, c.kl_decay_rate, c.kl_tolerance) == (
        0.5, 0.01, 0.99995, 0.2)
    assert (c.learning_rate, c.decay_rate, c.min_learning_rate, c.grad_clip) == (
        1e-3, 0.9999, 1e-5, 1.0)
    assert (c.random_scale_factor, c.augment_stroke_prob) == (0.15, 0.10)
    assert (c.hyper_num_units, c.hyper_embedding_size, c.forget_bias) == (256, 32, 1.0)
    assert c.recurrent_dropout_keep == 0.9
    assert dataclasses.replace(c, use_recurrent_dropout=False).recurrent_dropout_keep == 1.0


def test_presets():
    assert get_config("default") == SketchRNNConfig.default() == SketchRNNConfig()
    p = get_config("paper")
    assert (p.enc_model, p.dec_model, p.enc_rnn_size, p.dec_rnn_size) == (
        "hyper", "hyper", 512, 2048)
    assert (p.num_steps, p.save_every) == (45_000, 500)
    ln = get_config("layer_norm")
    assert (ln.enc_model, ln.dec_model, ln.enc_rnn_size, ln.dec_rnn_size) == (
        "layer_norm", "layer_norm", 256, 512)
    assert ln.use_recurrent_dropout
    t = get_config("testing")
    assert t.dec_rnn_size <= 16 and t.num_steps == 2 and not t.jit_compile
    with pytest.raises(ValueError, match="layer_norm"):
        get_config("huge")


def test_dict_round_trip_through_json():
    c = dataclasses.replace(get_config("paper"), data=("a.npz", "b.ndjson"),
                            sample_temperatures=(0.2, 1.0))
    d = json.loads(json.dumps(c.to_dict()))
    assert d["data"] == ["a.npz", "b.ndjson"]
    back = SketchRNNConfig.from_dict(d)
    assert back == c and isinstance(back.sample_temperatures, tuple)
    with pytest.raises(ValueError, match="bogus"):
        SketchRNNConfig.from_dict(dict(d, bogus=1))
    # JSON ints for float fields are accepted.
    assert SketchRNNConfig.from_dict(dict(d, kl_weight=1)).kl_weight == 1.0


def test_replace_from_strings():
    c = config_utils.replace_from_strings(SketchRNNConfig(), [
        "dec_rnn_size=64", "data=a.npz,b.npz", "conditional=false", "num_steps=1e3",
        "sample_temperatures=0.1, 0.3", "enc_model=hyper", "kl_weight=1", "seed=1_000"])
    assert c.dec_rnn_size == 64 and c.data == ("a.npz", "b.npz") and not c.conditional
    assert c.num_steps == 1000 and c.sample_temperatures == (0.1, 0.3)
    assert c.enc_model == "hyper" and c.kl_weight == 1.0 and c.seed == 1000


@pytest.mark.parametrize("override,match", [
    ("dec_size=3", "dec_size"),
    ("dec_rnn_size", "field=value"),
    ("dec_rnn_size=big", "dec_rnn_size"),
    ("num_steps=1.5", "num_steps"),
    ("conditional=maybe", "conditional"),
    ("enc_model=gru", "enc_model"),
    ("dec_rnn_size=0", "dec_rnn_size"),
    ("recurrent_dropout_prob=0", "recurrent_dropout_prob"),
    ("recurrent_dropout_prob=1.5", "recurrent_dropout_prob"),
    ("kl_tolerance=-1", "kl_tolerance"),
    ("min_learning_rate=0.1", "min_learning_rate"),
    ("strategy=tpu_pod", "strategy"),
    ("matmul_dtype=float16", "matmul_dtype"),
    ("data=", "data"),
    ("sample_temperatures=0.5,0", "sample_temperatures"),
    ("eval_max_sketches=-1", "eval_max_sketches"),
])
def test_bad_overrides_name_the_field(override, match):
    with pytest.raises(ValueError, match=match):
        config_utils.replace_from_strings(SketchRNNConfig(), [override])


def test_type_checks():
    with pytest.raises(ValueError, match="conditional"):
        SketchRNNConfig(conditional=1)
    with pytest.raises(ValueError, match="z_size"):
        SketchRNNConfig(z_size=2.0)
    with pytest.raises(ValueError, match="data"):
        SketchRNNConfig(data="a.npz")


@settings(max_examples=50, deadline=None)
@given(enc=st.sampled_from(["lstm", "layer_norm", "hyper"]), size=st.integers(1, 4096),
       keep=st.floats(0.01, 1.0), cond=st.booleans(),
       temps=st.lists(st.floats(0.01, 2.0), min_size=1, max_size=4))
def test_string_and_dict_round_trips(enc, size, keep, cond, temps):
    overrides = [f"enc_model={enc}", f"dec_rnn_size={size}", f"recurrent_dropout_prob={keep!r}",
                 f"conditional={cond}", "sample_temperatures=" + ",".join(map(repr, temps))]
    c = config_utils.replace_from_strings(SketchRNNConfig.testing(), overrides)
    assert (c.enc_model, c.dec_rnn_size, c.recurrent_dropout_prob, c.conditional) == (
        enc, size, keep, cond)
    assert c.sample_temperatures == tuple(temps)
    assert SketchRNNConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


@pytest.mark.parametrize("native", ["bfloat16", "float32"])
def test_matmul_dtype_is_resolved_and_reaches_the_layers(native, monkeypatch):
    from sketch_rnn.model import SketchRNN
    calls = inject_decision(monkeypatch, native)  # What "auto" measures, injected.
    assert SketchRNNConfig.default().matmul_dtype == native  # "auto", resolved when built.
    assert SketchRNNConfig.paper().matmul_dtype == native
    # Each timed on its own gate matmuls: the decoder's, then the encoder's.
    assert [c[0] for c in calls] == [((100, 645, 2048), (100, 261, 1024)),
                                     ((100, 2181, 8192), (100, 517, 2048))]
    assert SketchRNNConfig.testing().matmul_dtype == "float32"
    for dtype in ("bfloat16", "float32", "auto"):
        config = dataclasses.replace(SketchRNNConfig.testing(), matmul_dtype=dtype)
        want = native if dtype == "auto" else dtype
        assert config.matmul_dtype == want
        assert SketchRNNConfig.from_dict(config.to_dict()) == config
        model = SketchRNN(config)
        assert model.dec_cell.matmul_dtype == want
        assert model.head.matmul_dtype == "float32"  # Always: bf16 there costs likelihood.


def test_cli_overrides_are_applied_before_auto_is_measured(monkeypatch):
    calls = inject_decision(monkeypatch, "bfloat16")
    config = cli.build_config(SketchRNNConfig, "default", ["matmul_dtype=float32"])
    assert type(config) is SketchRNNConfig and config.matmul_dtype == "float32"
    assert calls == []  # An explicit dtype: nothing measured, not even the preset's "auto".
    config = cli.build_config(SketchRNNConfig, "default", ["batch_size=32"],
                              conditional=False, dec_rnn_size=None)
    assert type(config) is SketchRNNConfig and config.matmul_dtype == "bfloat16"
    assert calls == [(((32, 517, 2048),), (), True)]  # Measured once, on the final shapes.
    assert SketchRNNConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="SketchRNNConfig.batch_size=0"):
        cli.build_config(SketchRNNConfig, "default", ["batch_size=0"])


def test_the_trainer_line_says_why(tmp_path, monkeypatch):
    from sketch_rnn.configs import describe_matmul_dtype
    fake_machine(monkeypatch, tmp_path, {"float32": 2.6e-3, "bfloat16": 1.3e-3})
    config = SketchRNNConfig.default()
    assert describe_matmul_dtype(config) == (
        'Matmul dtype: bfloat16 ("auto": 2.6 ms vs 5.2 ms float32 on (100, 645)x(645, 2048) '
        '+ (100, 261)x(261, 1024), measured).')
    fixed = dataclasses.replace(config, matmul_dtype="float32")
    assert describe_matmul_dtype(fixed).startswith("Matmul dtype: float32 (set explicitly")
