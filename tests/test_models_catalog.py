"""`mmindex models`: every spec the registry knows, what it embeds, and whether it is here."""

from __future__ import annotations

import json

from mmindex.backends import ALIASES
from mmindex.backends.catalog import CATALOG, ModelInfo
from mmindex.cli.main import main


def _models(capsys, *args: str) -> list[dict]:
    assert main(["models", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_lists_every_alias_with_its_capabilities(capsys):
    rows = {r["spec"]: r for r in _models(capsys, "--all")}
    assert set(ALIASES) <= set(rows)
    clip, siglip, qwen = rows["tiny-clip"], rows["tiny-siglip"], rows["qwen3-vl-embedding-2b"]
    assert clip["supports"] == ["text", "image"] and clip["two_tower"] and clip["full_dims"] == 24
    assert siglip["family"] == "siglip" and siglip["full_dims"] == 32
    assert qwen["supports"] == ["text", "image", "video"] and 1024 in qwen["matryoshka"]
    assert clip["weights"] == "built offline on first use"
    assert rows["all-minilm-l6-v2"]["weights"].startswith("present")
    assert rows["clip-vit-b-32"]["weights"].startswith("absent")  # nothing downloaded here
    assert "hash" not in {r["spec"] for r in _models(capsys)}


def test_a_new_family_only_adds_rows(capsys, monkeypatch):
    """Another family (e.g. a multi-vector one) is a catalogue row plus an alias: no code."""
    import mmindex.backends.catalog as catalog

    row = ModelInfo("tiny-colthing", "colthing", ("text", "image"), 128, multi_vector=True)
    monkeypatch.setitem(ALIASES, "tiny-colthing", ("colthing", "tiny"))
    monkeypatch.setattr(catalog, "CATALOG", CATALOG + (row,))
    monkeypatch.setitem(catalog.BY_SPEC, row.spec, row)
    got = {r["spec"]: r for r in _models(capsys)}["tiny-colthing"]
    assert got["supports"] == ["text", "image", "multi-vector"] and got["full_dims"] == 128
    # an alias without a row is still listed, its capabilities unknown
    monkeypatch.setitem(ALIASES, "mystery", ("sentence-transformers", "org/mystery"))
    mystery = {r["spec"]: r for r in _models(capsys)}["mystery"]
    assert mystery["supports"] == ["?"] and mystery["full_dims"] is None


def test_human_table(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "tiny-siglip" in out and "text/image/video" in out and "matryoshka dims" in out
