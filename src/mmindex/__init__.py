"""mmindex: offline, nightly multimodal embedding into versioned LanceDB indexes.

Heavy dependencies (torch, transformers, lancedb) are imported lazily, so ``import mmindex`` and
``mmindex --help`` stay fast.
"""

from __future__ import annotations

__version__ = "0.1.0"
