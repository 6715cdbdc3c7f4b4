"""The README's configuration reference, generated from :class:`mmindex.config.Settings`.

``mmindex config --markdown`` prints it; a test keeps the README's copy identical, so the
defaults live in one place (the code) and the prose never drifts from them.
"""

from __future__ import annotations

import json

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


def effective(settings: Settings) -> str:
    return json.dumps(settings.model_dump(mode="json"), indent=2, ensure_ascii=False)
