"""The embed stage: items through a model in GPU-sized batches, rows into staging, all measured.

- :mod:`~mmindex.embed.group`: :class:`GroupEmbedder`, the work of one group of manifest chunks
  (read media, hash, skip unchanged, quarantine bad items, embed, stage).
- :mod:`~mmindex.embed.changes` / :mod:`~mmindex.embed.contenthash`: change detection.
- :mod:`~mmindex.embed.batching`: cost-sorted windows packed under token/pixel budgets.
- :mod:`~mmindex.embed.stream`: reader -> preprocessing threads -> model, with backpressure,
  OOM splitting and bad-item bisection.
- :mod:`~mmindex.embed.rows`: embedded items to index rows, buffered into staging writes.
- :mod:`~mmindex.embed.counts` / :mod:`~mmindex.embed.throughput` / :mod:`~mmindex.embed.gpu` /
  :mod:`~mmindex.embed.summary`: what a run counts and measures, GPU batch sizing and sampling,
  and the summary text shown in the terminal and the Prefect UI.
"""

from __future__ import annotations

from mmindex.embed.batching import Batch, Budget, iter_batches, pack
from mmindex.embed.changes import HashIndex
from mmindex.embed.contenthash import content_hash
from mmindex.embed.counts import Counts, Progress
from mmindex.embed.gpu import GpuSampler, GpuStats, calibrate_token_budget, fit_token_budget
from mmindex.embed.group import GroupEmbedder, GroupResult
from mmindex.embed.stream import Streamer
from mmindex.embed.summary import summary_lines, summary_markdown
from mmindex.embed.throughput import BatchStat, Meter, Throughput

__all__ = [
    "Batch",
    "BatchStat",
    "Budget",
    "Counts",
    "GpuSampler",
    "GpuStats",
    "GroupEmbedder",
    "GroupResult",
    "HashIndex",
    "Meter",
    "Progress",
    "Streamer",
    "Throughput",
    "calibrate_token_budget",
    "content_hash",
    "fit_token_budget",
    "iter_batches",
    "pack",
    "summary_lines",
    "summary_markdown",
]
