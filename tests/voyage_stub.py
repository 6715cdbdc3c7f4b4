"""A loopback stand-in for Voyage AI's multimodal embeddings endpoint (tests only).

Implements the documented format of ``POST /v1/multimodalembeddings`` (bearer key; ``model``;
``inputs`` of ``{"content": [{"type": "text"|"image_base64"|"image_url", ...}]}``; ``input_type``
null/query/document; at most 1,000 inputs) and answers with deterministic vectors: each
input's vector is seeded by a hash of its ``input_type`` and content, so a test can recompute what
the real service's contract promises (same input, same vector; order kept). ``faults`` is a
queue of scripted failures (``(429, retry_after)`` or ``(500, None)``, or ``(status, None, body)``
with a raw body, e.g. an HTML page) served before real answers; ``raw_after`` answers every
request after that many with a raw body (a broken proxy); ``echo_key`` makes every error body
quote the key the request sent (as careless servers do). Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

DIMS = 1024
TYPES = {"text": "text", "image_base64": "image_base64", "image_url": "image_url"}


def stub_vector(content: list[dict], input_type: str | None) -> np.ndarray:
    """The stub's vector for one input: a unit vector seeded by its content and input type."""
    key = json.dumps([input_type, content], sort_keys=True, ensure_ascii=False).encode()
    seed = int.from_bytes(hashlib.sha256(key).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(DIMS).astype(np.float32)
    return v / np.linalg.norm(v)


def _invalid(body: dict) -> str | None:
    if body.get("model") != "voyage-multimodal-3":
        return f"unknown model {body.get('model')!r}"
    if body.get("input_type") not in (None, "query", "document"):
        return "input_type must be null, query or document"
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not 1 <= len(inputs) <= 1000:
        return "inputs must be a list of 1 to 1000 items"
    for item in inputs:
        content = item.get("content") if isinstance(item, dict) else None
        if not isinstance(content, list) or not content:
            return "each input needs a non-empty content list"
        for part in content:
            kind = part.get("type")
            if kind not in TYPES or not isinstance(part.get(TYPES[kind]), str):
                return f"bad content part {part!r:.80}"
            if kind == "image_base64":
                head, _, data = part["image_base64"].partition(";base64,")
                if head not in ("data:image/png", "data:image/jpeg", "data:image/webp",
                                "data:image/gif"):
                    return "image_base64 must be a data URL of PNG, JPEG, WebP or GIF"
                base64.b64decode(data, validate=True)
            if kind == "text" and "POISON" in part["text"]:
                return "the stub refuses text containing POISON (a 400 test)"
    return None


class VoyageStub:
    """``with VoyageStub(key) as stub: stub.base_url`` -> ``http://127.0.0.1:PORT/v1``."""

    def __init__(self, api_key: str = "test-key"):
        self.api_key = api_key
        self.faults: list[tuple[int, str | None]] = []
        self.fail_after: int | None = None  # after this many answered requests: 503 forever
        self.raw_after: tuple[int, int, bytes] | None = None  # (after, status, body) forever
        self.echo_key = False
        self.answered = 0
        self.requests: list[dict] = []  # accepted and refused request bodies, in order
        self.headers: list[dict] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                with stub._lock:
                    stub.headers.append(dict(self.headers))
                    status, payload, extra = stub._answer(self.path, self.headers, raw)
                    stub.statuses.append(status)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "text/html" if isinstance(payload, bytes)
                                 else "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def _answer(self, path, headers, raw):
        status, payload, extra = self._answer_plain(path, headers, raw)
        if self.echo_key and status >= 400 and isinstance(payload, dict):
            sent = (headers.get("authorization") or "").removeprefix("Bearer ")
            payload = {"detail": f"{payload['detail']} (request key: {sent})"}
        return status, payload, extra

    def _answer_plain(self, path, headers, raw):
        if path != "/v1/multimodalembeddings":
            return 404, {"detail": "not found"}, {}
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"detail": "Provided API key is invalid."}, {}
        body = json.loads(raw)
        self.requests.append(body)
        if self.faults:
            status, retry_after, *body = self.faults.pop(0)
            extra = {"retry-after": retry_after} if retry_after is not None else {}
            return status, body[0] if body else {"detail": f"injected {status}"}, extra
        if self.raw_after is not None and self.answered >= self.raw_after[0]:
            return self.raw_after[1], self.raw_after[2], {}
        if self.fail_after is not None and self.answered >= self.fail_after:
            return 503, {"detail": "injected outage"}, {}
        problem = _invalid(body)
        if problem:
            return 400, {"detail": problem}, {}
        self.answered += 1
        data = [{"object": "embedding", "index": i,
                 "embedding": stub_vector(x["content"], body.get("input_type")).tolist()}
                for i, x in enumerate(body["inputs"])]
        return 200, {"object": "list", "data": data, "model": body["model"],
                     "usage": {"text_tokens": 0, "image_pixels": 0, "total_tokens": 0}}, {}

    def __enter__(self) -> VoyageStub:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
