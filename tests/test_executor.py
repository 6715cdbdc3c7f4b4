"""The executor setting without a Ray cluster (default suite, seconds): the local path never
imports Ray, the CLI's flags, and a dead cluster address fails fast and is retried by the flow.
The Ray executor itself runs on a real two-node cluster in tests/test_ray.py (marker ray)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmindex.config import Settings
from mmindex.errors import WorkerLostError, is_transient

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "manifest.jsonl"


def test_the_local_executor_never_imports_ray(tmp_path):
    code = ("import sys; from mmindex.cli import main\n"
            f"rc = main(['embed', {str(SAMPLE)!r}, '--index', 's', '--model', 'hash', '--db', "
            f"{str(tmp_path / 'db')!r}, '--no-prefect', '--json'])\n"
            "print('RAY-IMPORTED' if 'ray' in sys.modules else 'NO-RAY', rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("NO-RAY 0")


def test_ray_address_without_the_ray_executor_is_refused(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mmindex", "embed", str(SAMPLE), "--index", "s",
                          "--model", "hash", "--db", str(tmp_path / "db"), "--no-prefect",
                          "--ray-address", "127.0.0.1:6379"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "--ray-address is for the Ray executor" in out.stderr and "Help:" in out.stderr


def test_executor_settings_are_validated():
    assert Settings().executor == "local"
    with pytest.raises(ValueError):
        Settings(executor="dask")


def test_a_dead_cluster_address_fails_in_seconds_and_is_transient(tmp_path):
    pytest.importorskip("ray")
    import socket

    from mmindex.cluster.pool import connect

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(WorkerLostError, match=f"127.0.0.1:{port}") as err:
        connect(Settings(db=str(tmp_path / "db"), executor="ray",
                         ray_address=f"127.0.0.1:{port}"))
    assert time.monotonic() - t0 < 15
    assert is_transient(err.value)  # the flow's task retries try again
