"""A built folder placed in a Hugging Face hub cache, laid out as ``huggingface_hub`` lays out a
download: ``models--ORG--NAME/blobs/<sha256>`` holding the files,
``snapshots/<revision>/<path>`` relative links to them, ``refs/main`` naming the revision. Then
``HF_HUB_CACHE=DIR HF_HUB_OFFLINE=1`` (or ``HF_HOME=PARENT`` with ``DIR=PARENT/hub``) resolves
the hub id offline, as after ``hf download``."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


def repo_folder(cache: str | os.PathLike[str], hub_id: str) -> Path:
    """``cache/models--ORG--NAME``: where ``hub_id`` lives in a hub cache."""
    return Path(cache) / ("models--" + hub_id.replace("/", "--"))


def fake_revision(hub_id: str) -> str:
    """A stable 40-hex revision for a look-alike of ``hub_id`` (not the hub's commit)."""
    return hashlib.sha1(f"mmindex make-tiny-model --like {hub_id}".encode()).hexdigest()


def place_in_hf_cache(folder: str | os.PathLike[str], hub_id: str,
                      cache: str | os.PathLike[str], revision: str | None = None) -> Path:
    """Copy ``folder``'s files into ``cache`` as the snapshot ``revision`` of ``hub_id`` (an
    earlier snapshot of that revision is replaced); returns the snapshot folder."""
    src = Path(folder)
    rev = revision or fake_revision(hub_id)
    repo = repo_folder(cache, hub_id)
    snapshot = repo / "snapshots" / rev
    if snapshot.exists():
        shutil.rmtree(snapshot)
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        blob = repo / "blobs" / digest
        if not blob.exists():
            shutil.copyfile(path, blob)
        link = snapshot / path.relative_to(src)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(rev)
    return snapshot
