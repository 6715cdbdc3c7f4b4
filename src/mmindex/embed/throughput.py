"""Throughput accounting: per batch and per run.

Definitions (the README's metrics table uses the same words):

- items/s, tokens/s: embedded items (tokens: non-padding model tokens) / run wall time.
- batch latency: preprocessing + model time of one batch (time spent working on it,
  queue waits excluded); p50/p95 over the run's batches.
- preprocess_s / model_s / read_s / write_s: summed stage times. Stages overlap (preprocessing runs
  in worker threads while the model works), so they can add up to more than the wall time.
- ocr_images / ocr_s / ocr_s_per_image: images OCR'd (setting ``ocr``), the seconds tesseract
  took summed over them (images run side by side, so this can exceed the wall time), and their
  mean: the cost of figure text per image.
- peak_rss_mb: the process's peak resident memory (high-water mark since it started);
  peak_gpu_mb: torch's peak allocated CUDA memory, when a GPU is used.
- gpu_util_mean_pct / gpu_mem_used_max_mb: ``nvidia-smi`` samples every 0.5 s while groups ran
  (mean utilisation, most memory used on the device); None when no GPU was sampled.
"""

from __future__ import annotations

import resource
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

from mmindex.embed.gpu import GpuStats


@dataclass(frozen=True)
class BatchStat:
    items: int
    tokens: int
    preprocess_s: float
    model_s: float

    @property
    def latency_s(self) -> float:
        return self.preprocess_s + self.model_s


@dataclass
class Throughput:
    """Run-level throughput summary (all fields JSON-able)."""

    items: int = 0
    tokens: int = 0
    batches: int = 0
    wall_s: float = 0.0
    items_per_s: float = 0.0
    tokens_per_s: float = 0.0
    batch_p50_s: float = 0.0
    batch_p95_s: float = 0.0
    preprocess_s: float = 0.0
    model_s: float = 0.0
    read_s: float = 0.0
    write_s: float = 0.0
    ocr_images: int = 0
    ocr_s: float = 0.0
    ocr_s_per_image: float = 0.0
    peak_rss_mb: float = 0.0
    peak_gpu_mb: float = 0.0
    gpu_util_mean_pct: float | None = None
    gpu_mem_used_max_mb: float | None = None

    def to_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]); 0.0 for no values."""
    if not values:
        return 0.0
    s = sorted(values)
    rank = max(1, -(-len(s) * q // 100))  # ceil(n*q/100), at least 1
    return s[int(rank) - 1]


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def peak_gpu_mb() -> float:
    torch = sys.modules.get("torch")  # never import torch just to learn there is no GPU
    if torch is None or not torch.cuda.is_available():
        return 0.0
    return torch.cuda.max_memory_allocated() / (1024 * 1024)


@dataclass
class Meter:
    """Collects batch stats and stage timers from several threads; ``summary()`` at the end."""

    started: float = field(default_factory=time.perf_counter)
    batches: list[BatchStat] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    gpu: GpuStats = field(default_factory=GpuStats)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_batch(self, stat: BatchStat) -> None:
        with self._lock:
            self.batches.append(stat)

    def add_time(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.stages[stage] = self.stages.get(stage, 0.0) + seconds

    def summary(self, wall_s: float | None = None) -> Throughput:
        with self._lock:
            wall = time.perf_counter() - self.started if wall_s is None else wall_s
            items = sum(b.items for b in self.batches)
            tokens = sum(b.tokens for b in self.batches)
            lat = [b.latency_s for b in self.batches]
            ocr_images, ocr_s = int(self.stages.get("ocr_images", 0)), self.stages.get("ocr", 0.0)
            return Throughput(
                items=items,
                tokens=tokens,
                batches=len(self.batches),
                wall_s=wall,
                items_per_s=items / wall if wall > 0 else 0.0,
                tokens_per_s=tokens / wall if wall > 0 else 0.0,
                batch_p50_s=percentile(lat, 50),
                batch_p95_s=percentile(lat, 95),
                preprocess_s=sum(b.preprocess_s for b in self.batches),
                model_s=sum(b.model_s for b in self.batches),
                read_s=self.stages.get("read", 0.0),
                write_s=self.stages.get("write", 0.0),
                ocr_images=ocr_images,
                ocr_s=ocr_s,
                ocr_s_per_image=ocr_s / ocr_images if ocr_images else 0.0,
                peak_rss_mb=peak_rss_mb(),
                peak_gpu_mb=peak_gpu_mb(),
                gpu_util_mean_pct=self.gpu.util_mean,
                gpu_mem_used_max_mb=self.gpu.mem_max,
            )
