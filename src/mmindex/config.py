"""One typed settings object, built once at the boundary (CLI, flow) and passed down.

Values come from, highest first: explicit arguments, ``MMINDEX_*`` environment variables, the
project config file (``mmindex.toml`` in the working directory, or the file named by
``MMINDEX_CONFIG``), then the defaults below. Nothing else in the library reads ``os.environ``.

:func:`load_settings` is how the boundary builds them: a bad value anywhere (a flag, a variable, a
key in the file) becomes one :class:`~mmindex.errors.ConfigError` that says where it came from;
:func:`value_sources` tells, per setting, which of those places decided its value.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mmindex.errors import ConfigError

DEVICES = "auto, cpu, mps, cuda or cuda:N"
SECRET_FIELDS = ("storage_options", "db_storage_options")


def config_file() -> Path:
    """The settings file: ``$MMINDEX_CONFIG``, else ``mmindex.toml`` in the working directory."""
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

    # evaluation gate (see mmindex.evaluation.gate.GatePolicy)
    gate: dict[str, Any] = Field(
        default_factory=lambda: {"mode": "hybrid", "floors": {"hit@5": 0.80},
                                 "max_drop": {"ndcg@10": 0.005}},
        description="Promotion policy: mode, floors, max_drop, optional significance",
    )
    eval_modes: list[str] = Field(
        default_factory=lambda: ["vector", "fts", "hybrid"], description="Search modes evaluated"
    )

    # two-stage search and diversification (mmindex.search.stages)
    rerank_model: str = Field(
        "qwen3-vl-reranker-2b",
        description="Reranker used by `search --rerank` without a model (a --rerank SPEC)")
    rerank_top: int = Field(50, ge=1, description="First-stage results the reranker rescores")
    diversify_top: int = Field(50, ge=1, description="Results clustered by `--diversify`")
    diversify_clusters: int = Field(5, ge=1, description="k of the k-means `--diversify` runs")

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
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

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
        return data

    @staticmethod
    def redact(data: dict[str, Any]) -> dict[str, Any]:
        """Settings as JSON with each secret option replaced by the word ``set``: which options
        were given, never their values (lineage in ``_runs``, reports)."""
        return {k: ({o: "set" for o in v} if k in SECRET_FIELDS and isinstance(v, dict) else v)
                for k, v in data.items()}

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
            raise ConfigError(_explain(exc, given)) from None


def load_settings(**overrides: Any) -> Settings:
    """The settings from the file and the environment, with the non-None ``overrides`` (flags).

    Raises:
        ConfigError: a value is invalid or a key unknown; the message names where it came from
            (flag, variable or file) and what to do.
    """
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigError(_explain(exc, {})) from None
    return settings.with_overrides(**overrides)


def _file_keys() -> dict[str, Any]:
    path = config_file()
    if not (path.is_file() and path.suffix == ".toml"):
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def value_sources(flags: dict[str, Any] | None = None) -> dict[str, str]:
    """Where each setting's value comes from: ``flag``, ``environment (MMINDEX_X)``,
    ``file (PATH)`` or ``default`` (highest first, as :class:`Settings` resolves them)."""
    flags = {k for k, v in (flags or {}).items() if v is not None}
    in_file = _file_keys()
    out = {}
    for name in Settings.model_fields:
        var = f"MMINDEX_{name.upper()}"
        if name in flags:
            out[name] = "flag"
        elif var in os.environ:
            out[name] = f"environment ({var})"
        elif name in in_file:
            out[name] = f"file ({config_file()})"
        else:
            out[name] = "default"
    return out


def _explain(exc: ValidationError, flags: dict[str, Any]) -> str:
    """One line per invalid value, naming its source, then one Help line."""
    sources = value_sources(flags)
    lines = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "?"
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(name, list(Settings.model_fields), n=1)
            lines.append(f"unknown setting {name!r} in {config_file()}"
                         + (f" (did you mean {close[0]!r}?)" if close else ""))
        else:
            where = sources.get(name, "?")
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{name}={err.get('input')!r} from {where}: {msg}")
    return ("; ".join(lines) + ". Help: `mmindex config --markdown` lists every setting, its "
            "type and default; `mmindex config` shows where each value comes from.")
