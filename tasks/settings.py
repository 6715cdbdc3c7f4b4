"""The settings a flow run uses: one place for the nightly's parameters.

Deployments carry no parameters (infra/prefect.yaml, flows/serve.py): every value comes, highest
first, from an explicit run parameter (``prefect deployment run embed/nightly -p model=...``),
a Prefect Variable ``mmindex_<setting>`` (set in the UI or with ``prefect variable set``), the
worker's ``MMINDEX_*`` environment, the settings file, then the defaults. Before, the nightly's
deployment passed ``model`` and the sample paths as parameters, so ``MMINDEX_MODEL`` in the
worker's environment silently had no effect.
"""

from __future__ import annotations

from typing import Any

from mmindex.config import Settings, load_settings

# what an operator may switch for the next night without redeploying
VARIABLE_SETTINGS = ("model", "db", "nightly_source", "nightly_index", "golden_queries",
                     "golden_qrels", "dims", "device", "executor", "ray_address")


def prefect_variables(names: tuple[str, ...] = VARIABLE_SETTINGS) -> dict[str, Any]:
    """The ``mmindex_<name>`` Prefect Variables that are set, by setting name."""
    from prefect.variables import Variable

    found = {}
    for name in names:
        value = Variable.get(f"mmindex_{name}", default=None)
        if value not in (None, ""):
            found[name] = value
    return found


def run_settings(variables: dict[str, Any] | None = None, **parameters: Any) -> Settings:
    """Settings for one flow run: run parameters (non-None) over Prefect Variables over the
    environment and the settings file."""
    variables = prefect_variables() if variables is None else variables
    return load_settings(**{**variables, **{k: v for k, v in parameters.items()
                                            if v is not None}})
