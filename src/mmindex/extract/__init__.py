"""The extract stage: items out of storage, streamed.

- :mod:`~mmindex.extract.sources`: :func:`open_source` reads a manifest (JSONL, CSV, Parquet, BEIR)
  from a local path or an object store in chunks of :class:`~mmindex.items.Item`.
- :mod:`~mmindex.extract.readers` / :mod:`~mmindex.extract.manifest` /
  :mod:`~mmindex.extract.fieldmap`: format readers, rows to items, which column means what.
- :mod:`~mmindex.extract.media`: an item's media bytes, with the checks that decide whether a
  failure is the item's (quarantine) or the system's (fail the run).
- :mod:`~mmindex.extract.access`: which media a manifest may make the worker read (data roots,
  URL schemes, regular files), read within bounds.
- :mod:`~mmindex.extract.ocr`: figure text, the words printed in an image (tesseract, optional).
- :mod:`~mmindex.extract.filesystem`: fsspec filesystems for local paths and object stores.
"""

from __future__ import annotations

from mmindex.extract.access import MediaPolicy
from mmindex.extract.fieldmap import BEIR_FIELDS, DEFAULT_FIELDS, FieldMap
from mmindex.extract.filesystem import (
    filesystem_for,
    is_local,
    normalize,
    parent_of,
    storage_error,
)
from mmindex.extract.media import check_image_limits, image_header, read_blob, read_blobs
from mmindex.extract.ocr import Ocr, with_ocr_text
from mmindex.extract.sources import FORMATS, Source, open_source

__all__ = [
    "BEIR_FIELDS",
    "DEFAULT_FIELDS",
    "FORMATS",
    "FieldMap",
    "MediaPolicy",
    "Ocr",
    "Source",
    "check_image_limits",
    "filesystem_for",
    "image_header",
    "is_local",
    "normalize",
    "open_source",
    "parent_of",
    "read_blob",
    "read_blobs",
    "storage_error",
    "with_ocr_text",
]
