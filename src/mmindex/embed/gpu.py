"""The GPU side of a run: batch sizing from free GPU memory, utilisation and memory sampling.

- :func:`fit_token_budget` / :func:`calibrate_token_budget`: the run's token budget (padded
  tokens per batch) is lowered to what fits in ``gpu_memory_fraction`` of the GPU's free memory.
  Bytes per token are *measured*, with one probe forward at plan time (peak allocated memory
  above the resident weights, divided by the probe's padded tokens), not guessed from the
  config: attention kernel, dtype and pooling all change it. CUDA OOM splitting
  (:mod:`mmindex.embed.stream`) stays as the safety net for batches the estimate got wrong (long
  images, video).
- :class:`GpuSampler`: ``nvidia-smi`` utilisation and memory, sampled every 0.5 s on a thread
  while a group runs; summarised into the run's throughput (Prefect artifact, ``_runs`` table).

Nothing here imports torch at module import; on a CPU machine every function is a no-op that
says so (None), never a made-up number.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

SMI_QUERY = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
             "--format=csv,noheader,nounits"]


def fit_token_budget(free_bytes: int, bytes_per_token: float, *, fraction: float,
                     configured: int, floor: int = 512) -> int:
    """The largest token budget whose activations fit in ``fraction`` of ``free_bytes``.

    Never above ``configured`` (the user's cap) and never below ``floor`` (a batch of one long
    item must still be formable; OOM splitting handles the rest).
    """
    if bytes_per_token <= 0 or free_bytes <= 0:
        return configured
    fits = int(free_bytes * fraction / bytes_per_token)
    return max(floor, min(configured, fits))


def calibrate_token_budget(embedder: Any, configured: int, fraction: float,
                           probe_tokens: int = 2048) -> dict[str, Any] | None:
    """Measure bytes per token with one probe forward and fit the token budget to the GPU.

    Returns None on CPU (nothing to fit). On CUDA: ``{"token_budget", "bytes_per_token",
    "free_mb", "configured"}``.
    """
    device = str(getattr(embedder, "device", "cpu"))
    if not device.startswith("cuda"):
        return None
    import torch

    from mmindex.backends.base import LoadedItem
    from mmindex.items import Item

    text = " ".join(["measure"] * probe_tokens)  # one token per word in common tokenizers
    decoded = [embedder.decode(LoadedItem(Item(f"probe-{k}", text), {}, k)) for k in range(4)]
    batch = embedder.collate(decoded, "document")
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    embedder.forward(batch)
    torch.cuda.synchronize(device)
    used = torch.cuda.max_memory_allocated(device) - base
    padded = int(getattr(batch, "padded_tokens", 0)) or 4 * probe_tokens
    per_token = used / padded
    free, _total = torch.cuda.mem_get_info(device)
    budget = fit_token_budget(free, per_token, fraction=fraction, configured=configured)
    log.info("token budget %d (configured %d): %.0f KiB per token measured, %.0f MiB free",
             budget, configured, per_token / 1024, free / 2**20)
    return {"token_budget": budget, "bytes_per_token": round(per_token, 1),
            "free_mb": round(free / 2**20, 1), "configured": configured}


def parse_smi(output: str) -> list[tuple[float, float]]:
    """``utilization.gpu, memory.used`` CSV lines (one per GPU) -> [(util %, MiB), ...]."""
    out = []
    for line in output.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2:
            continue
        try:
            out.append((float(parts[0]), float(parts[1])))
        except ValueError:
            continue
    return out


@dataclass
class GpuStats:
    """Utilisation/memory samples, mergeable across groups (sums and maxima, not lists)."""

    samples: int = 0
    util_sum: float = 0.0
    mem_max_mb: float = 0.0

    def add(self, util: float, mem_mb: float) -> None:
        self.samples += 1
        self.util_sum += util
        self.mem_max_mb = max(self.mem_max_mb, mem_mb)

    def merge(self, other: GpuStats) -> None:
        self.samples += other.samples
        self.util_sum += other.util_sum
        self.mem_max_mb = max(self.mem_max_mb, other.mem_max_mb)

    @property
    def util_mean(self) -> float | None:
        return round(self.util_sum / self.samples, 1) if self.samples else None

    @property
    def mem_max(self) -> float | None:
        """Most GPU memory used (MiB); None when nothing was sampled."""
        return self.mem_max_mb if self.samples else None


@dataclass
class GpuSampler:
    """Samples ``command`` (``nvidia-smi`` by default) every ``every_s`` on a daemon thread.

    ``gpu`` picks the line of the GPU in use (``cuda:N`` -> N). Does nothing when the command is
    not on PATH, and stops quietly at the first failure (a sampler must never fail a run).
    """

    gpu: int = 0
    every_s: float = 0.5
    command: Sequence[str] = tuple(SMI_QUERY)
    stats: GpuStats = field(default_factory=GpuStats)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mmindex-gpu-sampler",
                                        daemon=True)

    @classmethod
    def for_device(cls, device: str,
                   uuid_of: Callable[[str], str | None] | None = None) -> GpuSampler | None:
        """A sampler for ``cuda``/``cuda:N``; None for any other device.

        ``nvidia-smi`` numbers GPUs in PCI order and ignores ``CUDA_VISIBLE_DEVICES``; torch's
        ``cuda:N`` is the N-th *visible* GPU in CUDA's order. The two agree only by chance, so the
        sampler asks ``nvidia-smi --id`` for the GPU by the UUID torch reports for ``device``
        (the systemd units give each worker one GPU through ``CUDA_VISIBLE_DEVICES``).
        """
        if not device.startswith("cuda"):
            return None
        ident = (uuid_of or gpu_uuid)(device)
        if ident is None:  # no UUID to be had: the logical index is the best guess
            ident = device.partition(":")[2] or "0"
        return cls(gpu=0, command=(*SMI_QUERY, f"--id={ident}"))

    def sample(self) -> bool:
        try:
            out = subprocess.run(list(self.command), capture_output=True, text=True,
                                 timeout=5, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            return False
        lines = parse_smi(out)
        if len(lines) <= self.gpu:
            return False
        self.stats.add(*lines[self.gpu])
        return True

    def _loop(self) -> None:
        while self.sample() and not self._stop.wait(self.every_s):
            pass

    def __enter__(self) -> GpuSampler:
        if shutil.which(self.command[0]):
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=6)


def gpu_uuid(device: str) -> str | None:
    """``GPU-<uuid>`` of a CUDA device as torch sees it (what ``nvidia-smi --id`` accepts)."""
    import sys

    torch = sys.modules.get("torch")  # a CUDA device means torch is loaded already
    if torch is None or not torch.cuda.is_available():
        return None
    try:
        uuid = getattr(torch.cuda.get_device_properties(torch.device(device)), "uuid", None)
    except (RuntimeError, AssertionError, ValueError):
        return None
    return f"GPU-{uuid}" if uuid else None
