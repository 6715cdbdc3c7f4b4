"""The example notebook runs top to bottom against a small real index (all-MiniLM-L6-v2)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mmindex import index as ix
from mmindex.config import Settings
from mmindex.index import connect
from mmindex.pipeline import run_embed

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "explore_index.ipynb"


def test_example_notebook_executes(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    texts = {"p1": "Tux the penguin", "p2": "a penguin on the ice", "m1": "a guitar, a musical "
             "instrument", "m2": "drums and a trumpet", "c1": "a red car"}
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"id": k, "text": v, "topic": k[0]}) + "\n"
                                for k, v in texts.items()))
    s = Settings(db=str(tmp_path / "db"), model="all-minilm-l6-v2")
    r = run_embed(str(manifest), "sample", s)
    ix.promote(connect(s), "sample", r.table, r.version, reason="test")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("MMINDEX_DB", s.db)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=dict(os.environ))  # raises CellExecutionError on any failing cell
    outputs = "\n".join(
        o.get("text", "") + json.dumps(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert f"version {r.version}" in outputs
    assert "p1" in outputs or "p2" in outputs  # the penguin search found a penguin
