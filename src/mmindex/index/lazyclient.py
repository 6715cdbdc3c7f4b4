"""``import lancedb`` without the work it does at import that a local database never needs.

Two parts, measured in a cold ``mmindex search`` (docs/performance.md, "Cold mmindex search"):

**The REST client's API classes.**

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

**The ``overrides`` checks.** On Python < 3.12 lancedb marks its methods with the ``overrides``
package's ``@override``, which disassembles the class body's bytecode at import to find the base
class and compares signatures (lancedb's own consistency check, 105 methods: 0.14 s of the 0.49 s
``import lancedb`` here); on Python >= 3.12 lancedb uses ``typing.override`` instead, which only
sets ``__override__ = True``. :func:`import_lancedb` imports lancedb with that 3.12 behaviour: the
``overrides`` module's ``override`` is swapped for a marker-only one while lancedb's modules run,
and put back after (no other module sees it unless it imports ``overrides`` during that import).
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

PACKAGE = "lance_namespace_urllib3_client"


def import_lancedb() -> ModuleType:
    """``import lancedb``, without the REST client's API modules and (Python < 3.12) with
    ``typing.override``'s behaviour for its ``@override`` marks; the module as it is if imported."""
    if "lancedb" in sys.modules:
        return sys.modules["lancedb"]
    defer_rest_client()
    if sys.version_info >= (3, 12):
        import lancedb

        return lancedb
    try:
        import overrides
    except ImportError:  # lancedb's own import will say what is missing
        import lancedb

        return lancedb
    checked = overrides.override
    overrides.override = _mark_override
    try:
        import lancedb
    finally:
        overrides.override = checked
    return lancedb


def _mark_override(method: Any = None, **_options: Any) -> Any:
    """``typing.override`` (3.12): set ``__override__`` and return the method; with options
    only (``@override(check_signature=False)``) return the decorator itself."""
    if method is None:
        return _mark_override
    try:
        method.__override__ = True
    except (AttributeError, TypeError):  # what typing.override tolerates too
        pass
    return method


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
