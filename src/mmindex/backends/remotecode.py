"""Which Python files ``trust_remote_code`` would run for a model folder, and the allowed check.

Loading a remote-code model imports the modules its ``config.json`` ``auto_map`` names
(``module.Class``, or ``org/repo--module.Class`` for code kept in another cached repository) and,
transitively, the sibling modules they import: transformers copies each one into its module
cache and imports it from there, so a file is run wherever its symlink points. Every such file
is therefore resolved (symlinks followed) and must lie inside an allowed folder; checking only
the model folder would let a real folder whose ``.py`` files (or the helper one of them imports)
are symlinks to code elsewhere through.

The ``auto_map`` of the folder's other JSON files (``tokenizer_config.json``,
``preprocessor_config.json``, ...) is followed too. Imports are read with :mod:`ast`
(``from .x import``, ``from . import x``, ``from ..pkg.x import``, and a plain ``import x`` /
``from x import`` of a module that exists beside it) and, as transformers reads them, with its
two regular expressions; both are followed.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from pathlib import Path

from mmindex.errors import ConfigError, ModelUnavailableError

# transformers.dynamic_module_utils.get_relative_imports: the files it copies beside a module
_TF_RELATIVE = (re.compile(r"^\s*import\s+\.(\S+)\s*$", re.MULTILINE),
                re.compile(r"^\s*from\s+\.(\S+)\s+import", re.MULTILINE))


def inside(path: Path, allowed: Sequence[str]) -> bool:
    """``path`` after every symlink is resolved lies in (or is) one of ``allowed``."""
    real = path.resolve()
    for a in allowed:
        root = Path(a).expanduser().resolve()
        if real == root or root in real.parents:
            return True
    return False


def auto_map_refs(model_dir: Path) -> list[str]:
    """The ``auto_map`` class references of ``model_dir/config.json``.

    Raises:
        ModelUnavailableError: no readable JSON object, an ``auto_map`` that is not a mapping of
            ``module.Class`` strings, or none at all (not a remote-code model).
    """
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"{model_dir}: no readable config.json ({exc}).") from None
    auto_map = config.get("auto_map") if isinstance(config, dict) else None
    refs = [] if not isinstance(auto_map, dict) else [
        r for v in auto_map.values() for r in (v if isinstance(v, list) else [v]) if r]
    if auto_map is not None and (not isinstance(auto_map, dict)
                                 or not all(isinstance(r, str) and "." in r for r in refs)):
        raise ModelUnavailableError(
            f"{model_dir}: config.json's auto_map is malformed (want {{\"AutoModel\": "
            "\"module.Class\", ...}). Help: copy the model folder again from its source.")
    if not refs:
        raise ModelUnavailableError(
            f"{model_dir}: config.json has no auto_map, so this is not a Jina remote-code model "
            "folder. Help: point at the jina-clip-v2 / jina-embeddings-v4 folder.")
    return refs


def entry_modules(model_dir: Path) -> list[Path]:
    """The module files ``auto_map`` names, as transformers finds them (not yet resolved).

    Raises:
        ModelUnavailableError: see :func:`auto_map_refs`; or a module is not on disk.
    """
    out = []
    for ref in auto_map_refs(model_dir):
        repo, _, target = ref.rpartition("--")
        module = target.rsplit(".", 1)[0]
        folder = model_dir if not repo else _cached_repo(repo, module, model_dir)
        path = folder / f"{module}.py"
        if not path.is_file():
            raise ModelUnavailableError(
                f"{model_dir}: its code {module}.py is not in {folder}. Help: copy the complete "
                "model folder, Python files included (hf download on a machine with internet).")
        out.append(path)
    return out + _other_auto_maps(model_dir)


def _other_auto_maps(model_dir: Path) -> list[Path]:
    """Modules named by the ``auto_map`` of the folder's other JSON files (the tokenizer's,
    the processor's: the model's code may load them with ``trust_remote_code`` too)."""
    out = []
    for path in sorted(model_dir.glob("*.json")):
        if path.name == "config.json":
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        auto_map = data.get("auto_map") if isinstance(data, dict) else None
        for v in (auto_map.values() if isinstance(auto_map, dict) else ()):
            for ref in (v if isinstance(v, list) else [v]):
                if isinstance(ref, str) and "." in ref and "--" not in ref:
                    out.append(model_dir / f"{ref.rsplit('.', 1)[0]}.py")
    return [p for p in out if p.is_file()]


def code_files(model_dir: Path) -> list[Path]:
    """Every Python file loading ``model_dir`` would run: the ``auto_map`` modules and the
    sibling modules they import, transitively (paths as found, symlinks not yet resolved)."""
    seen: dict[Path, None] = {}
    todo = entry_modules(model_dir)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen[path] = None
        todo.extend(p for p in _imported(path) if p not in seen)
    return list(seen)


def check_allowed(spec: str, model_dir: Path, allowed: Sequence[str]) -> None:
    """Refuse unless the folder and every code file it runs resolve inside ``allowed``.

    Raises:
        ConfigError: one of them resolves outside (a symlinked folder or file, ``../``, an
            absolute ``auto_map``, a look-alike sibling folder); nothing of it has run.
        ModelUnavailableError: no ``auto_map``, or a module missing.
    """
    def paths():
        yield model_dir  # first: a folder not allowed is refused before its code is read
        files = code_files(model_dir)
        yield from [*dict.fromkeys(f.parent for f in files), *files]

    for path in paths():
        if not inside(path, allowed):
            real = path.resolve()
            folder = real if real.is_dir() else real.parent
            shown = path if real == path else f"{path} (a link to {real})"
            raise ConfigError(
                f"{spec} runs Python code from {shown}, which is not an allowed folder nor in one. "
                "Help: after reviewing that code, add its folder to trust_remote_code_dirs "
                f"(mmindex.toml, or MMINDEX_TRUST_REMOTE_CODE_DIRS='[\"{folder}\"]'; for a "
                "Hugging Face cache snapshot, the models--ORG--NAME folder, whose blobs/ its files "
                "link to); nothing is allowed by default.")


def _imported(path: Path) -> list[Path]:
    """The existing sibling module files ``path`` imports (relative, or a plain name that is a
    file beside it), by :mod:`ast` and by transformers' regular expressions."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []  # transformers fails on it too; nothing more runs
    here = path.parent
    found = [m for rx in _TF_RELATIVE for m in rx.findall(source)]
    names = [here / f"{m}.py" for m in found] + [here / f"{m.replace('.', '/')}.py" for m in found]
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        tree = None
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.ImportFrom):
            base = here
            for _ in range(max(node.level - 1, 0)):
                base = base.parent
            parts = node.module.split(".") if node.module else []
            if parts:
                names += [base.joinpath(*parts).with_suffix(".py"),
                          base.joinpath(*parts, "__init__.py")]
            if node.level:
                names += [base.joinpath(*parts, f"{a.name}.py") for a in node.names]
        elif isinstance(node, ast.Import):
            names += [here / f"{a.name.split('.')[0]}.py" for a in node.names]
    return [p for p in dict.fromkeys(names) if p.is_file()]


def _cached_repo(repo: str, module: str, model_dir: Path) -> Path:
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(repo, f"{module.replace('.', '/')}.py")
    if not isinstance(hit, str):
        raise ModelUnavailableError(
            f"{model_dir} takes its code from {repo}, which is not in the Hugging Face cache and "
            f"is never downloaded. Help: on a machine with internet run `hf download {repo}` and "
            "copy it into HF_HOME/hub here.")
    return Path(hit).parent
