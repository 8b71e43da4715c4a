"""Tests for common.training.config: field coercion and "field=value" overrides."""

import dataclasses

import pytest

from common.training import config as config_utils
from wae_style import configs as wae_configs


@dataclasses.dataclass(frozen=True)
class Toy:
    n: int = 1
    x: float = 0.5
    flag: bool = False
    name: str = "a"
    sizes: tuple[int, ...] = (1, 2)

    def __post_init__(self):
        def fail(name, why):
            raise ValueError(f"Toy.{name}={getattr(self, name)!r}: {why}")

        config_utils.coerce_fields(self, fail)


def test_coerce_fields_converts_json_values_and_checks_types():
    t = Toy(n=3, x=2, sizes=[4, 5])
    assert t.x == 2.0 and isinstance(t.x, float) and t.sizes == (4, 5)
    for bad, field in [(dict(n=1.5), "n"), (dict(n=True), "n"), (dict(x="1"), "x"),
                       (dict(flag=1), "flag"), (dict(name=3), "name"), (dict(sizes="12"), "sizes"),
                       (dict(sizes=[1, "2"]), "sizes")]:
        with pytest.raises(ValueError, match=f"Toy.{field}="):
            Toy(**bad)


def test_replace_from_strings_parses_every_kind():
    t = config_utils.replace_from_strings(
        Toy(), ["n=1e3", "x=1_000.5", "flag=yes", "name= b ", "sizes=3, 4,5"])
    assert t == Toy(n=1000, x=1000.5, flag=True, name="b", sizes=(3, 4, 5))
    assert config_utils.replace_from_strings(Toy(), ["sizes="]).sizes == ()
    for item, match in [("n", "field=value"), ("m=1", "unknown Toy field 'm'"),
                        ("n=1.5", "n: '1.5' is not a valid int"), ("flag=maybe", "not a boolean"),
                        ("x=abc", "not a valid float"), ("sizes=1,x", "not a valid int")]:
        with pytest.raises(ValueError, match=match):
            config_utils.replace_from_strings(Toy(), [item])


def test_wae_config_checks_types_too():
    with pytest.raises(ValueError, match="WAEConfig.content_dim='64': must be an int"):
        dataclasses.replace(wae_configs.WAEConfig.testing(), content_dim="64")
    c = wae_configs.WAEConfig.from_dict(dict(wae_configs.WAEConfig.testing().to_dict(), mix=[1, 2],
                                             data=["a", "b"]))
    assert c.mix == (1.0, 2.0)


def test_from_dict_names_a_few_unknown_fields():
    """Another model's config (every field unknown) gets a short message, not all its fields."""
    from sketch_rnn.configs import SketchRNNConfig
    wae = wae_configs.WAEConfig.testing().to_dict()
    with pytest.raises(ValueError) as err:
        SketchRNNConfig.from_dict(wae)
    unknown = sorted(set(wae) - {f.name for f in dataclasses.fields(SketchRNNConfig)})
    assert len(unknown) > 5
    assert str(err.value) == (f"unknown SketchRNNConfig fields: {', '.join(unknown[:5])}, ... "
                              f"({len(unknown)} in all)")
    with pytest.raises(ValueError, match=r"^unknown WAEConfig fields: bogus$"):
        wae_configs.WAEConfig.from_dict(dict(wae, bogus=1))


@pytest.mark.parametrize("field, value", [("max_seq_len", 10**9), ("batch_size", 10**9),
                                          ("dec_rnn_size", 10**6), ("z_size", 10**5),
                                          ("num_mixture", 1000), ("num_steps", 10**12)])
def test_sketch_rnn_sizes_are_bounded(field, value):
    from sketch_rnn.configs import SketchRNNConfig
    raw = dict(SketchRNNConfig.testing().to_dict(), **{field: value})
    with pytest.raises(ValueError, match=rf"^SketchRNNConfig.{field}={value}: must be at most "):
        SketchRNNConfig.from_dict(raw)


def test_wae_and_alexnet_sizes_are_bounded_too():
    from common.scorer.configs import AlexNetConfig
    from common.limits import FIELD_BOUNDS
    for cls, field, value in [(wae_configs.WAEConfig, "image_size", 2**20),
                              (wae_configs.WAEConfig, "encoder_channels", [8, 32, 128, 256, 10**6]),
                              (wae_configs.WAEConfig, "content_dim", 10**6),
                              (AlexNetConfig, "dense_units", [1024, 10**7]),
                              (AlexNetConfig, "tfds_max_examples", 10**12)]:
        raw = dict(cls.testing().to_dict(), **{field: value})
        with pytest.raises(ValueError, match=rf"{cls.__name__}.{field}=.*: must be at most "
                                             rf"{FIELD_BOUNDS[field]:,}$"):
            cls.from_dict(raw)
    for cls in (wae_configs.WAEConfig, AlexNetConfig):
        for name in cls.PRESETS:  # Every preset is within the bounds.
            cls.preset(name)


def test_a_workdir_config_json_with_absurd_sizes_is_a_one_line_error(tmp_path):
    import json

    from common.errors import DataError
    from sketch_rnn.configs import SketchRNNConfig
    from sketch_rnn.pretrained import read_workdir_config
    for field, value in [("batch_size", 10**9), ("num_steps", 10**15)]:
        path = tmp_path / "config.json"
        path.write_text(json.dumps(dict(SketchRNNConfig.testing().to_dict(), **{field: value})))
        with pytest.raises(DataError) as err:
            read_workdir_config(tmp_path)
        assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)
        assert f"SketchRNNConfig.{field}={value}: must be at most" in str(err.value)


@dataclasses.dataclass(frozen=True)
class Declared(config_utils.TrainingConfig):
    kind: str = config_utils.field("a", choices=("a", "b"))
    rate: float = config_utils.field(0.5, gt=0, le=1)
    share: float = config_utils.field(0.0, ge=0, lt=1)
    sizes: tuple[int, ...] = config_utils.field((1, 2), ge=1, length=2)
    batch_size: int = 7  # A new default; the declared check (>= 1) stays.
    resolved: str = ""

    def validate(self, fail):
        if self.kind == "b" and self.share == 0:
            fail("share", "must be > 0 for kind b")

    def resolve(self):
        object.__setattr__(self, "resolved", self.kind.upper())


def test_declared_checks_name_the_field_and_the_rule():
    assert Declared().batch_size == 7 and Declared().resolved == "A"
    assert Declared(kind="b", share=0.5).resolved == "B"
    for bad, match in [(dict(kind="c"), r"^Declared.kind='c': must be one of \('a', 'b'\)$"),
                       (dict(rate=0.0), r"^Declared.rate=0.0: must be in \(0, 1\]$"),
                       (dict(rate=1.5), r"must be in \(0, 1\]"),
                       (dict(share=1.0), r"^Declared.share=1.0: must be in \[0, 1\)$"),
                       (dict(sizes=(1, 0)), r"^Declared.sizes=\(1, 0\): must be a positive integer$"),
                       (dict(sizes=(1, 2, 3)), "need 2 values"),
                       (dict(batch_size=0), r"^Declared.batch_size=0: must be a positive integer$"),
                       (dict(num_steps=-1), r"^Declared.num_steps=-1: must be >= 0$"),
                       (dict(strategy="tpu"), "must be one of"),
                       (dict(max_grad_norm=-1.0), "must be >= 0"),
                       (dict(kind="b"), "must be > 0 for kind b")]:
        with pytest.raises(ValueError, match=match):
            Declared(**bad)


def test_every_model_config_shares_the_training_fields():
    from common.scorer.configs import AlexNetConfig
    from sketch_rnn.configs import SketchRNNConfig

    shared = {f.name for f in dataclasses.fields(config_utils.TrainingConfig)}
    for cls in (SketchRNNConfig, wae_configs.WAEConfig, AlexNetConfig):
        assert issubclass(cls, config_utils.TrainingConfig)
        assert shared <= {f.name for f in dataclasses.fields(cls)}
        assert config_utils._declared(cls)["strategy"]["choices"] is config_utils.STRATEGIES
        with pytest.raises(ValueError, match=f"{cls.__name__}.save_every=0: must be a positive"):
            dataclasses.replace(cls.testing(), save_every=0)
