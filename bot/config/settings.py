"""The one settings object: every number and switch of the bot, read from the environment.

Sections live in ``bot.config.sections``; each field's environment variable is its
name upper-cased (or the ``env`` given in ``json_schema_extra``). ``.env`` is read
with python-dotenv from the project folder (or NIJA_HOME), never from the current
directory, and the real environment wins. Relative paths are taken from that folder too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from bot.config.errors import ConfigError
from bot.config.paths import env_file as home_env_file
from bot.config.paths import under_home
from bot.config.sections.backtest import BacktestSettings
from bot.config.sections.console import ConsoleSettings
from bot.config.sections.copy import CopySettings
from bot.config.sections.exchanges import ExchangeSettings
from bot.config.sections.general import GeneralSettings
from bot.config.sections.notify import NotifySettings
from bot.config.sections.paper import PaperSettings
from bot.config.sections.simulator import SimulatorSettings
from bot.config.sections.strategy import StrategySettings
from bot.config.sections.trader import TraderSettings
from bot.config.sections.web import WebSettings

_TRUE_WORDS = {"1", "true", "yes", "on"}
_FALSE_WORDS = {"0", "false", "no", "off"}


class Settings(BaseModel):
    """All sections together; pass this object (or one section of it) down, never read env again."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    general: GeneralSettings = GeneralSettings()
    exchanges: ExchangeSettings = ExchangeSettings()
    strategy: StrategySettings = StrategySettings()
    trader: TraderSettings = TraderSettings()
    copy_trading: CopySettings = CopySettings()
    paper: PaperSettings = PaperSettings()
    backtest: BacktestSettings = BacktestSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    web: WebSettings = WebSettings()
    notify: NotifySettings = NotifySettings()
    console: ConsoleSettings = ConsoleSettings()


_SECTIONS: dict[str, type[BaseModel]] = {
    name: field.annotation  # type: ignore[misc]
    for name, field in Settings.model_fields.items()
}


def env_name(field_name: str, field: FieldInfo) -> str:
    """The environment variable that sets one field."""
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("env"), str):
        return str(extra["env"])
    return field_name.upper()


def all_env_names() -> dict[str, tuple[str, str]]:
    """Every settings variable -> (section, field); used by .env.example checks and diagnostics."""
    names: dict[str, tuple[str, str]] = {}
    for section_name, model in _SECTIONS.items():
        for field_name, field in model.model_fields.items():
            name = env_name(field_name, field)
            if name in names:
                raise RuntimeError(f"settings variable {name} is defined twice: {names[name]} and {section_name}")
            names[name] = (section_name, field_name)
    return names


EnvFile = Path | Literal["home"] | None  # "home": NIJA_HOME/.env or the project's .env; None: no file


def resolve_env_file(env_file: EnvFile, environ: Mapping[str, str] | None = None) -> Path | None:
    return home_env_file(environ) if env_file == "home" else env_file  # type: ignore[return-value]


def read_environment(env_file: EnvFile = "home", environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The .env file's values overlaid by the real environment (the real environment wins)."""
    env_file = resolve_env_file(env_file, environ)
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    return merged


def _is_sequence(annotation: Any) -> bool:
    return "tuple" in str(annotation)


def _raw_value(name: str, raw: str, field: FieldInfo) -> Any:
    text = raw.strip()
    if name == "LIVE_TRADING":
        # docs/rules.md §1: 'true' trades live; anything else is paper. Never an error, never live by accident.
        return text.lower() == "true"
    if field.annotation is bool:
        lowered = text.lower()
        if lowered in _TRUE_WORDS:
            return True
        if lowered in _FALSE_WORDS:
            return False
        raise ConfigError(f"{name}={raw!r}: expected true or false")
    if _is_sequence(field.annotation):
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if text == "" and not field.is_required():
        return field.default
    return text


def _describe(name: str, raw: str, field: FieldInfo, error: ValidationError) -> str:
    problem = error.errors()[0].get("msg", "invalid value")
    expected = field.description or "a valid value"
    return f"{name}={raw!r}: {problem}; expected {expected}"


def _is_path(annotation: Any) -> bool:
    return annotation is Path or annotation == Path | None


def _paths_from_home(section: BaseModel, environ: Mapping[str, str] | None) -> BaseModel:
    """Every relative path setting taken from the project folder (or NIJA_HOME), whatever the current directory."""
    updates = {
        name: under_home(value, environ)
        for name, field in type(section).model_fields.items()
        if _is_path(field.annotation) and isinstance(value := getattr(section, name), Path)
    }
    return section.model_copy(update=updates) if updates else section


def load_settings(environ: Mapping[str, str] | None = None, env_file: EnvFile = "home") -> Settings:
    """Build Settings from .env and the environment; raise ConfigError with one line on a bad value."""
    env_file = resolve_env_file(env_file, environ)
    values = read_environment(env_file, environ)
    real = os.environ if environ is None else environ

    def origin(name: str) -> str:
        """Where a bad value came from, so the user knows which file to open."""
        return f" (set in {env_file})" if env_file is not None and name in values and name not in real else ""

    sections: dict[str, BaseModel] = {}
    for section_name, model in _SECTIONS.items():
        data: dict[str, Any] = {}
        raws: dict[str, tuple[str, str]] = {}
        for field_name, field in model.model_fields.items():
            name = env_name(field_name, field)
            if name in values:
                try:
                    data[field_name] = _raw_value(name, values[name], field)
                except ConfigError as error:
                    raise ConfigError(f"{error}{origin(name)}") from None
                raws[field_name] = (name, values[name])
        try:
            sections[section_name] = model.model_validate(data)
        except ValidationError as error:
            location = error.errors()[0].get("loc", ("?",))
            field_name = str(location[0])
            name, raw = raws.get(field_name, (field_name.upper(), ""))
            raise ConfigError(_describe(name, raw, model.model_fields[field_name], error) + origin(name)) from None
        sections[section_name] = _paths_from_home(sections[section_name], environ)
    return Settings(**sections)


def override(settings: Settings, section: str, field: str, value: Any, flag: str) -> Settings:
    """Settings with one field replaced by a command-line value, checked like the variable would be.

    ConfigError names the flag: `--speed inf: Input should be a finite number; expected ...`.
    """
    current = getattr(settings, section)
    model = type(current)
    try:
        updated = model.model_validate({**current.model_dump(), field: value})
    except ValidationError as error:
        problem = error.errors()[0].get("msg", "invalid value")
        raise ConfigError(f"{flag} {value}: {problem}; expected {model.model_fields[field].description}") from None
    return settings.model_copy(update={section: updated})
