"""The one mark of a built twin, and the race-safe cache every twin is built into.

A twin's folder holds :data:`MARKER` (``mmindex-build.json``): which twin it is and the version
of the builder that wrote it. :func:`is_built` is the only place that reads it; a folder whose
mark names another twin or an older builder is rebuilt by :func:`ensure_built`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

MARKER = "mmindex-build.json"
#: one build at a time per process: transformers' from_config(dtype=...) swaps torch's global
#: default dtype while it builds, so two threads building at once could leave it bfloat16
_BUILD_LOCK = threading.Lock()


def write_marker(out: Path, twin: str, version: int, **details: Any) -> None:
    """Mark ``out`` as the built ``twin`` (e.g. ``tiny-colpali``) of builder ``version``."""
    (out / MARKER).write_text(json.dumps(
        {"builder": "mmindex.backends.twins", "twin": twin, "builder_version": version,
         **details}, indent=2) + "\n")


def is_built(path: str | os.PathLike[str], twin: str, version: int) -> bool:
    """``path`` holds ``twin`` as builder ``version`` wrote it (its :data:`MARKER` says so)."""
    try:
        marker = json.loads((Path(path) / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(marker, dict) and marker.get("twin") == twin
            and marker.get("builder_version") == version)


def ensure_built(cache_dir: str | os.PathLike[str] | None, twin: str, version: int,
                 build: Callable[[Path], Any]) -> Path:
    """``cache_dir/twin``, built once by ``build(dir)`` (which marks it with
    :func:`write_marker`; default cache ``~/.cache/mmindex``).

    Safe when processes race: each builds into its own temporary directory beside the target
    and renames it into place; the loser of the rename discards its copy and uses the winner's.
    """
    root = Path(cache_dir).expanduser() if cache_dir else Path.home() / ".cache" / "mmindex"
    target = root / twin
    if is_built(target, twin, version):
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{twin}.", dir=root))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is meant to be shared
    try:
        with _BUILD_LOCK:
            build(tmp)
        if not is_built(tmp, twin, version):
            raise RuntimeError(f"the {twin} builder did not mark its folder (write_marker)")
        if target.exists() and not is_built(target, twin, version):  # stale: older builder
            stale = Path(tempfile.mkdtemp(prefix=f".{twin}.stale.", dir=root))
            try:
                os.replace(target, stale / "old")
            except OSError:
                pass  # another process moved it first
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, target)  # atomic; fails if another process installed one meanwhile
        except OSError:
            if not is_built(target, twin, version):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
