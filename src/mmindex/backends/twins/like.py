"""``mmindex make-tiny-model DIR --like HUB_ID``: a random-weight checkpoint with the layout of
that hub repository (its file names, ``config.json``'s ``model_type`` / ``architectures``, its
processor and tokenizer files, sentence-transformers' ``modules.json``), built offline.

The family the id routes to (:func:`mmindex.backends.routing.resolve`) builds it (its record's
``like``), mostly from its twin; :func:`build_like` with ``hf_cache=True`` places it, and the
repositories it takes files from, in a Hugging Face cache (:mod:`~.hfcache`), so that
``--model HUB_ID`` with ``HF_HUB_OFFLINE=1`` routes, loads and embeds it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mmindex.backends.twins.marker import write_marker
from mmindex.errors import ConfigError

LIKE_VERSION = 1


def catalogue_hub_ids() -> dict[str, str]:
    """Every hub id the family records name (not their patterns) -> its family."""
    from mmindex.backends.family import families

    return {h: f.name for f in families().values() for h in f.all_hub_ids()
            if not any(c in h for c in "*?[")}


def build_like(hub_id: str, out_dir: str | os.PathLike[str], *, hf_cache: bool = False) -> Path:
    """Build the look-alike of ``hub_id`` (or of the hub id a catalogue alias names) into
    ``out_dir``; with ``hf_cache``, ``out_dir`` is a Hugging Face hub cache and it goes there
    with the repositories its layout refers to. Returns the folder (the snapshot in a cache).

    Raises:
        ConfigError: no family routes ``hub_id`` to a hub repository, or the family has no
            ``--like`` builder (or none for this id).
    """
    from mmindex.backends.family import family
    from mmindex.backends.routing import resolve

    route = resolve(hub_id)
    fam = family(route.family)
    repo_id = route.model_id if "/" in route.model_id else hub_id  # an alias: its hub id
    if "/" not in repo_id or Path(repo_id).exists() or fam.like is None:
        raise ConfigError(
            f"--like {hub_id}: {fam.name} ({route.why}) has no real-layout builder. Help: a hub "
            "id of a family with weights on the hub (`mmindex models`; "
            "docs/model-families.md, 'Real-layout fixtures').")
    if not hf_cache:
        return fam.like(repo_id, Path(out_dir))
    import tempfile

    from mmindex.backends.twins.hfcache import place_in_hf_cache

    for other in fam.like_needs(repo_id) if fam.like_needs else ():
        build_like(other, out_dir, hf_cache=True)
    with tempfile.TemporaryDirectory(prefix=".like.", dir=_mkdir(Path(out_dir))) as tmp:
        built = fam.like(repo_id, Path(tmp) / "repo")
        return place_in_hf_cache(built, repo_id, out_dir)


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def finish_like(out: Path, hub_id: str, *, drop: tuple[str, ...] = ()) -> Path:
    """Mark a twin folder as the ``hub_id`` look-alike (not the cached twin), drop files the
    real repository does not have, and say so in its NOTICE.md."""
    for name in drop:
        (out / name).unlink(missing_ok=True)
    write_marker(out, f"like:{hub_id}", LIKE_VERSION, hub_id=hub_id)
    notice = out / "NOTICE.md"
    before = notice.read_text() if notice.exists() else ""
    notice.write_text(f"Built by `mmindex make-tiny-model --like {hub_id}`: random weights at toy "
                      "sizes in that repository's layout; its vectors mean nothing.\n\n" + before)
    return out


def released_processor_files(out: Path) -> None:
    """transformers 5 saves a processor as one ``processor_config.json`` (+
    ``chat_template.jinja``); the hub repositories, saved before, hold
    ``preprocessor_config.json`` (+ ``video_preprocessor_config.json``, ``chat_template.json``).
    Both load; this writes the hub's."""
    combined_path = out / "processor_config.json"
    if combined_path.is_file():
        combined = json.loads(combined_path.read_text())
        cls = combined.get("processor_class")
        for key, name in (("image_processor", "preprocessor_config.json"),
                          ("video_processor", "video_preprocessor_config.json")):
            if isinstance(combined.get(key), dict):
                part = dict(combined.pop(key), **({"processor_class": cls} if cls else {}))
                (out / name).write_text(json.dumps(part, indent=2) + "\n")
        rest = {k: v for k, v in combined.items() if k != "processor_class"}
        if rest:  # processor attributes of their own stay where transformers reads them
            combined_path.write_text(json.dumps(combined, indent=2) + "\n")
        else:
            combined_path.unlink()
    jinja = out / "chat_template.jinja"
    if jinja.is_file():
        (out / "chat_template.json").write_text(
            json.dumps({"chat_template": jinja.read_text()}, indent=2) + "\n")
        jinja.unlink()


def hub_tokenizer_files(out: Path) -> None:
    """The tokenizer files saves before transformers 5 wrote beside ``tokenizer.json``:
    ``special_tokens_map.json``, and for a BPE tokenizer ``vocab.json`` / ``merges.txt``."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    specials = {k: str(v) for k, v in tok.special_tokens_map.items() if isinstance(v, str)}
    (out / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")
    tj = out / "tokenizer.json"
    model = json.loads(tj.read_text()).get("model", {}) if tj.is_file() else {}
    if model.get("type") == "BPE" and not (out / "vocab.json").exists():
        (out / "vocab.json").write_text(json.dumps(model["vocab"], ensure_ascii=False))
        merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
        (out / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{m}\n" for m in merges))


def shard_weights(out: Path, parts: int = 2) -> None:
    """Split ``model.safetensors`` into ``model-0000i-of-0000n.safetensors`` and
    ``model.safetensors.index.json``, as the hub stores weights over ~5 GB."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    single = out / "model.safetensors"
    with safe_open(str(single), "pt") as f:
        metadata = f.metadata() or {"format": "pt"}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    keys = sorted(tensors)
    size = sum(t.numel() * t.element_size() for t in tensors.values())
    weight_map = {}
    for i in range(parts):
        name = f"model-{i + 1:05d}-of-{parts:05d}.safetensors"
        chunk = keys[i * len(keys) // parts:(i + 1) * len(keys) // parts]
        save_file({k: tensors[k] for k in chunk}, str(out / name), metadata=metadata)
        weight_map.update(dict.fromkeys(chunk, name))
    single.unlink()
    (out / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": size}, "weight_map": weight_map}, indent=2) + "\n")


def sharded_on_the_hub(hub_id: str) -> bool:
    """The 7B / 8B checkpoints' weights are sharded on the hub (the look-alikes use 2 shards)."""
    import re

    return re.search(r"(?<![0-9.])(7|8)b\b", hub_id.lower()) is not None
