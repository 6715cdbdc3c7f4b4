"""The README stays true to the code: its configuration table is the one the code generates."""

from __future__ import annotations

from pathlib import Path

from mmindex.cli.configdoc import config_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_configuration_reference_matches_settings():
    assert config_table() in README.read_text(), (
        "README's configuration table is stale: paste the output of `mmindex config --markdown`"
    )


def test_readme_test_command_is_what_ci_runs():
    ci = (README.parent / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in README.read_text() and "bash scripts/test.sh" in ci
