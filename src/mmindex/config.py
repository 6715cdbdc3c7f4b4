"""One typed settings object, built once at the boundary (CLI, flow) and passed down.

Values come from, highest first: explicit arguments, ``MMINDEX_*`` environment variables, the
project config file (``mmindex.toml`` in the working directory, or the file named by
``MMINDEX_CONFIG``), then the defaults below. Nothing else in the library reads ``os.environ``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _config_file() -> Path:
    return Path(os.environ.get("MMINDEX_CONFIG", "mmindex.toml"))


class Settings(BaseSettings):
    """Pipeline settings. See the README's configuration reference."""

    model_config = SettingsConfigDict(env_prefix="MMINDEX_", extra="forbid")

    # where things live
    db: str = Field(".mmindex/db", description="LanceDB URI: a local directory or s3://bucket/prefix")
    cache_dir: Path = Field(
        Path.home() / ".cache" / "mmindex",
        description="Where built offline models (tiny-qwen3-vl) are cached",
    )
    storage_options: dict[str, str] = Field(
        default_factory=dict,
        description="fsspec/object-store options for sources and media "
                    "(e.g. endpoint_url, key, secret)",
    )
    db_storage_options: dict[str, str] = Field(
        default_factory=dict, description="LanceDB storage options for an object-store db URI"
    )

    # model
    model: str = Field("all-minilm-l6-v2", description="Model spec (see `mmindex models`)")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    dims: int | None = Field(None, description="Matryoshka dims to keep (None = full)")
    document_instruction: str | None = Field(None, description="Override the document instruction")
    query_instruction: str | None = Field(None, description="Override the query instruction")

    # batching
    token_budget: int = Field(16384, description="Max padded tokens per batch (n x longest)")
    gpu_memory_fraction: float = Field(
        0.8, gt=0, le=1,
        description="On CUDA, the token budget is lowered to fit this share of free GPU memory "
                    "(bytes per token measured by a probe batch at plan time)")
    pixel_budget: int = Field(
        8 * 1024 * 1024, description="Max resized image/video pixels per batch"
    )
    max_batch_items: int = Field(64, description="Max items per batch")
    sort_window: int = Field(4096, description="Items sorted by cost together before batching")
    group_items: int = Field(
        20_000, description="Items per embed task (a Prefect task run per group, never per item)"
    )
    read_chunk_rows: int = Field(4096, description="Manifest rows read per streaming chunk")
    prep_workers: int = Field(
        2, description="CPU threads decoding/preprocessing ahead of the model"
    )
    model_threads: int | None = Field(
        None, ge=1,
        description="torch threads for a CPU model (default: torch's, all cores); fewer leaves "
                    "cores to decoding, which otherwise competes with the model")
    prefetch_batches: int = Field(4, description="Prepared batches queued ahead of the model")
    stage_rows: int = Field(8192, description="Rows buffered before a staging write")

    # bad input limits
    max_text_tokens: int = Field(8192, description="Longer text is quarantined (text_too_long)")
    max_media_bytes: int = Field(64 * 1024 * 1024, description="Larger media files are quarantined")
    max_image_pixels: int = Field(
        64_000_000, description="Images with more pixels (before resize) are quarantined"
    )

    # index
    deletion_policy: Literal["keep", "delete"] = Field(
        "delete", description="Items gone from the source: delete their rows, or keep them"
    )
    ann_min_rows: int = Field(
        50_000, description="Build an ANN index once the table has this many rows"
    )
    fts: bool = Field(True, description="Maintain a full-text index on text")

    # evaluation gate (see mmindex.evaluation.gate.GatePolicy)
    gate: dict[str, Any] = Field(
        default_factory=lambda: {"mode": "hybrid", "floors": {"hit@5": 0.80},
                                 "max_drop": {"ndcg@10": 0.005}},
        description="Promotion policy: mode, floors, max_drop, optional significance",
    )
    eval_modes: list[str] = Field(
        default_factory=lambda: ["vector", "fts", "hybrid"], description="Search modes evaluated"
    )

    # the nightly deployment's defaults (paths relative to the repo / working directory)
    nightly_source: str = Field(
        "data/sample/manifest.jsonl", description="What embed/nightly reads"
    )
    nightly_index: str = Field("sample", description="The index embed/nightly writes")
    golden_queries: str | None = Field(
        "data/sample/golden/queries.jsonl", description="Golden queries the nightly gate uses"
    )
    golden_qrels: str | None = Field(
        "data/sample/golden/qrels.tsv", description="Golden qrels the nightly gate uses"
    )
    nightly_cron: str = Field("0 2 * * *", description="When embed/nightly runs (cron)")
    timezone: str = Field("UTC", description="Timezone of nightly_cron (IANA name)")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path.is_file() and path.suffix == ".toml":
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the non-None ``overrides`` applied (validated)."""
        data = self.model_dump()
        data.update({k: v for k, v in overrides.items() if v is not None})
        return Settings(**data)
