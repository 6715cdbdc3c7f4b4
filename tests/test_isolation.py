"""The suite runs where only loopback exists (scripts/isolated.sh, used by scripts/test.sh and
.ci/run): a connection to any other address fails at once. Run outside such a namespace with
plain ``pytest``, this test fails and says so, instead of the suite passing unguarded; where
scripts/isolated.sh could not make a namespace (not root, no unshare) it said so once and set
MMINDEX_TEST_ISOLATION=none, and this test skips with that reason."""

from __future__ import annotations

import errno
import os
import socket

import pytest

from bench import netns

# documentation ranges (RFC 5737 / RFC 3849): no host of anyone's; inside the namespace no
# packet can leave anyway, and outside it this test stops before any TCP connect
TEST_NET = [("198.51.100.7", socket.AF_INET), ("2001:db8::7", socket.AF_INET6)]


def test_the_suite_runs_in_a_loopback_only_network_namespace() -> None:
    if not netns.isolated():
        if os.environ.get("MMINDEX_TEST_ISOLATION") == "none":
            pytest.skip("scripts/isolated.sh could not make a namespace here (it said why)")
        pytest.fail(f"the suite is running with the machine's network: {netns.why_not()}")
    assert netns.interfaces() == ["lo"]
    for addr, family in TEST_NET:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(family, kind) as s, pytest.raises(OSError) as err:
                s.settimeout(2)
                s.connect((addr, 9))
            assert err.value.errno == errno.ENETUNREACH, (addr, kind, err.value)


def test_loopback_still_works_inside() -> None:
    for host, family in (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)):
        with socket.socket(family, socket.SOCK_STREAM) as srv:
            srv.bind((host, 0))
            srv.listen(1)
            with socket.create_connection(srv.getsockname()[:2], timeout=5) as c:
                peer, _ = srv.accept()
                c.sendall(b"ok")
                assert peer.recv(2) == b"ok"
                peer.close()


def test_bench_cases_that_start_servers_refuse_where_no_namespace_can_be_made(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from bench import runner
    from mmindex.errors import ConfigError

    # a machine with an outward interface where this process may not unshare (not root)
    monkeypatch.setattr(netns, "interfaces", lambda: ["lo", "eth0"])
    monkeypatch.setattr(netns, "can_isolate", lambda: False)
    for case in ("scaleout", "orchestration"):
        with pytest.raises(ConfigError, match="loopback-only network namespace.*eth0"):
            runner.run_bench([case], tmp_path / case, quick=True)
        assert not (tmp_path / case).exists()  # refused before anything ran
    with pytest.raises(RuntimeError, match="refused, not in a loopback-only"):
        netns.require("the Ray nodes")
    # where it can be made, the case's child process is started inside one
    assert netns.wrap(["python", "-m", "bench"])[:2] == ["unshare", "-n"]
