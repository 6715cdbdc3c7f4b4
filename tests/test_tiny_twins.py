"""The offline twins whose tokenizers are made here are the same files on every build.

Each build runs in its own process, as on two machines (Ray actors on several nodes each build
their own twin): a tokenizer trained with ``tokenizers``' BPE trainer came out different on every
run, so two nodes embedded the same text with different token ids.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

BUILD = {
    "clip": "from mmindex.backends.twins.twotower import build_tiny_two_tower as b; b(OUT, 'clip')",
    "siglip": "from mmindex.backends.twins.twotower import build_tiny_two_tower as b; "
              "b(OUT, 'siglip')",
    "colpali": "from mmindex.backends.twins.colpali import build_tiny_late_interaction as b; "
               "b(OUT, 'colpali')",
    # the XLM-R SentencePiece model of the e5 / bge-m3 look-alikes (make-tiny-model --like)
    "e5-like": "from mmindex.backends.twins.like import build_like as b; "
               "b('intfloat/multilingual-e5-large', OUT)",
}


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("family", list(BUILD))
@pytest.mark.slow
def test_two_builds_in_two_processes_are_identical(family: str, tmp_path: Path) -> None:
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        code = f"OUT = {str(out)!r}\n{BUILD[family]}"
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                       timeout=300)
    first, second = (_digests(o) for o in outs)
    assert {"model.safetensors", "config.json"} <= set(first)
    assert any(name.startswith(("tokenizer", "spiece")) for name in first)
    assert first == second
