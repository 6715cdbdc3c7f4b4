"""The jina backend: remote code runs only from an allowed local folder, through Jina's API.

The model folder is a tiny custom-code model written for these tests
(src/mmindex/backends/twins/jina_remote, also the ``--like`` fixtures' code: a config
and a modelling file named by ``auto_map``, with jina-clip-v2's and jina-embeddings-v4's
``encode_text`` / ``encode_image`` shapes); its vectors are checked against calling that code
directly.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmindex.backends import embed_items, load_embedder
from mmindex.config import Settings
from mmindex.errors import ConfigError, ModelUnavailableError
from mmindex.items import Item

REPO = Path(__file__).resolve().parents[1]
CODE = REPO / "src/mmindex/backends/twins/jina_remote"  # the tiny remote code of the twins
FROG = str(REPO / "data/sample/images/animals_frog.png")
OWL = str(REPO / "data/sample/images/animals_owl.png")


def build(folder: Path, cls: str) -> Path:
    """A custom-code model folder: config.json with auto_map, the code, random weights."""
    folder.mkdir(parents=True)
    for f in CODE.glob("*.py"):
        shutil.copy(f, folder / f.name)
    config = {"model_type": "tiny_jina", "architectures": [cls], "vocab_size": 257, "dim": 24,
              "image_side": 8, "auto_map": {
                  "AutoConfig": "configuration_tiny_jina.TinyJinaConfig",
                  "AutoModel": f"modeling_tiny_jina.{cls}"}}
    (folder / "config.json").write_text(json.dumps(config))
    module = _direct(folder)
    with torch.random.fork_rng():
        torch.manual_seed(7)
        model = getattr(module, cls)(module.TinyJinaConfig(**{
            k: v for k, v in config.items() if k not in ("model_type", "architectures")}))
    model.save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps(config))  # keep exactly our auto_map
    return folder


def _direct(folder: Path):
    """Import the folder's own modelling code as a package, without transformers' loader."""
    sys.path.insert(0, str(folder.parent))
    try:
        return importlib.import_module(f"{folder.name}.modeling_tiny_jina")
    finally:
        sys.path.remove(str(folder.parent))


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("allowed")
    return {"clip": build(root / "tiny_jina_clip", "TinyJinaClip"),
            "v4": build(root / "tiny_jina_v4", "TinyJinaV4")}


def test_a_folder_not_allowed_is_refused_before_its_code_runs(tmp_path, monkeypatch):
    log = tmp_path / "imports.log"
    monkeypatch.setenv("TINY_JINA_IMPORT_LOG", str(log))
    folder = build(tmp_path / "tiny_jina_refused", "TinyJinaClip")
    log.unlink()  # building imported it directly; from here on nothing may
    for allowed in ([], [str(tmp_path / "elsewhere")]):
        with pytest.raises(ConfigError, match="not an allowed folder.*trust_remote_code_dirs"):
            load_embedder(f"jina:{folder}", device="cpu", reuse=False,
                          settings=Settings(trust_remote_code_dirs=allowed))
    assert not log.exists()  # the model's code never ran
    # a symlink inside an allowed folder does not allow what it points to
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "link").symlink_to(folder)
    with pytest.raises(ConfigError, match="not an allowed folder"):
        load_embedder(f"jina:{allowed / 'link'}", device="cpu", reuse=False,
                      settings=Settings(trust_remote_code_dirs=[str(allowed)]))
    assert not log.exists()


def test_missing_folder_or_code_is_a_clear_model_error(tmp_path):
    with pytest.raises(ModelUnavailableError, match="not in the local Hugging Face cache"):
        load_embedder("jina-clip-v2", device="cpu", reuse=False,
                      settings=Settings(trust_remote_code_dirs=[str(tmp_path)]))
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelUnavailableError, match="no auto_map"):
        load_embedder(f"jina:{plain}", device="cpu", reuse=False,
                      settings=Settings(trust_remote_code_dirs=[str(tmp_path)]))
    (plain / "config.json").write_text(
        '{"auto_map": {"AutoModel": "modeling_gone.Model"}}')
    with pytest.raises(ModelUnavailableError, match="modeling_gone.py is not in"):
        load_embedder(f"jina:{plain}", device="cpu", reuse=False,
                      settings=Settings(trust_remote_code_dirs=[str(tmp_path)]))
    # allowed, but its code needs a package this environment lacks (jina-embeddings-v4: peft)
    needs = build(tmp_path / "tiny_jina_needs", "TinyJinaClip")
    code = needs / "modeling_tiny_jina.py"
    code.write_text("import mmindex_no_such_package  # noqa\n" + code.read_text())
    with pytest.raises(ModelUnavailableError, match="mmindex_no_such_package"):
        load_embedder(f"jina:{needs}", device="cpu", reuse=False,
                      settings=Settings(trust_remote_code_dirs=[str(tmp_path)]))


def _unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@pytest.mark.parametrize("shape", ["clip", "v4"])
def test_vectors_equal_the_models_own_code(models, shape):
    folder = models[shape]
    settings = Settings(trust_remote_code_dirs=[str(folder.parent)])
    emb = load_embedder(f"jina:{folder}", device="cpu", reuse=False, settings=settings)
    items = [Item("t", "A frog."), Item("i", "", images=(FROG,)),
             Item("ti", "an owl", images=(OWL,)), Item("ii", "", images=(FROG, OWL))]
    direct = getattr(_direct(folder), "TinyJinaClip" if shape == "clip" else "TinyJinaV4")
    model = direct.from_pretrained(str(folder)).eval()

    def text(t, role):
        if shape == "v4":
            return model.encode_text(texts=[t], task="retrieval",
                                     prompt_name="query" if role == "query" else "passage")[0]
        return model.encode_text([t], task="retrieval.query" if role == "query" else None)[0]

    def image(p):
        from PIL import Image

        rgba = Image.open(p).convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        out = model.encode_image([white], **({"task": "retrieval"} if shape == "v4" else {}))
        return np.asarray(out[0], dtype=np.float32)

    for role in ("document", "query"):
        got = embed_items(emb, items, role=role)
        want = _unit([
            _unit(text("A frog.", role)), _unit(image(FROG)),
            _unit((_unit(text("an owl", role)) + _unit(image(OWL))) / 2),
            _unit((_unit(image(FROG)) + _unit(image(OWL))) / 2)])
        cos = (got * want).sum(1)
        assert cos.min() >= 0.999999, (shape, role, cos)
    assert emb.full_dims == 24 and emb.fingerprint()["api"] == ("v4" if shape == "v4" else
                                                                "clip-v2")
    q, d = embed_items(emb, [Item("q", "A frog.")], role="query"), embed_items(emb, items[:1])
    assert float((q * d).sum()) < 0.9999  # the query task changes the text vector


def _linked(folder: Path, source: Path, link: dict[str, Path]) -> Path:
    """A real model folder: ``source``'s files copied, except those in ``link`` (name ->
    target), which are symlinks."""
    folder.mkdir(parents=True)
    for f in source.iterdir():
        if f.name not in link:
            shutil.copy(f, folder / f.name)
    for name, target in link.items():
        (folder / name).symlink_to(target)
    return folder


def test_every_code_file_must_resolve_inside_an_allowed_folder(tmp_path, monkeypatch):
    """Symlinked code files, a symlinked helper module, ``../`` and absolute ``auto_map``
    modules and a look-alike sibling folder are refused before any of their code runs; links
    that stay inside the allowed folder load."""
    log = tmp_path / "imports.log"
    monkeypatch.setenv("TINY_JINA_IMPORT_LOG", str(log))
    outside = build(tmp_path / "outside" / "tiny_jina_src", "TinyJinaClip")
    log.unlink()
    allowed = tmp_path / "allowed"
    settings = Settings(trust_remote_code_dirs=[str(allowed)])
    code = {f.name: f for f in outside.glob("*.py")}

    def refused(folder: Path, says: str) -> None:
        with pytest.raises(ConfigError, match=says):
            load_embedder(f"jina:{folder}", device="cpu", reuse=False, settings=settings)
        assert not log.exists(), folder  # the outside code never ran

    # 1. a real folder whose .py files are symlinks to code elsewhere
    refused(_linked(allowed / "links", outside, code), "a link to .*outside")
    # 2. the auto_map module is real; the module it imports (from .configuration_...) is a link
    cfg = "configuration_tiny_jina.py"
    refused(_linked(allowed / "config_link", outside, {cfg: code[cfg]}), "a link to .*outside")
    # 3. a helper module it imports (from .helper import ...), symlinked outside
    helper = tmp_path / "outside" / "helper.py"
    helper.write_text("import os\nos.environ['HELPER_RAN'] = '1'\nHELPER = 1\n")
    folder = _linked(allowed / "helper_link", outside, {"helper.py": helper})
    model = folder / "modeling_tiny_jina.py"
    model.write_text("from .helper import HELPER  # noqa\n" + model.read_text())
    refused(folder, "helper.py")
    # 4. auto_map naming a module by ../ or by an absolute path
    for name, module in (("dotdot", "../../outside/tiny_jina_src/modeling_tiny_jina"),
                         ("absolute", str(outside / "modeling_tiny_jina"))):
        folder = _linked(allowed / name, outside, {})
        config = json.loads((folder / "config.json").read_text())
        config["auto_map"]["AutoModel"] = f"{module}.TinyJinaClip"
        (folder / "config.json").write_text(json.dumps(config))
        refused(folder, "not an allowed folder")
    # 4b. a tokenizer module named by tokenizer_config.json's auto_map, symlinked outside
    tok = tmp_path / "outside" / "tokenization_evil.py"
    tok.write_text("import os\nos.environ['HELPER_RAN'] = '1'\n")
    folder = _linked(allowed / "tokenizer_link", outside, {"tokenization_evil.py": tok})
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"auto_map": {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}}))
    refused(folder, "tokenization_evil.py")
    # 5. a look-alike sibling of the allowed folder
    refused(_linked(tmp_path / "allowed-evil" / "m", outside, {}), "not an allowed folder")
    assert "HELPER_RAN" not in __import__("os").environ
    # links that stay inside the allowed folders load
    shared = _linked(allowed / "shared_code", outside, {})
    inner = _linked(allowed / "inner_links", outside, {n: shared / n for n in code})
    emb = load_embedder(f"jina:{inner}", device="cpu", reuse=False, settings=settings)
    assert embed_items(emb, [Item("t", "A frog.")]).shape == (1, 24)


@pytest.mark.parametrize("config", ['[1, 2]', '{"auto_map": ["modeling.X"]}',
                                    '{"auto_map": {"AutoModel": 5}}', '{"auto_map": "m.X"}',
                                    '{"auto_map": {"AutoModel": "nodot"}}', '{"auto_map": '])
def test_a_malformed_config_json_is_a_clear_model_error(tmp_path, config):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "config.json").write_text(config)
    with pytest.raises(ModelUnavailableError, match="config.json"):
        load_embedder(f"jina:{folder}", device="cpu", reuse=False,
                      settings=Settings(trust_remote_code_dirs=[str(tmp_path)]))
