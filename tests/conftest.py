"""Shared fixtures: real small things (tiny Qwen3-VL built offline, LanceDB on tmp dirs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# tests choose their settings explicitly: the checkout's mmindex.toml (sample-data defaults) must
# not leak into them; tests of the config file set MMINDEX_CONFIG themselves
os.environ["MMINDEX_CONFIG"] = os.devnull

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight Qwen3-VL-Embedding checkpoint built offline once per test session."""
    from mmindex.backends.twins.qwen3vl import build_tiny_model

    out = tmp_path_factory.mktemp("tiny-qwen3-vl")
    build_tiny_model(out, shape="tiny")
    return out


def pytest_report_header(config: pytest.Config) -> str:
    """One plain line: is this run in a loopback-only network namespace (scripts/isolated.sh)?"""
    from bench import netns

    if netns.isolated():
        return "network: isolated (a namespace with only loopback: scripts/isolated.sh)"
    return f"network: NOT ISOLATED: {netns.why_not()}"

