"""Helper processes that do part of a cold ``mmindex search`` on the machine's other core.

A cold search spends most of its wall time importing lancedb and opening the index, then loading
the query's models (the embedder; Kiwi for a Hangul query). Both are pure CPU in Python code that
holds the GIL, so a thread cannot overlap them; a child process can, on an idle core. Two use
this module: Kiwi's query analysis (:func:`mmindex.index.analysis.prefetch`) and the query vector
(:mod:`mmindex.search.prefetch`). Each child gets its input on stdin and writes its answer to
stdout; whoever started it takes the answer or kills it, and any child still running when the
process exits is killed.

When (the ``search_prefetch`` setting, :func:`wanted`): ``auto`` starts a child only when a core is
spare (:func:`spare_core`): on a busy box the child's work competes with the search for the same
cores and its start-up (a Python and its imports) is paid on top, measured slower than no child
(docs/performance.md, "Cold mmindex search"); ``always`` and ``never`` say what they say.
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess

log = logging.getLogger(__name__)

SPARE = 0.5  # a core counts as spare when the 1-minute load leaves at least this much of one

_LIVE: list[subprocess.Popen] = []


def spare_core() -> bool:
    """Whether this machine has at least :data:`SPARE` of a core idle on average (the 1-minute
    load average against the CPUs this process may use); False on one CPU."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return False
    return cpus > 1 and cpus - load >= SPARE


def wanted(when: str) -> bool:
    """Whether to start a child under the ``search_prefetch`` setting ``when``."""
    return when == "always" or (when == "auto" and spare_core())


def start(argv: list[str], payload: bytes) -> subprocess.Popen | None:
    """Run ``argv`` with ``payload`` on its stdin; None when no process could be started."""
    try:
        child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)
        child.stdin.write(payload)
        child.stdin.close()
        child.stdin = None  # written and closed: communicate() only reads
    except OSError as exc:  # no process to spare: the caller does the work itself
        log.debug("helper process not started (%s)", exc)
        return None
    if not _LIVE:
        atexit.register(_end_all)
    _LIVE.append(child)
    return child


def take(child: subprocess.Popen, timeout: float = 300) -> bytes | None:
    """The child's stdout once it exits with 0; None when it failed or ran past ``timeout``
    seconds (it is killed)."""
    try:
        out, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        end(child)
        return None
    finally:
        if child in _LIVE and child.returncode is not None:
            _LIVE.remove(child)
    return out if child.returncode == 0 else None


def end(child: subprocess.Popen) -> None:
    """Kill the child (its answer is not wanted any more) and reap it."""
    if child.returncode is None:
        child.kill()
        child.wait()
    if child in _LIVE:
        _LIVE.remove(child)


def _end_all() -> None:
    for child in list(_LIVE):  # a query never answered (an error, a mode that needs no vector)
        end(child)
