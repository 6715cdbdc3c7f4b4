"""voyage-multimodal-3 over Voyage AI's HTTP API (no local weights)."""

from __future__ import annotations

from typing import Any

from mmindex.backends.family import Family, Model, Request


def _build(r: Request):
    from mmindex.backends.voyage import VoyageEmbedder

    s = r.settings
    if s is None:
        from mmindex.config import Settings

        s = Settings()
    key = s.voyage_api_key
    return VoyageEmbedder(r.model_id, api_key=key.get_secret_value() if key else None,
                          base_url=s.voyage_base_url, timeout_s=s.api_timeout_s,
                          max_retries=s.api_max_retries)


def _key(settings: Any) -> tuple:
    if settings is None:
        return ()
    key = settings.voyage_api_key
    return (key.get_secret_value() if key else None, settings.voyage_base_url,
            settings.api_timeout_s, settings.api_max_retries)


FAMILY = Family(
    name="voyage", build=_build, prefixes=("voyage",), label="voyage (API)", cache_key=_key,
    weights_note="HTTP API (no local weights; needs voyage_api_key)",
    models=(Model("voyage-multimodal-3", "voyage-multimodal-3", ("text", "image"), 1024,
                  label="voyage (API)"),))
