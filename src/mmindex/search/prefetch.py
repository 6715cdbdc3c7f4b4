"""A cold ``mmindex search`` embeds its text query in a child process while it opens the index.

Which model embeds the query is known only once the index is open (its production run's
model), and opening it means importing lancedb (most of a cold search). So the CLI keeps a
*hint* per database and index, written by the search before: the model, dims, query instruction,
device and cache folder the index's query vectors were made with
(``cache_dir/search-hints/``). A new search with a text query starts a child (:data:`CHILD`) that
loads that model alone (numpy and the model's own imports, not lancedb or pyarrow) and embeds
the query with :func:`mmindex.backends.embed_queries`, as the reader does, while this
process imports lancedb and opens the index on the other core.

The child's vector is used only when the opened index's model, dims, query instruction, device
and cache folder equal the hint's (else the child is killed and the query embedded here, and
the hint rewritten); a child that fails or answers anything but one vector of the index's dims
falls back the same way. The vector is the one this process would have made: the same code on
the same model (``tests/test_search_prefetch.py`` compares them byte for byte).

A hint names a model for the child to load, so it is read only from a file this user owns that
no one else may write (the cache folder is the user's own; hints are written 0600).

Not hinted, so always embedded in the process: models whose loading depends on settings
(API keys, trusted remote code: the families with a ``cache_key``), plug-in backends registered
in the process, image queries, and modes without a query vector (``fts``) or with token vectors
(``multivector``). When to start a child at all: the ``search_prefetch`` setting
(:mod:`mmindex.index.children`; ``auto``: only on a spare core).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

HINTS = "search-hints"
KEYS = ("model", "dims", "query_instruction", "device", "cache_dir")

CHILD = """\
import json, sys
from pathlib import Path
r = json.loads(sys.stdin.buffer.read().decode("utf-8"))
from mmindex.backends import embed_queries, load_embedder
emb = load_embedder(r["model"], device=r["device"], query_instruction=r["query_instruction"],
                    cache_dir=Path(r["cache_dir"]) if r["cache_dir"] else None)
v = embed_queries(emb, [(r["text"], None)], r["dims"])[0]
head = json.dumps({"dtype": v.dtype.str, "shape": list(v.shape)}).encode()
sys.stdout.buffer.write(head + b"\\n" + v.tobytes())
"""


def _hint_file(settings: Any, index: str) -> Path:
    key = hashlib.sha256(f"{settings.db}\0{index}".encode()).hexdigest()[:24]
    return Path(settings.cache_dir).expanduser() / HINTS / f"{key}.json"


def _ours(path: Path) -> bool:
    """``path`` is this user's and no one else may write it (OSError when it is missing)."""
    st = path.stat()
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _described(idx: Any) -> dict[str, Any]:
    """What makes ``idx``'s query vectors: the hint's fields."""
    return {"model": idx.model, "dims": int(idx.dims), "query_instruction": idx.query_instruction,
            "device": idx.device, "cache_dir": str(idx.cache_dir) if idx.cache_dir else None}


@dataclass
class Prefetched:
    """A child embedding ``text`` with the model of ``hint``."""

    hint: dict[str, Any]
    child: subprocess.Popen

    def vector(self, idx: Any) -> np.ndarray | None:
        """The child's query vector when ``idx`` makes its query vectors as the hint says;
        None otherwise (the child is ended and the caller embeds the query itself)."""
        from mmindex.index import children

        if _described(idx) != self.hint:
            children.end(self.child)
            return None
        out = children.take(self.child)
        try:
            head, body = (out or b"").split(b"\n", 1)
            meta = json.loads(head)
            v = np.frombuffer(body, dtype=np.dtype(meta["dtype"])).reshape(meta["shape"])
        except (ValueError, KeyError, TypeError) as exc:
            log.debug("query prefetch: no usable vector (%s); embedding here", exc)
            return None
        return v.copy() if v.shape == (idx.dims,) else None


def start(settings: Any, index: str, text: str | None) -> Prefetched | None:
    """Start embedding the text query ``text`` in a child, as the hint for ``index`` says and
    the ``search_prefetch`` setting allows; None when there is no hint or no child."""
    from mmindex.index import children

    if not text or not children.wanted(settings.search_prefetch):
        return None
    try:
        path = _hint_file(settings, index)
        if not _ours(path):  # it names a model to load
            log.debug("query prefetch: %s is not this user's alone; not used", path)
            return None
        hint = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(hint, dict) or set(hint) != set(KEYS):
            return None
    except (OSError, ValueError):
        return None
    payload = json.dumps(hint | {"text": text}).encode("utf-8")
    child = children.start([sys.executable, "-c", CHILD], payload)
    return None if child is None else Prefetched(hint, child)


def remember(settings: Any, index: str, idx: Any) -> None:
    """Write (or rewrite) ``index``'s hint from the opened ``idx``, when its model can be
    loaded from a hint (see the module docstring). Nothing raises from here."""
    from mmindex.backends.family import family
    from mmindex.backends.registry import parse_spec

    try:  # a plug-in backend parses to family "custom", which family() does not know: raises
        if family(parse_spec(idx.model).backend).cache_key:
            return
        path = _hint_file(settings, index)
        hint = _described(idx)
        try:
            if _ours(path) and json.loads(path.read_text(encoding="utf-8")) == hint:
                return
        except (OSError, ValueError):
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".hint-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(hint, f)
        os.replace(tmp, path)
    except Exception as exc:  # noqa: BLE001 - a hint is an optimisation, never an error
        log.debug("query prefetch: hint not written (%s)", exc)
