"""jina-clip-v2 / jina-embeddings-v4 look-alikes (``--like``): their remote code is the tiny model
of ``jina_remote/`` (written for mmindex's tests, Jina's two ``encode_text`` / ``encode_image``
shapes), under the real module and class names, so ``auto_map`` reads as on the hub:

- ``jinaai/jina-embeddings-v4``: ``config.json`` (``model_type`` ``qwen2_5_vl``,
  ``architectures`` ``JinaEmbeddingsV4Model``) names ``configuration_jina_embeddings_v4`` and
  ``modeling_jina_embeddings_v4`` in the repository itself;
- ``jinaai/jina-clip-v2``: ``config.json`` (``jina_clip``, ``JinaCLIPModel``) names them in another
  repository, ``jinaai/jina-clip-implementation--configuration_clip.JinaCLIPConfig``; that one
  is built as its own look-alike (code files only) and placed beside it in a cache.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from mmindex.errors import ConfigError

CODE = Path(__file__).parent / "jina_remote"
SEED = 7
CODE_REPO = "jinaai/jina-clip-implementation"
_LAYOUTS = {  # hub id -> (code repo or None, model_type, config cls, model cls, tiny cls, modules)
    "jinaai/jina-clip-v2": (CODE_REPO, "jina_clip", "JinaCLIPConfig", "JinaCLIPModel",
                            "TinyJinaClip", ("configuration_clip", "modeling_clip")),
    "jinaai/jina-embeddings-v4": (None, "qwen2_5_vl", "JinaEmbeddingsV4Config",
                                  "JinaEmbeddingsV4Model", "TinyJinaV4",
                                  ("configuration_jina_embeddings_v4",
                                   "modeling_jina_embeddings_v4")),
}


def needs(hub_id: str) -> tuple[str, ...]:
    """The other repositories ``hub_id``'s layout takes code from."""
    layout = _LAYOUTS.get(hub_id.lower())
    return (layout[0],) if layout and layout[0] else ()


def _write_code(out: Path, layout: tuple) -> None:
    _, model_type, config_cls, model_cls, tiny_cls, (config_mod, model_mod) = layout
    for f in CODE.glob("*.py"):
        shutil.copyfile(f, out / f.name)
    (out / f"{config_mod}.py").write_text(
        '"""Tiny stand-in for the hub repository\'s config code (mmindex --like)."""\n\n'
        "from .configuration_tiny_jina import TinyJinaConfig\n\n\n"
        f"class {config_cls}(TinyJinaConfig):\n    model_type = {model_type!r}\n")
    (out / f"{model_mod}.py").write_text(
        '"""Tiny stand-in for the hub repository\'s modelling code (mmindex --like)."""\n\n'
        f"from .{config_mod} import {config_cls}\n"
        f"from .modeling_tiny_jina import {tiny_cls}\n\n\n"
        f"class {model_cls}({tiny_cls}):\n    config_class = {config_cls}\n")


def build_jina_like(hub_id: str, out_dir: Path) -> Path:
    """Build the look-alike of ``hub_id`` (or of the code repository) into ``out_dir``.

    Raises:
        ConfigError: a Jina id without a known layout.
    """
    import tempfile

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if hub_id.lower() == CODE_REPO:
        _write_code(out, _LAYOUTS["jinaai/jina-clip-v2"])
        return out
    layout = _LAYOUTS.get(hub_id.lower())
    if layout is None:
        raise ConfigError(f"--like {hub_id}: no Jina layout known. Help: one of "
                          f"{', '.join(_LAYOUTS)}.")
    code_repo, model_type, config_cls, model_cls, _, (config_mod, model_mod) = layout
    prefix = f"{code_repo}--" if code_repo else ""
    config = {"model_type": model_type, "architectures": [model_cls], "vocab_size": 257,
              "dim": 24, "image_side": 8, "auto_map": {
                  "AutoConfig": f"{prefix}{config_mod}.{config_cls}",
                  "AutoModel": f"{prefix}{model_mod}.{model_cls}"}}
    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp)
        _write_code(code, layout)
        model = _instantiate(code, layout, config)
        model.save_pretrained(out)
        if not code_repo:  # the code sits in the repository itself
            for f in code.glob("*.py"):
                shutil.copyfile(f, out / f.name)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")  # exactly our auto_map
    return out


def _instantiate(folder: Path, layout: tuple, config: dict):
    """The model class of ``folder``'s code, imported as a throw-away package, at random weights
    (a fixed seed)."""
    import importlib
    import importlib.util

    import torch

    _, _, config_cls, model_cls, _, (config_mod, model_mod) = layout
    pkg = f"_mmindex_jina_like_{folder.name}"
    init = folder / "__init__.py"
    init.write_text("")
    try:
        spec = importlib.util.spec_from_file_location(pkg, init,
                                                      submodule_search_locations=[str(folder)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[pkg] = module
        spec.loader.exec_module(module)
        cfg = getattr(importlib.import_module(f"{pkg}.{config_mod}"), config_cls)
        cls = getattr(importlib.import_module(f"{pkg}.{model_mod}"), model_cls)
        with torch.random.fork_rng():
            torch.manual_seed(SEED)
            return cls(cfg(**{k: v for k, v in config.items()
                              if k not in ("model_type", "architectures", "auto_map")}))
    finally:
        init.unlink()
        for name in [n for n in sys.modules if n == pkg or n.startswith(pkg + ".")]:
            del sys.modules[name]
