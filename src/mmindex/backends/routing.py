"""Routing a spec to its family, without loading anything: alias, ``PREFIX:REST``, a local
folder (its ``config.json`` / files), then a hub id (the most specific declared match).
``mmindex models --resolve SPEC`` prints the :class:`Resolution` and its reason.

Everything here is read from the family records (:mod:`mmindex.backends.family`).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmindex.backends.family import Family, families
from mmindex.errors import ConfigError

DEFAULT_HUB_FAMILY = "sentence-transformers"  # e.g. jhgan/ko-sroberta-multitask


@dataclass(frozen=True)
class Resolution:
    """Where a spec routes, and why (``mmindex models --resolve``)."""

    spec: str
    family: str
    kind: str
    model_id: str
    why: str

    def as_dict(self) -> dict[str, str]:
        f = families().get(self.family)
        detail = f.detail(self.model_id) if f is not None and f.detail else ""
        return {"spec": self.spec, "family": self.family, "kind": self.kind,
                "model_id": self.model_id, "detail": detail, "why": self.why}


class AliasView(Mapping):
    """alias -> (family, model id) of one kind of family, read from the records on use (a
    module-level name such as ``ALIASES`` that does not collect the families at import)."""

    def __init__(self, kind: str = "embedder", values: str = "pair") -> None:
        self.kind, self.values = kind, values

    def _data(self) -> dict[str, Any]:
        return {m.spec: ((f.name, m.model_id) if self.values == "pair" else m.model_id)
                for f in families().values() if f.kind == self.kind for m in f.models}

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())


class MultiVectorFamilies(Set):
    """The names of the families whose tables hold token vectors, read on use."""

    def _data(self) -> frozenset[str]:
        return frozenset(f.name for f in families().values() if f.multi_vector)

    def __contains__(self, name: object) -> bool:
        return name in self._data()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._data()))

    def __len__(self) -> int:
        return len(self._data())


def resolve(spec: str) -> Resolution:
    """Route a spec to a family without loading anything: alias, ``prefix:REST``, a local
    folder (its ``config.json`` / files), then a hub id (the most specific declared match).

    Raises:
        ConfigError: nothing routes it; the message lists what would.
    """
    s = spec.strip()
    fams = families()
    low = s.lower()
    for f in fams.values():
        for m in f.models:
            if m.spec == low:
                return Resolution(low, f.name, f.kind, m.model_id, f"alias {low!r} of {f.name}")
    prefix, sep, rest = s.partition(":")
    if sep and rest:
        for f in fams.values():
            if prefix.lower() in f.prefixes:
                return Resolution(s, f.name, f.kind, rest, f"prefix {prefix}:")
    path = Path(s).expanduser()
    if path.is_dir():
        return _resolve_folder(s, path, fams)
    if "/" in s and not path.exists():
        hit = _resolve_hub_id(s, fams)
        if hit is not None:
            return hit
        if DEFAULT_HUB_FAMILY in fams:  # an org/name no family claims: a text model
            f = fams[DEFAULT_HUB_FAMILY]
            return Resolution(s, f.name, f.kind, s, "hub id no family claims: "
                              f"{f.name}, the default (PREFIX:ID picks another)")
    prefixes = sorted({p for f in fams.values() for p in f.prefixes})
    raise ConfigError(
        f"unknown model spec {spec!r}. Help: an alias (`mmindex models`), a checkpoint folder, "
        f"a hub id the catalogue knows (`mmindex models --resolve ID` says why one routes), or "
        f"PREFIX:ID_OR_PATH with one of {', '.join(p + ':' for p in prefixes)}.")


def _resolve_folder(s: str, path: Path, fams: dict[str, Family]) -> Resolution:
    where = str(path.resolve())
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        config = config if isinstance(config, dict) else {}
    except (OSError, ValueError):
        config = {}
    model_type = str(config.get("model_type") or "")
    archs = [str(a) for a in config.get("architectures") or [] if isinstance(a, str)]
    for f in fams.values():  # architectures are the more specific (jina-v4 is a qwen2_5_vl)
        if set(archs) & set(f.architectures):
            arch = sorted(set(archs) & set(f.architectures))[0]
            return Resolution(s, f.name, f.kind, where, f"folder: config.json architecture {arch}")
    for f in fams.values():
        for name in f.folder_files:
            if (path / name).is_file():
                return Resolution(s, f.name, f.kind, where, f"folder holds {name}")
    for f in fams.values():
        if model_type and model_type in f.model_types:
            return Resolution(s, f.name, f.kind, where,
                              f"folder: config.json model_type {model_type}")
    raise ConfigError(
        f"{s}: a folder no family claims (config.json model_type {model_type or 'missing'!r}, "
        f"architectures {archs or 'missing'}). Help: name the family, e.g. st:PATH or "
        "qwen3-vl:PATH (`mmindex models` lists the prefixes).")


def _resolve_hub_id(s: str, fams: dict[str, Family]) -> Resolution | None:
    low = s.lower()
    best: tuple[int, str, Family] | None = None
    for f in fams.values():
        for pat in f.all_hub_ids():
            p = pat.lower()
            if p == low:
                exact = (10_000, pat, f)
                best = exact if best is None or best[0] < 10_000 else best
            elif any(c in p for c in "*?[") and fnmatch.fnmatchcase(low, p):
                weight = sum(c not in "*?[]" for c in p)
                if best is None or weight > best[0]:
                    best = (weight, pat, f)
    if best is None:
        return None
    _, pat, f = best
    how = "hub id listed" if best[0] == 10_000 else f"hub id matches {pat!r}"
    return Resolution(s, f.name, f.kind, s, f"{how} by {f.name}")
