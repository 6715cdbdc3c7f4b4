"""The README's configuration reference, generated from :class:`mmindex.config.Settings`.

``mmindex config --markdown`` prints it; a test keeps the README's copy identical, so the
defaults live in one place (the code) and the prose never drifts from them.
"""

from __future__ import annotations

import json
from typing import Any

from mmindex.config import Settings

BEGIN, END = "<!-- config-table:begin -->", "<!-- config-table:end -->"


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if isinstance(value, dict | list):
        return "`" + json.dumps(value, separators=(", ", ": ")) + "`"
    return f"`{value}`"


def config_table() -> str:
    """Markdown table: setting, environment variable, default, meaning."""
    rows = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = "`~/.cache/mmindex`" if name == "cache_dir" else _default(field)
        desc = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{name}` | `MMINDEX_{name.upper()}` | {default} | {desc} |")
    return "\n".join([BEGIN, *rows, END])


def effective(settings: Settings, sources: dict[str, str]) -> dict[str, Any]:
    """Every setting's value and where it came from, plus the settings file in force."""
    from mmindex.config import config_file
    from mmindex.errors import redact

    path = config_file()
    values = {k: redact(v) if isinstance(v, str) else
              [redact(x) if isinstance(x, str) else x for x in v] if isinstance(v, list) else v
              for k, v in settings.model_dump(mode="json").items()}
    return {"file": str(path.resolve()) if path.is_file() else None,
            "settings": {k: {"value": values[k], "source": sources[k]} for k in values}}


def effective_text(info: dict[str, Any]) -> str:
    """:func:`effective` for a terminal: one ``name = value  (source)`` line per setting."""
    head = (f"# settings file: {info['file']}" if info["file"] else
            "# no settings file (no mmindex.toml here or above, MMINDEX_CONFIG "
            "unset): defaults and MMINDEX_* variables")
    width = max(len(k) for k in info["settings"])
    lines = [f"{k:<{width}} = {json.dumps(v['value'], ensure_ascii=False)}  ({v['source']})"
             for k, v in info["settings"].items()]
    return "\n".join([head, *lines])
