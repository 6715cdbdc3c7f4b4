"""The library's log lines in the Prefect run's logs (the UI's Logs tab).

The library logs with the standard ``logging`` module under ``mmindex.*`` and never imports
Prefect. Prefect sends only its own loggers to the API unless ``PREFECT_LOGGING_EXTRA_LOGGERS``
names others in the environment of whatever started the worker; a deployment that forgot it
showed no library line at all. So each flow attaches Prefect's API handlers to ``mmindex`` for
as long as it runs, the way that setting would, and takes them off when the last flow of the
process ends (a handler left behind would try to send the lines of later library calls made
outside any flow).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_active = 0
_added: list[logging.Handler] = []


@contextlib.contextmanager
def library_logs_to_run(level: int = logging.INFO) -> Iterator[None]:
    """Send ``mmindex.*`` records at ``level`` and above to the current run's logs meanwhile."""
    global _active
    target = logging.getLogger("mmindex")
    with _lock:
        if _active == 0:
            if target.level == logging.NOTSET or target.level > level:
                target.setLevel(level)
            have = set(map(id, target.handlers))
            _added[:] = [h for h in logging.getLogger("prefect.extra").handlers
                         if id(h) not in have]
            for handler in _added:
                target.addHandler(handler)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                for handler in _added:
                    target.removeHandler(handler)
                _added.clear()
