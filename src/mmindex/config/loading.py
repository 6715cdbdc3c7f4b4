"""Building the settings at the boundary: :func:`load_settings` (every bad value one
:class:`~mmindex.errors.ConfigError` saying where it came from) and :func:`value_sources`."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from mmindex.config.settings import Settings
from mmindex.config.sources import explain, unreadable
from mmindex.config.sources import value_sources as sources_of
from mmindex.errors import ConfigError


def load_settings(**overrides: Any) -> Settings:
    """The settings from the file and the environment, with the non-None ``overrides`` (flags).

    Raises:
        ConfigError: a value is invalid or a key unknown; the message names where it came from
            (flag, variable or file) and what to do.
    """
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigError(explain(exc, {}, list(Settings.model_fields))) from None
    except (SettingsError, ValueError, OSError) as exc:  # a malformed file, a non-JSON variable
        raise ConfigError(unreadable(exc)) from None
    return settings.with_overrides(**overrides)


def value_sources(flags: dict[str, Any] | None = None) -> dict[str, str]:
    """Where each setting's value comes from: ``flag``, ``environment (MMINDEX_X)``,
    ``file (PATH)`` or ``default`` (highest first, as :class:`Settings` resolves them)."""
    return sources_of(Settings.model_fields, flags)
