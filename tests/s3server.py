"""A real S3-compatible server on loopback (moto), as pytest fixtures any test can use.

Use it from a test module::

    pytest_plugins = ["s3server"]  # registers the fixtures below

    def test_reads_from_s3(s3_bucket: str, s3_server: S3Server):
        s3_server.put(f"{s3_bucket}/corpus/manifest.jsonl", b'{"id": "a", "text": "hi"}\\n')
        src = open_source(f"{s3_bucket}/corpus/manifest.jsonl",
                          storage_options=s3_server.storage_options)

(or put that line in the root ``tests/conftest.py``). Import helpers such as
:func:`closed_port` inside the test functions: importing this module at the top of a test file
before pytest registers it as a plugin triggers a PytestAssertRewriteWarning. ``s3_server``
starts once per test session (~1.5 s); ``s3_bucket`` is a fresh, empty ``s3://name`` per test.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# With explicit key/secret boto never asks for credentials elsewhere; this also stops it from
# probing the cloud instance-metadata address if a test forgets them.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


@dataclass
class S3Server:
    """A running moto S3 server on 127.0.0.1."""

    endpoint_url: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    _fs: Any = field(default=None, repr=False)

    def fs(self) -> Any:
        """An s3fs filesystem for this server (not the library's cached instance)."""
        import s3fs

        if self._fs is None:
            self._fs = s3fs.S3FileSystem(skip_instance_cache=True, **self.storage_options)
        return self._fs

    def new_bucket(self) -> str:
        """Create an empty bucket; returns ``s3://name``."""
        name = f"test-{uuid.uuid4().hex[:12]}"
        self.fs().mkdir(name)
        return f"s3://{name}"

    def put(self, uri: str, data: bytes) -> str:
        """Write ``data`` to ``uri`` (``s3://bucket/key``); returns the URI."""
        self.fs().pipe_file(uri, data)
        return uri

    def upload(self, local_dir: Path, prefix: str) -> list[str]:
        """Copy every file under ``local_dir`` to ``prefix`` keeping relative paths."""
        fs, uris = self.fs(), []
        for path in sorted(p for p in Path(local_dir).rglob("*") if p.is_file()):
            uri = f"{prefix.rstrip('/')}/{path.relative_to(local_dir).as_posix()}"
            fs.pipe_file(uri, path.read_bytes())
            uris.append(uri)
        return uris


def closed_port() -> int:
    """A loopback TCP port with nothing listening (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A moto S3 server on loopback for the whole test session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        yield S3Server(url, {"endpoint_url": url, "key": "testing", "secret": "testing"})
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A fresh empty bucket (``s3://name``) on the session's S3 server."""
    return s3_server.new_bucket()
