"""The config base of every model: dict round trip, presets, "field=value" overrides; no TF."""

import dataclasses
import typing

from common import limits

STRATEGIES = ("default", "mirrored", "multi_worker")  # tf.distribute by flag (strategies.py).
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def coerce(kind, value, name, fail):
    """Checks `value` against a scalar field type; ints are accepted for floats.

    Args:
      kind: the field's type (bool, int, float or str).
      value: the value to check.
      name: the field name, for the message.
      fail: (name, why) -> raises; the config's own error reporter.
    """
    if kind is bool:
        if not isinstance(value, bool):
            fail(name, "must be a bool")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            fail(name, "must be an int")
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(name, "must be a number")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            fail(name, "must be a string")
        return value
    raise TypeError(f"unsupported field type {kind} for {name}")


def coerce_fields(config, fail):
    """Coerces every field of a frozen dataclass in place (JSON lists become tuples) and bounds
    its sizes (common.limits.FIELD_BOUNDS)."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value, kind = getattr(config, f.name), hints[f.name]
        if typing.get_origin(kind) is tuple:
            if isinstance(value, str) or not isinstance(value, (tuple, list)):
                fail(f.name, "must be a tuple")
            elem = typing.get_args(kind)[0]
            value = tuple(coerce(elem, v, f.name, fail) for v in value)
        else:
            value = coerce(kind, value, f.name, fail)
        bound = limits.FIELD_BOUNDS.get(f.name)
        if bound is not None and any(v > bound for v in (value if isinstance(value, tuple)
                                                          else (value,))):
            fail(f.name, f"must be at most {bound:,}")  # A size that would exhaust memory.
        object.__setattr__(config, f.name, value)


def field(default, *, choices=None, ge=None, gt=None, le=None, lt=None, length=None):
    """A config field with its checks declared once, as metadata that ConfigBase checks.

    Args:
      default: the default value.
      choices: the allowed values.
      ge, gt, le, lt: bounds (>=, >, <=, <); a tuple field's every element is checked.
      length: the exact length of a tuple field.
    """
    checks = dict(choices=choices, ge=ge, gt=gt, le=le, lt=lt, length=length)
    return dataclasses.field(default=default,
                             metadata={k: v for k, v in checks.items() if v is not None})


def _declared(cls):
    """{field name: its checks}; a subclass that redeclares a field (a new default) keeps
    the checks of the class that declared them."""
    out = {}
    for klass in reversed(cls.__mro__):
        for f in klass.__dict__.get("__dataclass_fields__", {}).values():
            if f.metadata:
                out[f.name] = dict(f.metadata)
    return out


def _range_text(m):
    low = f"[{m['ge']:g}" if "ge" in m else f"({m['gt']:g}" if "gt" in m else None
    high = f"{m['le']:g}]" if "le" in m else f"{m['lt']:g})" if "lt" in m else None
    if low and high:
        return f"must be in {low}, {high}"
    if m.get("ge") == 1 and "lt" not in m and "le" not in m:
        return "must be a positive integer" if isinstance(m["ge"], int) else "must be >= 1"
    if low:
        return f"must be >= {m['ge']:g}" if "ge" in m else f"must be > {m['gt']:g}"
    return f"must be <= {m['le']:g}" if "le" in m else f"must be < {m['lt']:g}"


def check_declared(config, fail):
    """Checks every field against the choices, bounds and lengths declared with field()."""
    for name, m in _declared(type(config)).items():
        value = getattr(config, name)
        values = value if isinstance(value, tuple) else (value,)
        if "length" in m and len(value) != m["length"]:
            fail(name, f"need {m['length']} values")
        if "choices" in m and any(v not in m["choices"] for v in values):
            fail(name, f"must be one of {tuple(m['choices'])}")
        if any(("ge" in m and not v >= m["ge"]) or ("gt" in m and not v > m["gt"])
               or ("le" in m and not v <= m["le"]) or ("lt" in m and not v < m["lt"])
               for v in values):
            fail(name, _range_text(m))


def parse_scalar(kind, text, field):
    """Parses one override value; "1e5" is accepted for an int when it is whole."""
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"{field}: {text!r} is not a boolean (use true/false)")
    if kind is str:
        return text
    try:
        if kind is int:
            try:
                return int(text.replace("_", ""))
            except ValueError:
                value = float(text)
                if not value.is_integer():
                    raise
                return int(value)
        return float(text.replace("_", ""))
    except ValueError:
        raise ValueError(f"{field}: {text!r} is not a valid {kind.__name__}") from None


def replace_from_strings(config, overrides):
    """Returns `config` with "field=value" overrides applied (tuples are comma lists).

    Example: replace_from_strings(cfg, ["dec_rnn_size=64", "data=a.npz,b.npz",
    "conditional=false"]).

    Raises:
      ValueError: unknown field, missing "=", unparsable value, or a value that fails
        validation; the message names the field and the value.
    """
    hints = typing.get_type_hints(type(config))
    changes = {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like field=value")
        field, text = item.split("=", 1)
        field, text = field.strip(), text.strip()
        if field not in hints:
            raise ValueError(f"unknown {type(config).__name__} field {field!r} in {item!r}")
        kind = hints[field]
        if typing.get_origin(kind) is tuple:
            elem = typing.get_args(kind)[0]
            parts = [p.strip() for p in text.split(",")] if text else []
            changes[field] = tuple(parse_scalar(elem, p, field) for p in parts)
        else:
            changes[field] = parse_scalar(kind, text, field)
    return dataclasses.replace(config, **changes)


class ConfigBase:
    """Mixin of the frozen config dataclasses: checks, JSON round trip, named presets, overrides.

    A subclass lists its preset classmethods in PRESETS (e.g. ("testing", "default",
    "paper")) and declares each field's checks with field(); after construction every
    value is coerced to its type (coerce_fields), bounded (common.limits), checked against
    its declaration (check_declared), then `validate(fail)` checks what spans fields and
    `resolve()` may fill in derived values.
    """

    PRESETS = ()
    LABEL = "model"  # In messages: "unknown <LABEL> config ...".

    def __post_init__(self):
        coerce_fields(self, self._fail)  # JSON lists become tuples; types are checked.
        check_declared(self, self._fail)
        self.validate(self._fail)
        self.resolve()

    def _fail(self, name, why):
        raise ValueError(f"{type(self).__name__}.{name}={getattr(self, name)!r}: {why}")

    def validate(self, fail):
        """Checks that span several fields; fail(name, why) raises ValueError."""

    def resolve(self):
        """Fills in derived values (e.g. "auto" choices) once the fields are checked."""

    def to_dict(self):
        """A JSON-friendly dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d):
        """Inverse of to_dict; unknown keys raise ValueError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            shown = ", ".join(unknown[:5]) + (f", ... ({len(unknown)} in all)"
                                              if len(unknown) > 5 else "")
            raise ValueError(f"unknown {cls.__name__} fields: {shown}")
        return cls(**d)  # __post_init__ turns JSON lists into tuples.

    @classmethod
    def preset(cls, name, resolve=True):
        """The preset called `name` (one of PRESETS).

        resolve=False leaves what resolve() fills in (e.g. an "auto" that is measured) for
        resolved(), once overrides are applied (common.cli.build_config).
        """
        if name not in cls.PRESETS:
            raise ValueError(f"unknown {cls.LABEL} config {name!r}; choose from "
                             f"{sorted(cls.PRESETS)}")
        return getattr(cls if resolve else _unresolved_class(cls), name)()

    def resolved(self):
        """This config as its own class with resolve() applied (see preset(resolve=False))."""
        cls = getattr(type(self), "_RESOLVED_CLASS", type(self))
        return cls(**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)})

    def replace_from_strings(self, overrides):
        """This config with "field=value" overrides applied (see replace_from_strings)."""
        return replace_from_strings(self, overrides)


def _unresolved_class(cls):
    """A subclass of config class `cls` (same name, fields, checks) with a no-op resolve()."""
    return type(cls.__name__, (cls,), {"resolve": lambda self: None, "_RESOLVED_CLASS": cls,
                                       "__module__": cls.__module__, "__doc__": cls.__doc__})


@dataclasses.dataclass(frozen=True)
class TrainingConfig(ConfigBase):
    """The training fields every model shares; a model's config redeclares a field to change
    its default and keeps these checks.

    Attributes:
      batch_size: examples per step (global batch).
      num_steps: steps to train to; a larger value continues a finished run.
      save_every, eval_every, log_every: checkpoint, evaluation and progress-line periods.
      seed: the run's seed (weights, data order, sampling).
      strategy: "default", "mirrored" (all local GPUs or logical CPUs) or "multi_worker"
        (TF_CONFIG).
      max_grad_norm: a step whose global gradient norm (before clipping) is above this is
        skipped and logged, like a non-finite one (0 = off).
    """

    batch_size: int = field(64, ge=1)
    num_steps: int = field(100_000, ge=0)
    save_every: int = field(1000, ge=1)
    eval_every: int = field(1000, ge=1)
    log_every: int = field(50, ge=1)
    seed: int = field(0, ge=0)
    strategy: str = field("default", choices=STRATEGIES)
    max_grad_norm: float = field(1e5, ge=0)
