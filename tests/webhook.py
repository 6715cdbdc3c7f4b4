"""A loopback webhook receiver for the alert tests: each POST's path and JSON body, recorded."""

from __future__ import annotations

import http.server
import json
import threading


class Webhook:
    """An HTTP server on 127.0.0.1 (a free port) in a daemon thread; :meth:`close` stops it.

    ``posts`` (the JSON bodies) and ``paths`` (path and query) fill as requests arrive."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.paths: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.paths.append(self.path)
                owner.posts.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._server.shutdown()
