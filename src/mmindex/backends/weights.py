"""Finding a model's weights offline (local directory or HF cache), their revision, attention.

Every local-weights backend (Qwen3-VL, the generic VLM, ColPali, CLIP/SigLIP, Jina, the
reranker) resolves its ``--model`` here and records :func:`locate_weights`' revision in its
fingerprint.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from mmindex.errors import ModelUnavailableError


def resolve_model_dir(model_id: str) -> tuple[Path, str | None]:
    """(local directory, hub commit or None) for a local path or a hub id in the HF cache.

    Never touches the network, so an uncached hub id fails at once instead of hanging.
    """
    path = Path(model_id).expanduser()
    if path.is_dir():
        return path.resolve(), None
    if model_id.startswith(("/", ".", "~")) or model_id.count("/") != 1 or path.exists():
        raise ModelUnavailableError(
            f"{model_id}: no such model directory. Help: pass a directory holding config.json "
            "and *.safetensors, a hub id such as Qwen/Qwen3-VL-Embedding-2B, or tiny-qwen3-vl.")
    from huggingface_hub import constants, snapshot_download

    try:
        snapshot = Path(snapshot_download(model_id, local_files_only=True))
    except Exception as exc:  # LocalEntryNotFoundError, HFValidationError, ...
        raise ModelUnavailableError(
            f"{model_id} is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) and "
            "mmindex never downloads weights. Help: on a machine with internet run "
            f"`hf download {model_id}`, then copy its cache folder "
            f"(models--{model_id.replace('/', '--')}) into this machine's HF_HOME/hub, or copy "
            "the downloaded directory here and pass its path (--model qwen3-vl:/path/to/dir); "
            f"for a smoke test without weights use --model tiny-qwen3-vl. ({exc})") from exc
    return snapshot, snapshot.name


def locate_weights(model_id: str) -> tuple[Path, str]:
    """(local directory, revision) of a model: the hub commit for a cached hub id, else the
    :func:`weights_digest` of the directory (what every backend's fingerprint records).

    Raises:
        ModelUnavailableError: as :func:`resolve_model_dir`.
    """
    model_dir, commit = resolve_model_dir(model_id)
    return model_dir, commit or weights_digest(model_dir)


def weights_digest(model_dir: Path) -> str:
    """A cheap content hash: config.json plus the name, size and last 64 KiB of each weight file.

    Reading whole multi-GB files would be slow; the tail sample still tells different weights
    apart, and unlike the path it survives copying the model to another machine.
    """
    h = hashlib.sha256((model_dir / "config.json").read_bytes())
    for f in sorted(model_dir.glob("*.safetensors")):
        size = f.stat().st_size
        h.update(f"{f.name}:{size}".encode())
        with open(f, "rb") as fh:
            fh.seek(max(0, size - 65536))
            h.update(fh.read())
    return "sha256:" + h.hexdigest()[:16]


def default_attention(on_gpu: bool) -> str:
    if on_gpu:
        try:
            import flash_attn  # noqa: F401

            return "flash_attention_2"
        except Exception:  # not installed, or built for another torch/CUDA
            pass
    return "sdpa"
