"""Benchmark inputs: the Vaswani corpus (real text) and synthetic texts, images and vectors.

Synthetic data is deterministic (fixed seeds), so two runs of the bench measure the same work.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from bench.common import write_jsonl

VASWANI = Path("/work/shared/data/vaswani_npl")
_WORDS = ("energy light atom field wave electron matrix theory measure quantum signal "
          "linear "
          "circuit network growth plant cell water heat motion force mass charge time space "
          "number graph prime angle triangle circle square area volume ratio rate speed "
          "광합성 에너지 전자 분자 원자 함수 방정식 확률 통계 그래프").split()


class Skip(Exception):
    """A case cannot run here (missing data, no GPU); the message says why."""


def vaswani_corpus(work: Path, limit: int | None = None, src: Path = VASWANI) -> Path:
    """The Vaswani abstracts as a BEIR ``corpus.jsonl`` (first ``limit`` docs when given).

    Raises:
        Skip: the collection or :func:`mmindex.evaluation.trec.trec_to_beir` is not available.
    """
    try:
        from mmindex.evaluation.trec import trec_to_beir
    except ImportError as e:
        raise Skip(f"mmindex.evaluation.trec.trec_to_beir is not available ({e})") from e
    if not src.is_dir():
        raise Skip(f"{src} not found: the Vaswani collection is needed for this case")
    beir = trec_to_beir(src, work / "vaswani_beir")
    corpus = beir / "corpus.jsonl"
    if limit is None:
        return corpus
    out = work / f"vaswani_{limit}" / "corpus.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(corpus, encoding="utf-8") as fi, open(out, "w", encoding="utf-8") as fo:
        for i, line in enumerate(fi):
            if i >= limit:
                break
            fo.write(line)
    return out


def corpus_texts(corpus: Path) -> list[str]:
    """Texts of a BEIR corpus, as a run embeds them (title is empty for Vaswani)."""
    with open(corpus, encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def synthetic_text(i: int, rng: random.Random, version: int = 0) -> str:
    n = rng.randint(6, 18)
    words = " ".join(rng.choice(_WORDS) for _ in range(n))
    return f"item {i} v{version}: {words}" if version else f"item {i}: {words}"


def text_manifest(path: Path, n: int, *, seed: int = 7, changed: set[int] = frozenset()) -> Path:
    """``n`` short text items (6-18 words); items in ``changed`` get a different text."""
    rng = random.Random(seed)
    return write_jsonl(path, ({"id": f"doc-{i:07d}",
                               "text": synthetic_text(i, rng, 1 if i in changed else 0)}
                              for i in range(n)))


def image_manifest(root: Path, n: int, *, seed: int = 11) -> Path:
    """``n`` items, each a PNG of a different size (64..352 px sides) plus a caption.

    The images are noisy gradients (so PNG decoding does real work) with a few shapes on them.
    """
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    img_dir = root / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        w, h = (int(v) for v in rng.integers(64, 353, size=2))
        ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
        base = ramp + rng.normal(0, 25, (h, w, 3))
        im = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
        draw = ImageDraw.Draw(im)
        for _ in range(3):
            x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            draw.rectangle([x0, y0, x0 + w // 4, y0 + h // 4], fill=colour)
        name = f"img_{i:05d}.png"
        im.save(img_dir / name)
        picks = rng.integers(0, len(_WORDS), int(rng.integers(4, 16)))
        words = " ".join(_WORDS[int(k)] for k in picks)
        rows.append({"id": f"img-{i:05d}", "text": f"figure {i}: {words}",
                     "image": f"images/{name}"})
    return write_jsonl(root / "manifest.jsonl", rows)


def clustered_vectors(n: int, dims: int, *, clusters: int = 1000, seed: int = 3,
                      latent: int = 64, spread: float = 0.6, noise: float = 0.05,
                      chunk: int = 50_000) -> np.ndarray:
    """``n`` unit vectors shaped like embeddings (float32, row-normalised).

    Points are drawn around ``clusters`` centres in a ``latent``-dimensional space, mapped to
    ``dims`` by one fixed random linear map, plus a little isotropic noise. Real embeddings are
    clustered (topics) and of low intrinsic dimension; uniform random vectors, or isotropic
    clusters in the full dimension, make every neighbour almost equally far and are the worst
    case for IVF/PQ, which says little about a real index.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, latent)).astype(np.float32)
    proj = (rng.standard_normal((latent, dims)) / np.sqrt(latent)).astype(np.float32)
    out = np.empty((n, dims), dtype=np.float32)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        z = centres[rng.integers(0, clusters, b - a)]
        z = z + spread * rng.standard_normal((b - a, latent)).astype(np.float32)
        v = z @ proj + noise * rng.standard_normal((b - a, dims)).astype(np.float32)
        out[a:b] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out
