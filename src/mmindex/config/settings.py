"""The settings object: every field, its default and description, and how it is built."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from mmindex.config.sources import (
    DEFAULT_DB,
    ProjectToml,
    config_file,
    explain,
    secret_option,
)
from mmindex.errors import ConfigError, redact, register_secrets

DEVICES = "auto, cpu, mps, cuda or cuda:N"
SECRET_FIELDS = ("storage_options", "db_storage_options")
SECRET_VALUES = ("voyage_api_key",)  # single secret values: recorded as "set", never in clear


class Settings(BaseSettings):
    """Pipeline settings. See the README's configuration reference."""

    model_config = SettingsConfigDict(env_prefix="MMINDEX_", extra="forbid")

    # where things live
    db: str = Field(DEFAULT_DB, description="LanceDB URI: a local directory or s3://bucket/prefix")
    cache_dir: Path = Field(
        Path.home() / ".cache" / "mmindex",
        description="Where built offline models (tiny-qwen3-vl) and use-multilingual's built "
                    "tokenizer and unpacked weights (85 MB) are cached",
    )
    storage_options: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="fsspec/object-store options for sources and media "
                    "(e.g. endpoint_url, key, secret); secret: shown and recorded masked",
    )
    db_storage_options: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="LanceDB storage options for an object-store db URI; secret: shown and "
                    "recorded masked")

    # model
    model: str = Field("all-minilm-l6-v2", description="Model spec (see `mmindex models`)")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    dims: int | None = Field(None, description="Matryoshka dims to keep (None = full)")
    document_instruction: str | None = Field(None, description="Override the document instruction")
    query_instruction: str | None = Field(None, description="Override the query instruction")
    part_vectors: Literal["auto", "on", "off"] = Field(
        "auto", description="Also store vector_text, vector_image and vector_fused (text alone, "
                            "images alone, their normalised mean): auto = on for two-tower "
                            "models (CLIP, SigLIP); on also for qwen3-vl (3x the model work)")

    # remote-code and API backends (docs/model-families.md)
    trust_remote_code_dirs: list[str] = Field(
        default_factory=list,
        description="Local model folders whose own Python code may run (trust_remote_code): "
                    "jina-clip-v2 / jina-embeddings-v4 load only from a folder listed here")
    voyage_api_key: SecretStr | None = Field(
        None, description="Voyage AI API key (voyage-multimodal-3); secret: shown and recorded "
                          "masked, never written to _runs or logs")
    voyage_base_url: str = Field(
        "https://api.voyageai.com/v1",
        description="Voyage AI API base URL (requests go to BASE/multimodalembeddings)")
    api_timeout_s: float = Field(60.0, gt=0, description="Seconds one API request may take")
    api_max_retries: int = Field(
        5, ge=0, description="Retries of an API request after HTTP 429 (waiting Retry-After), "
                             "5xx or a timeout (exponential backoff); 4xx fails at once")

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
    spool_manifest: bool = Field(
        True, description="Keep a copy of a remote (object-store) manifest in cache_dir/spool "
                          "while a run reads it, so groups on this host do not read the store "
                          "again (needs the manifest's size in free disk)")
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
    max_text_tokens: int = Field(
        8192, description="Text with more tokens is quarantined (text_too_long), or embedded "
                          "truncated when text_overflow is truncate")
    text_overflow: Literal["quarantine", "truncate"] = Field(
        "quarantine", description="Text over max_text_tokens: quarantine it, or embed its first "
                                  "tokens; either way the run counts what the model truncated")
    max_text_bytes: int = Field(
        2**20, ge=1, description="Text over this many UTF-8 bytes is quarantined before any "
                                 "tokenizer reads it (text_too_long)")
    max_record_bytes: int = Field(
        16 * 2**20, ge=1024,
        description="Longest manifest line (JSONL) read; a longer record is quarantined "
                    "(bad_record) without being read whole")
    media_roots: list[str] = Field(
        default_factory=list,
        description="Folders or object-store prefixes media may be read from, besides the "
                    "manifest's own folder (media elsewhere are quarantined: media_refused)")
    media_url_schemes: list[str] = Field(
        default_factory=list,
        description="URL schemes media may be fetched from anywhere (e.g. https); none by "
                    "default, so a manifest cannot make the worker send requests")
    max_media_bytes: int = Field(64 * 1024 * 1024, description="Larger media files are quarantined")
    max_image_pixels: int = Field(
        64_000_000, description="Images with more pixels (before resize) are quarantined"
    )
    max_inflight_bytes: int = Field(
        256 * 1024 * 1024, ge=1, description="Media bytes a worker holds at once (read, plus "
        "3 bytes per decoded pixel), whatever the item count; one larger item still runs alone")

    # figure text (OCR; see docs/ocr.md)
    ocr: bool = Field(False, description="OCR each item's images with tesseract into ocr_text, "
                      "searched by full text and appended to the text a model reads")
    ocr_languages: str = Field("kor+eng", description="tesseract languages for ocr (-l)")
    ocr_timeout_s: float = Field(60.0, gt=0, description="Seconds one image may take to OCR "
                                 "before its item is quarantined (ocr_failed)")
    ocr_budget_s: float | None = Field(
        3600.0, gt=0, description="Seconds of OCR one run may spend (summed over images; each "
        "distinct image is read once per run); past it items are embedded without figure text, "
        "counted as ocr_skipped, and read first by the next run. None: no limit")

    # index
    deletion_policy: Literal["keep", "delete"] = Field(
        "delete", description="Items gone from the source: delete their rows, or keep them"
    )
    ann_min_rows: int = Field(
        50_000, description="Build an ANN index once the table has this many rows"
    )
    fts: bool = Field(True, description="Maintain a full-text index on text")
    fts_metadata_fields: list[str] = Field(
        default_factory=list,
        description="Metadata fields searched by full text with the item text (analysed for "
                    "Korean into fts_text; a change re-analyses the table, no re-embedding)")

    # scale-out (docs/scale-out.md; the pip extra "ray")
    executor: Literal["local", "ray"] = Field(
        "local", description="Where embed groups run: in this process, or on Ray actors")
    ray_address: str | None = Field(
        None, description="Ray cluster to join (host:6379, ray://host:10001, auto); none: "
                          "a local Ray runtime on this machine")
    ray_actors: int = Field(0, ge=0, description="Embedding actors, each loading the model once "
                            "(0: one per GPU of the cluster, else one per ray_num_cpus CPUs)")
    ray_num_gpus: float | None = Field(
        None, ge=0, description="GPUs per actor (default: 1 when the cluster has GPUs, else 0)")
    ray_num_cpus: float = Field(1.0, gt=0, description="CPUs reserved per actor")
    ray_group_retries: int = Field(
        2, ge=0, description="Retries of a group whose actor or node died (library runs; the "
                             "flow's task retries do it there)")

    # evaluation gate (see mmindex.evaluation.gate.GatePolicy)
    gate: dict[str, Any] = Field(
        default_factory=lambda: {"mode": "hybrid", "floors": {"hit@5": 0.80},
                                 "max_drop": {"ndcg@10": 0.005}},
        description="Promotion policy: mode, floors, max_drop, optional significance, "
                    "per-segment rules (segments)",
    )
    eval_modes: list[str] = Field(
        default_factory=lambda: ["vector", "fts", "hybrid"], description="Search modes evaluated"
    )
    multivector_first_stage: int = Field(
        0, ge=0, description="multivector search: re-score the pooled vector's top N by MaxSim "
                             "(0: LanceDB's MaxSim over every row)")

    # two-stage search and diversification (mmindex.search.stages)
    rerank_model: str = Field(
        "qwen3-vl-reranker-2b",
        description="Reranker used by `search --rerank` without a model (a --rerank SPEC)")
    rerank_top: int = Field(50, ge=1, description="First-stage results the reranker rescores")
    max_query_chars: int = Field(10_000, ge=1, description="Longest query text accepted (by "
                                 "`search` and the library); a longer one is refused")
    diversify_top: int = Field(50, ge=1, description="Results clustered by `--diversify`")
    diversify_clusters: int = Field(5, ge=1, description="k of the k-means `--diversify` runs")
    search_prefetch: Literal["auto", "always", "never"] = Field(
        "auto", description="A cold `mmindex search` embeds its text query (with the model the "
        "index used last time) and analyses a Korean one in helper processes while it opens "
        "the index: auto (only when a core is spare), always, never")

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
        path = config_file()
        if path.is_file() and path.suffix == ".toml":
            sources.append(ProjectToml(settings_cls, toml_file=path))
        return tuple(sources)

    def model_post_init(self, context: Any) -> None:
        """Register the secrets, so :func:`~mmindex.errors.redact` masks them in any message."""
        from urllib.parse import urlsplit

        opts = {**self.storage_options, **self.db_storage_options}
        register_secrets(*(v.get_secret_value() for k, v in opts.items() if secret_option(k)),
                         self.voyage_api_key and self.voyage_api_key.get_secret_value(),
                         urlsplit(self.voyage_base_url).password)

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
            raise ValueError(f"not a device name; use {DEVICES}")
        return value

    def fsspec_options(self) -> dict[str, str]:
        """``storage_options`` in clear, for the filesystem that reads sources and media."""
        return {k: v.get_secret_value() for k, v in self.storage_options.items()}

    def lance_options(self) -> dict[str, str]:
        """``db_storage_options`` in clear, for the LanceDB connection."""
        return {k: v.get_secret_value() for k, v in self.db_storage_options.items()}

    def transport(self) -> dict[str, Any]:
        """Every value as JSON, secrets in clear: what a worker task rebuilds the settings from
        (in memory; never recorded, printed or logged)."""
        data = self.model_dump(mode="json")
        data.update(storage_options=self.fsspec_options(), db_storage_options=self.lance_options())
        for name in SECRET_VALUES:
            value = getattr(self, name)
            data[name] = value.get_secret_value() if value is not None else None
        return data

    @staticmethod
    def redact(data: dict[str, Any]) -> dict[str, Any]:
        """Settings as JSON with each secret option replaced by the word ``set``: which options
        were given, never their values (lineage in ``_runs``, reports)."""
        out = {k: ({o: "set" for o in v} if k in SECRET_FIELDS and isinstance(v, dict) else v)
               for k, v in data.items()}
        out.update({k: "set" for k in SECRET_VALUES if out.get(k) is not None})
        return {k: redact(v) if isinstance(v, str) else v for k, v in out.items()}

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the non-None ``overrides`` applied (validated).

        Raises:
            ConfigError: an override is not a valid value.
        """
        data = self.model_dump()
        given = {k: v for k, v in overrides.items() if v is not None}
        data.update(given)
        try:
            return Settings(**data)
        except ValidationError as exc:
            raise ConfigError(explain(exc, given, list(Settings.model_fields))) from None
