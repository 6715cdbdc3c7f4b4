"""GME and VLM2Vec recipes against their official steps on transformers at the official pins.

Neither official code base installs from a package index (GME's ``gme_inference.py`` is a file in
the model's hub repository; VLM2Vec is the GitHub repository ``TIGER-AI-Lab/VLM2Vec``), and CI
reaches only the package index. So ``tests/reference/qwen2vl_official_run.py`` runs, in a scratch
venv with transformers at the version each pins (GME 4.51.3, VLM2Vec 4.52.3; built by
``tests/reference/scratch_venv.sh``, or reused from ``.venv-ref/`` where ``.ci/run``
built it), the library calls the official code makes: the positions come from that
transformers' own Qwen2-VL code, the second resize and the normalisation from its processor.
Same twin weights, float32 on CPU: every vector must equal ours (cosine >= 0.999999).
Before the fix (the recipes as written from the model cards), this test failed: GME image
cosine 0.16-0.99 and a text query 0.93 (the model card's instruction), VLM2Vec image cosine
-0.08-0.35.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmindex.backends import embed_items, load_embedder
from mmindex.items import Item

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent / "reference"
IMAGES = REPO / "data/sample/images"
EXACT = 0.999999
PINS = {"gme": "4.51.3", "vlm2vec": "4.52.3"}
GME_DEFAULT = "You are a helpful assistant."  # gme_inference.py: default_instruction


def _venv(version: str) -> Path:
    venv = REPO / ".venv-ref" / f"transformers-{version}"
    env = dict(os.environ, PYTHON=getattr(sys, "_base_executable", sys.executable))
    try:
        done = subprocess.run(["bash", str(HERE / "scratch_venv.sh"), str(venv),
                               str(HERE / f"transformers-{version}.txt"),
                               site.getsitepackages()[0]],
                              capture_output=True, text=True, timeout=600, env=env)
    except subprocess.TimeoutExpired:
        pytest.skip(f"the transformers {version} scratch venv took over 10 min to build")
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        pytest.skip(f"cannot build the transformers {version} scratch venv (it needs the "
                    f"package index; .ci/run builds it before isolating): {' | '.join(tail)}")
    return venv / "bin" / "python"


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mmindex.backends.twins.qwen2vl import ensure_tiny_qwen2vl

    cache = tmp_path_factory.mktemp("cache")
    ensure_tiny_qwen2vl(cache)
    return cache / "tiny-qwen2-vl"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Transparent stamps (RGBA), a small one, and a wide opaque JPEG."""
    from PIL import Image

    wide = tmp_path_factory.mktemp("img") / "wide.jpg"
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 255, (120, 500, 3), dtype=np.uint8)).save(wide)
    return [str(IMAGES / "animals_frog.png"), str(IMAGES / "animals_owl.png"),
            str(IMAGES / "animals_clownfish.png"), str(wide)]


def _official(family: str, job: dict, tmp: Path) -> np.ndarray:
    python = _venv(PINS[family])
    path, out = tmp / f"{family}.json", tmp / f"{family}.npz"
    path.write_text(json.dumps(job))
    done = subprocess.run([str(python), str(HERE / "qwen2vl_official_run.py"), str(path),
                           str(out)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(out)["vectors"]


def _ours(spec: str, items: list[tuple[str, list[str], str]]) -> np.ndarray:
    emb = load_embedder(spec, device="cpu", reuse=False)
    batch = [Item(f"i{n}", t, images=tuple(p)) for n, (t, p, _) in enumerate(items)]
    out = np.zeros((len(items), emb.full_dims), dtype=np.float32)
    for role in ("document", "query"):  # one batch per role, as a run embeds them
        rows = [n for n, (_, _, r) in enumerate(items) if r == role]
        if rows:
            out[rows] = embed_items(emb, [batch[n] for n in rows], role=role)
    return out


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_gme_equals_its_official_steps(twin: Path, images: list[str], tmp_path: Path) -> None:
    items = [("A frog.", [], "query"), ("광합성 과정을 설명하시오.", [], "document"),
             *[("", [p], "document") for p in images], ("an owl", [images[1]], "document")]
    job = {"family": "gme", "model": str(twin), "min_pixels": 256 * 28 * 28,
           "max_pixels": 1280 * 28 * 28,
           "items": [{"text": t or None, "images": p, "instruction": GME_DEFAULT,
                      "max_length": 1800} for t, p, _ in items]}
    want = _official("gme", job, tmp_path)
    got = _ours(f"vlm:{twin}#gme-qwen2-vl", items)
    assert _cosines(got, want).min() >= EXACT, _cosines(got, want)


def test_vlm2vec_equals_its_official_steps(twin: Path, images: list[str],
                                           tmp_path: Path) -> None:
    # the MMEB evaluation's strings (process_input_text, then " \n" -> "\n", plus "\n")
    query = "Find me an everyday image that matches the given caption"
    items = [("A frog.", [], "query"), ("광합성 과정을 설명하시오.", [], "query"),
             *[("", [p], "document") for p in images], ("an owl", [images[1]], "document")]
    prompts = [f"{query}: A frog.\n", f"{query}: 광합성 과정을 설명하시오.\n",
               *["<|image_pad|>\nRepresent the given image.\n"] * len(images),
               "<|image_pad|>\nRepresent the given image: an owl\n"]
    job = {"family": "vlm2vec", "model": str(twin), "min_pixels": 4 * 28 * 28,
           "max_pixels": 1280 * 28 * 28,
           "items": [{"prompt": s, "images": p} for s, (_, p, _) in
                     zip(prompts, items, strict=True)]}
    want = _official("vlm2vec", job, tmp_path)
    got = _ours(f"vlm:{twin}#vlm2vec-qwen2vl", items)
    assert _cosines(got, want).min() >= EXACT, _cosines(got, want)
