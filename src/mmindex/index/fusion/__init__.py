"""Hybrid search the LanceDB way, with a fusion policy chosen per version.

- :mod:`~mmindex.index.fusion.specs`: the fusions (``rrf``, ``linear:W``, ``dbsf:W``, one side
  first), LanceDB's hybrid query and the fusion of stored legs;
- :mod:`~mmindex.index.fusion.policy`: :class:`FusionPolicy`, a fusion per query segment
  (:meth:`mmindex.index.querykind.QueryKind.key`, e.g. ``ko/one-word``) with a default for the
  rest, stored with the version it was fit on and read back by :func:`fusion_of`.

The evaluation fits the policy on the golden set and scores it on folds it was not fit on
(:mod:`mmindex.evaluation.fusion_sweep`).
"""

from __future__ import annotations

from mmindex.index.fusion.policy import FusionPolicy, fusion_of, spec_for
from mmindex.index.fusion.specs import (
    DBSF,
    DEFAULT,
    DEPTH,
    EVALUATIONS,
    SIDES,
    SWEEP,
    fuse,
    hybrid,
    legs,
    reranker,
)

__all__ = ["DBSF", "DEFAULT", "DEPTH", "EVALUATIONS", "SIDES", "SWEEP", "FusionPolicy", "fuse",
           "fusion_of", "hybrid", "legs", "reranker", "spec_for"]
