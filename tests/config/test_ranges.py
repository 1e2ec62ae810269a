"""Every numeric setting, in every section (also those added later), refuses inf and nan and states a finite
range; a value outside it is one line naming the variable (issue 13: `MONITOR_SECONDS=inf`, `SIM_SPEED=inf`,
`PAPER_MASTER_BALANCE=inf` were accepted)."""

from __future__ import annotations

import math
import types
import typing
from typing import Any

import annotated_types as at
import pytest
from pydantic.fields import FieldInfo

from bot.config.errors import ConfigError
from bot.config.sections.base import SettingsSection
from bot.config.settings import Settings, env_name, load_settings


def _numeric_parts(annotation: Any, metadata: list[Any]) -> list[tuple[type, list[Any]]]:
    """(int or float, its constraints) for a field's numbers: plain, optional, or the items of a tuple."""
    if annotation in (int, float):
        return [(annotation, metadata)]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        constraints = [m for e in extra for m in (e.metadata if isinstance(e, FieldInfo) else [e])]
        return _numeric_parts(inner, constraints)
    if origin in (typing.Union, types.UnionType):
        return [part for arg in typing.get_args(annotation) for part in _numeric_parts(arg, metadata)]
    if origin is tuple:
        return [part for arg in typing.get_args(annotation) if arg is not Ellipsis
                for part in _numeric_parts(arg, [])]
    return []


def numeric_settings() -> list[tuple[str, type, list[Any]]]:
    found = []
    for section in Settings.model_fields.values():
        model = section.annotation
        assert isinstance(model, type)
        for field_name, field in model.model_fields.items():
            for kind, constraints in _numeric_parts(field.annotation, list(field.metadata)):
                found.append((env_name(field_name, field), kind, constraints))
    return found


NUMERIC = numeric_settings()
NAMES = sorted({name for name, _, _ in NUMERIC})


def test_every_section_uses_the_shared_base() -> None:
    for name, section in Settings.model_fields.items():
        assert isinstance(section.annotation, type) and issubclass(section.annotation, SettingsSection), name


def test_the_walk_finds_the_numbers_of_every_section() -> None:
    """The test below is only as good as this walk: it must see plain, optional and tuple numbers."""
    assert {"MONITOR_SECONDS", "SIM_SPEED", "PAPER_MASTER_BALANCE", "SIM_SEED"} <= set(NAMES)
    assert "KRAKEN_RATE_COUNTER_MAX" in NAMES  # float | None
    assert "PAPER_FOLLOWER_BALANCES" in NAMES  # tuple of floats
    assert len(NAMES) > 60


@pytest.mark.parametrize(("name", "kind", "constraints"), NUMERIC, ids=[n for n, _, _ in NUMERIC])
def test_every_numeric_setting_states_a_finite_range(name: str, kind: type, constraints: list[Any]) -> None:
    lows = [getattr(c, "ge", getattr(c, "gt", None)) for c in constraints if isinstance(c, at.Ge | at.Gt)]
    highs = [getattr(c, "le", getattr(c, "lt", None)) for c in constraints if isinstance(c, at.Le | at.Lt)]
    assert lows and highs, f"{name} needs a lower and an upper bound (Field(ge=..., le=...))"
    assert all(math.isfinite(float(v)) for v in lows + highs), name


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e308", "-1e308"])
def test_non_finite_or_absurd_numbers_are_one_line_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value}, env_file=None)
    message = str(caught.value)
    assert message.startswith(f"{name}={value!r}:") and "\n" not in message, message


@pytest.mark.parametrize(("name", "value"), [("MONITOR_SECONDS", "inf"), ("SIM_SPEED", "inf"),
                                             ("PAPER_MASTER_BALANCE", "inf"), ("PAPER_FOLLOWER_BALANCES", "400,nan")])
def test_the_values_the_issue_found_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value}, env_file=None)
    assert "finite" in str(caught.value) and "expected" in str(caught.value)


def test_a_section_added_later_gets_the_rule_without_asking() -> None:
    from pydantic import Field, ValidationError

    class Later(SettingsSection):
        seconds: float = Field(1.0, gt=0, le=10)

    with pytest.raises(ValidationError, match="finite"):
        Later.model_validate({"seconds": "nan"})
