"""Where settings come from: the settings file, and which source decided each value.

Nothing here knows the fields of :class:`~mmindex.config.Settings`: callers pass their names, so
the settings class can use these helpers without an import cycle.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import TomlConfigSettingsSource

FILE_NAME = "mmindex.toml"
DEFAULT_DB = ".mmindex/db"


def config_file() -> Path:
    """The settings file: ``$MMINDEX_CONFIG``, else the nearest ``mmindex.toml`` in the working
    directory or a folder above it (as git finds ``.git``: a notebook started in
    ``notebooks/`` finds the project's file); ``mmindex.toml`` in the working directory when
    there is none."""
    if "MMINDEX_CONFIG" in os.environ:
        return Path(os.environ["MMINDEX_CONFIG"])
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / FILE_NAME).is_file():
            return folder / FILE_NAME
    return Path(FILE_NAME)


def anchored_db(db: str, folder: Path) -> str:
    """``db`` from a settings file in ``folder``: a relative local path is relative to the
    file's folder, not to the working directory (URIs and absolute paths are kept)."""
    if "://" in db or Path(db).expanduser().is_absolute():
        return db
    return str(folder.resolve() / db)


class ProjectToml(TomlConfigSettingsSource):
    """The settings file's values, its relative ``db`` (or the default's, when the file names
    none) resolved against the file's folder."""

    def _read_file(self, file_path: Path) -> dict[str, Any]:
        data = super()._read_file(file_path)
        db = data.get("db", DEFAULT_DB)
        if isinstance(db, str):
            data["db"] = anchored_db(db, Path(file_path).parent)
        return data


def file_keys() -> dict[str, Any]:
    path = config_file()
    if not (path.is_file() and path.suffix == ".toml"):
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def value_sources(names: Iterable[str], flags: dict[str, Any] | None = None
                  ) -> dict[str, str]:
    """Where each setting's value comes from: ``flag``, ``environment (MMINDEX_X)``,
    ``file (PATH)`` or ``default`` (highest first, as :class:`Settings` resolves them)."""
    flags = {k for k, v in (flags or {}).items() if v is not None}
    in_file = file_keys()
    out = {}
    for name in names:
        var = f"MMINDEX_{name.upper()}"
        if name in flags:
            out[name] = "flag"
        elif var in os.environ:
            out[name] = f"environment ({var})"
        elif name in in_file:
            out[name] = f"file ({config_file()})"
        else:
            out[name] = "default"
    return out


def secret_option(name: str) -> bool:
    """A storage option whose value is a credential (not e.g. ``endpoint_url`` or ``region``)."""
    return any(w in name.lower() for w in ("secret", "token", "password", "key", "credential",
                                           "sas", "signature"))


def unreadable(exc: Exception) -> str:
    """The message for settings that cannot even be parsed: a malformed settings file, or a
    list/dict variable that is not JSON (pydantic-settings' ``SettingsError``)."""
    import re

    field = re.search(r'field "(\w+)" from source "EnvSettingsSource"', str(exc))
    if field:
        var = f"MMINDEX_{field.group(1).upper()}"  # its value is not echoed: it may be secret
        return (f"{var} is not valid JSON, and this setting is a list or a table. Help: give it "
                f"as JSON, e.g. {var}='[\"/data/images\"]' for a list or "
                f"'{{\"key\": \"value\"}}' for a table (`mmindex config --markdown` shows its "
                "type).")
    text = " ".join(str(exc).split())
    return (f"cannot read the settings file {config_file()}: {text[:300]}. Help: fix the TOML "
            "(https://toml.io), or point MMINDEX_CONFIG at another file.")


def explain(exc: ValidationError, flags: dict[str, Any], names: list[str]) -> str:
    """One line per invalid value, naming its source, then one Help line."""
    sources = value_sources(names, flags)
    lines = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "?"
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(name, names, n=1)
            lines.append(f"unknown setting {name!r} in {config_file()}"
                         + (f" (did you mean {close[0]!r}?)" if close else ""))
        else:
            where = sources.get(name, "?")
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{name}={err.get('input')!r} from {where}: {msg}")
    return ("; ".join(lines) + ". Help: `mmindex config --markdown` lists every setting, its "
            "type and default; `mmindex config` shows where each value comes from.")
