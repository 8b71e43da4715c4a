"""The config base of every model: dict round trip, presets, "field=value" overrides; no TF."""

import dataclasses
import typing

from common import limits

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
    """Mixin of the frozen config dataclasses: JSON round trip, named presets, overrides.

    A subclass lists its preset classmethods in PRESETS (e.g. ("testing", "default",
    "paper")) and checks its fields in __post_init__ (see coerce_fields).
    """

    PRESETS = ()
    LABEL = "model"  # In messages: "unknown <LABEL> config ...".

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
    def preset(cls, name):
        """The preset called `name` (one of PRESETS)."""
        if name not in cls.PRESETS:
            raise ValueError(f"unknown {cls.LABEL} config {name!r}; choose from "
                             f"{sorted(cls.PRESETS)}")
        return getattr(cls, name)()

    def replace_from_strings(self, overrides):
        """This config with "field=value" overrides applied (see replace_from_strings)."""
        return replace_from_strings(self, overrides)
