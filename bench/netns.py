"""Is this process in a loopback-only network namespace? (scripts/isolated.sh makes one.)

The project's rule: tests and benchmarks talk to loopback only. ``scripts/test.sh`` and
``.ci/run`` run the suite inside a namespace whose only interface is ``lo``; there a connection
to any other address fails at once ("Network is unreachable"). What starts servers that pick
their own addresses (Ray binds its nodes to the machine's interface address when it has one)
refuses to run outside such a namespace: :func:`require`. The bench runner starts those cases
in a namespace of their own when it can (:func:`wrap`).

Shared by ``tests/`` and ``bench/`` (one definition); the library never needs it.
"""

from __future__ import annotations

import os
import shutil
import socket

HOW = ("run it through scripts/isolated.sh (root + unshare: a network namespace with only "
       "loopback), as scripts/test.sh and .ci/run do")


def interfaces() -> list[str]:
    """Names of this namespace's network interfaces (no traffic: a netlink read)."""
    return [name for _, name in socket.if_nameindex()]


def isolated() -> bool:
    """True when loopback is the only interface, so no address but 127/8 and ::1 is reachable."""
    return set(interfaces()) <= {"lo"}


def why_not() -> str:
    """One line: which interfaces make this process not isolated, and what to do."""
    others = [n for n in interfaces() if n != "lo"]
    return f"not in a loopback-only network namespace (interfaces: {', '.join(others)}); {HOW}"


def can_isolate() -> bool:
    """Whether :func:`wrap` can make a namespace here (root, unshare and ip present)."""
    return os.geteuid() == 0 and bool(shutil.which("unshare")) and bool(shutil.which("ip"))


def wrap(cmd: list[str]) -> list[str]:
    """``cmd`` run in a fresh loopback-only namespace (what scripts/isolated.sh does)."""
    return ["unshare", "-n", "bash", "-c", 'ip link set lo up && exec "$@"', "_", *cmd]


def require(what: str) -> None:
    """Raise RuntimeError when ``what`` (e.g. "the Ray tests") would run outside isolation."""
    if not isolated():
        raise RuntimeError(f"{what} start servers that bind to the machine's own address: "
                           f"refused, {why_not()}")
