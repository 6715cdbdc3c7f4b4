"""``import lancedb`` without the namespace REST client's API classes it never uses locally.

lancedb 0.40 imports ``lance_namespace``, whose models import the generated
``lance_namespace_urllib3_client`` package; that package's ``__init__`` imports every REST API
module, and each builds pydantic ``validate_call`` wrappers for its methods at import (366 of
them). Measured here: ``import lancedb`` took 1.91 s of CPU, 0.89 s without them (52% of it; the
largest part of a cold ``mmindex search``, docs/performance.md). pylance made the same client
lazy upstream (lance-format/lance#9273); lancedb does not yet.

:func:`defer_rest_client` registers the package unexecuted, so importing its ``models``
subpackage (what lancedb needs to open a local or object-store database) skips the API modules;
the first attribute read from the package itself (a REST namespace connection) runs its
``__init__`` in full. It does nothing once lancedb or the package is imported.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

PACKAGE = "lance_namespace_urllib3_client"


def defer_rest_client() -> None:
    """Register :data:`PACKAGE` so that its ``__init__`` runs on first attribute access."""
    if PACKAGE in sys.modules or "lancedb" in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    ran: list[bool] = []

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module-level hook (PEP 562)
        if ran or name.startswith("__"):
            raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")
        ran.append(True)
        spec.loader.exec_module(module)  # the package's own __init__, in full
        return getattr(module, name)

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[PACKAGE] = module
