"""The index stage: versioned LanceDB tables, their staging, lineage and production pointer.

- :mod:`~mmindex.index.db`: :func:`connect`, the one way to open a database from settings.
- :mod:`~mmindex.index.tables`: table names, the row schema, SQL filter helpers.
- :mod:`~mmindex.index.staging` / :mod:`~mmindex.index.commit`: a run's rows wait in staging and
  reach the index table in one commit; full-text and ANN indexes.
- :mod:`~mmindex.index.analysis` / :mod:`~mmindex.index.fulltext`: Korean-aware text analysis
  and the two full-text columns (``text``, ``fts_text``) searched together;
  :mod:`~mmindex.index.fusion`: LanceDB's hybrid query and the fusion chosen per version.
- :mod:`~mmindex.index.ledger`: append-only ``_runs``, ``_quarantine`` and ``_registry`` tables.
- :mod:`~mmindex.index.promotion`: promote, reject, rollback (the production pointer and tags).
- :mod:`~mmindex.index.maintenance`, :mod:`~mmindex.index.versions`: cleanup and the history.
- :mod:`~mmindex.index.locking`: one writer per index.

Nothing here loads a model: the index stage stores and serves rows, whatever made them.
"""

from __future__ import annotations

from mmindex.index import ledger
from mmindex.index.commit import CommitResult, build_indexes, commit_staged
from mmindex.index.db import connect
from mmindex.index.locking import writer_lock
from mmindex.index.maintenance import maintain
from mmindex.index.promotion import PRODUCTION_TAG, promote, reject, rollback, set_tag
from mmindex.index.staging import Staging
from mmindex.index.tables import (
    OCR_TEXT,
    PART_COLUMNS,
    check_index_name,
    has_parts,
    id_filter,
    index_schema,
    open_table,
    part_fields,
    read_hashes,
    sql_str,
    table_exists,
    table_name,
)
from mmindex.index.versions import describe_versions

__all__ = [
    "CommitResult",
    "OCR_TEXT",
    "PART_COLUMNS",
    "PRODUCTION_TAG",
    "Staging",
    "build_indexes",
    "check_index_name",
    "commit_staged",
    "connect",
    "describe_versions",
    "has_parts",
    "id_filter",
    "index_schema",
    "ledger",
    "maintain",
    "open_table",
    "part_fields",
    "promote",
    "read_hashes",
    "reject",
    "rollback",
    "set_tag",
    "sql_str",
    "table_exists",
    "table_name",
    "writer_lock",
]
