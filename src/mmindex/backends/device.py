"""Where a model runs: the one device resolver, and moving batches onto the device.

Every backend resolves ``--device`` here, so a device that is not there fails the same way for
all of them (before any weights load), and pinned-memory copies work the same way too.
"""

from __future__ import annotations

import re
from typing import Any

from mmindex.errors import ConfigError, installed, require

_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when torch sees a GPU, else ``"cpu"``; others checked and kept.

    Raises:
        ConfigError: not a device name, or a CUDA device torch cannot see.
    """
    if not _DEVICE.fullmatch(device):
        raise ConfigError(f"device {device!r}: not a device name. "
                          "Help: use auto, cpu, cuda or cuda:N.")
    if device in ("auto", "cpu") and not installed("torch"):  # the core install: numpy models
        return "cpu"
    require("torch", f"device {device!r}", ConfigError)
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        n = int(device.partition(":")[2] or 0)
        if n >= count:
            raise ConfigError(
                f"device {device!r} asked for, but torch sees {count} CUDA device(s). "
                "Help: use --device auto or cpu, or check the driver (nvidia-smi) and "
                "CUDA_VISIBLE_DEVICES.")
    return device


def compute_dtype(device: str) -> Any:
    """The torch dtype a model runs in on ``device``: bf16 on CUDA (as the models were
    trained), fp32 elsewhere. Explicit, because transformers 5's ``from_pretrained`` would keep a
    bf16 checkpoint's dtype on CPU too (and fp32 is the equality tests' precision)."""
    import torch

    return torch.bfloat16 if device.startswith("cuda") else torch.float32


def pin(tensors: dict[str, Any], device: str) -> dict[str, Any]:
    """Page-locked copies of a batch's CPU tensors when it is bound for a CUDA device.

    Called in the preprocessing threads (``collate``), so the pinning cost is paid ahead of the
    model and the copy in :func:`to_device` can run asynchronously. Unchanged for CPU devices.
    """
    if not device.startswith("cuda"):
        return tensors
    import torch

    return {k: v.pin_memory() if isinstance(v, torch.Tensor) and v.device.type == "cpu" else v
            for k, v in tensors.items()}


def to_device(tensors: dict[str, Any], device: str) -> dict[str, Any]:
    """Move a batch to ``device``; pinned tensors are copied without blocking the host."""
    import torch

    return {k: v.to(device, non_blocking=v.is_pinned()) if isinstance(v, torch.Tensor) else v
            for k, v in tensors.items()}
