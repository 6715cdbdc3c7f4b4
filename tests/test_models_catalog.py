"""Model families as the unit of registration: `mmindex models` lists every alias the family
records declare, `--resolve` routes the model cards' hub ids right, and a new family is one
file (a plug-in module named by the ``mmindex.families`` entry point) that then embeds."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from mmindex.backends import ALIASES
from mmindex.cli.main import main

# the hub ids on the model cards, and the family each must route to (issue 21)
ROUTES = {
    "jinaai/jina-clip-v2": "jina",
    "jinaai/jina-embeddings-v4": "jina",
    "Alibaba-NLP/gme-Qwen2-VL-2B-Instruct": "vlm",
    "TIGER-Lab/VLM2Vec-Qwen2VL-2B": "vlm",
    "Qwen/Qwen3-VL-Reranker-2B": "qwen3-vl-reranker",
    "Qwen/Qwen3-VL-Embedding-2B": "qwen3-vl",
    "vidore/colpali-v1.3": "colpali",
    "vidore/colqwen2-v1.0": "colqwen2",
    "openai/clip-vit-base-patch32": "clip",
    "google/siglip-base-patch16-224": "siglip",
    "intfloat/multilingual-e5-large": "sentence-transformers",
    "BAAI/bge-m3": "sentence-transformers",
    "intfloat/multilingual-e5-small": "sentence-transformers",  # not the packaged 4-bit one
}


def _json(capsys, *args: str):
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_lists_every_alias_with_its_capabilities(capsys):
    rows = {r["spec"]: r for r in _json(capsys, "models", "--all")}
    assert set(ALIASES) <= set(rows)
    clip, siglip, qwen = rows["tiny-clip"], rows["tiny-siglip"], rows["qwen3-vl-embedding-2b"]
    assert clip["supports"] == ["text", "image"] and clip["two_tower"] and clip["full_dims"] == 24
    assert siglip["family"] == "siglip" and siglip["full_dims"] == 32
    assert qwen["supports"] == ["text", "image", "video"] and 1024 in qwen["matryoshka"]
    assert rows["tiny-colpali"]["supports"] == ["text", "image", "multi-vector"]
    assert clip["weights"] == "built offline on first use"
    assert rows["all-minilm-l6-v2"]["weights"].startswith("present")
    assert rows["clip-vit-b-32"]["weights"].startswith("absent")  # nothing downloaded here
    assert "hash" not in {r["spec"] for r in _json(capsys, "models")}
    assert "qwen3-vl-reranker-2b" not in rows  # a reranker, listed as such below the table


@pytest.mark.parametrize("hub_id", sorted(ROUTES))
def test_the_model_cards_hub_ids_route_to_their_family(capsys, hub_id):
    got = _json(capsys, "models", "--resolve", hub_id)
    assert got["family"] == ROUTES[hub_id], got
    assert got["why"]
    if got["family"] == "vlm":
        assert got["detail"].startswith("recipe ")


def test_a_reranker_id_is_not_taken_for_an_embedder():
    from mmindex.backends import parse_reranker, parse_spec
    from mmindex.errors import ConfigError

    with pytest.raises(ConfigError, match="reranker.*--rerank"):
        parse_spec("Qwen/Qwen3-VL-Reranker-2B")
    assert parse_reranker("Qwen/Qwen3-VL-Reranker-2B") == "Qwen/Qwen3-VL-Reranker-2B"


PLUGIN = '''
"""A family in one file: the test's plug-in (hashed vectors of 48 dims)."""
from mmindex.backends.family import Family, Model


def _build(request):
    from mmindex.backends.fake import HashEmbedder

    class Wide(HashEmbedder):
        backend = "widehash"
        model_id = request.model_id
        full_dims = 48

    return Wide()


FAMILY = Family(name="widehash", build=_build, prefixes=("widehash",),
                hub_ids=("example-org/widehash-*",),
                models=(Model("widehash-base", "example-org/widehash-base",
                              ("text", "image"), 48),))
'''


def test_a_new_family_is_one_file_and_embeds(tmp_path, capsys, monkeypatch):
    from mmindex.backends import family

    site = tmp_path / "site"
    (site / "widehash_family-0.1.dist-info").mkdir(parents=True)
    (site / "widehash_family.py").write_text(textwrap.dedent(PLUGIN))
    dist = site / "widehash_family-0.1.dist-info"
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: widehash-family\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[mmindex.families]\nwidehash = widehash_family\n")
    monkeypatch.syspath_prepend(str(site))
    family.reload()
    try:
        rows = {r["spec"]: r for r in _json(capsys, "models")}
        assert rows["widehash-base"]["family"] == "widehash"
        assert rows["widehash-base"]["full_dims"] == 48
        assert _json(capsys, "models", "--resolve", "example-org/widehash-large")["family"] \
            == "widehash"
        db = tmp_path / "db"
        manifest = tmp_path / "m.jsonl"
        manifest.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n"
                                    for i, t in enumerate(["a penguin", "a violin", "a cello"])))
        assert main(["embed", str(manifest), "--index", "w", "--model", "widehash-base",
                     "--db", str(db), "--no-prefect"]) == 0
        capsys.readouterr()
        from mmindex import index as ix
        from mmindex.config import Settings
        from mmindex.search import latest_candidate

        _, version = latest_candidate(ix.connect(Settings(db=str(db))), "w")
        hits = _json(capsys, "search", "--index", "w", "--db", str(db), "a violin", "-k", "1",
                     "--mode", "vector", "--version", str(version))
        assert hits["results"][0]["id"] == "d1"
    finally:
        sys.modules.pop("widehash_family", None)
        monkeypatch.undo()
        family.reload()
    assert "widehash-base" not in ALIASES
