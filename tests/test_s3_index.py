"""Every CLI command against an index on S3 (a real moto server on loopback), with the storage
options given once, in the settings file: the database is opened one way everywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from s3server import S3Server

pytest_plugins = ["s3server"]

# moto takes any credentials; these are recognisable wherever they would leak
KEY_ID, SECRET = "AKIAMMINDEXTEST0001", "s3cr3t/mmindex+Zq9-never-shown"
OUTPUTS: list[str] = []

DOCS = {
    "p1": "penguins are flightless seabirds of the southern hemisphere",
    "p2": "a violin is a bowed string instrument",
    "p3": "the trumpet is a brass instrument",
    "p4": "photosynthesis turns light into chemical energy",
}


def write_manifest(path: Path, docs: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in docs.items()))
    return path


@pytest.fixture
def s3_config(tmp_path: Path, s3_server: S3Server, s3_bucket: str) -> dict[str, str]:
    """The environment of a user whose settings file points at an S3 database."""
    config = tmp_path / "mmindex.toml"
    config.write_text(
        f'db = "{s3_bucket}/lancedb"\n'
        'model = "hash"\n'
        f'cache_dir = "{tmp_path / "cache"}"\n'
        "[db_storage_options]\n"
        f'aws_access_key_id = "{KEY_ID}"\n'
        f'aws_secret_access_key = "{SECRET}"\n'
        f'aws_endpoint = "{s3_server.endpoint_url}"\n'
        'aws_region = "us-east-1"\n'
        'allow_http = "true"\n'
    )
    return {**os.environ, "MMINDEX_CONFIG": str(config), "AWS_EC2_METADATA_DISABLED": "true"}


def mmindex(env: dict[str, str], *args: str) -> dict:
    """``python -m mmindex ARGS --json`` in a fresh process; its JSON output."""
    p = subprocess.run([sys.executable, "-m", "mmindex", *args, "--json"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"mmindex {' '.join(args)} exited {p.returncode}:\n{p.stderr[-3000:]}"
    OUTPUTS.extend([p.stdout, p.stderr])
    return json.loads(p.stdout)


@pytest.mark.slow
def test_every_command_works_on_an_s3_index(tmp_path: Path, s3_config: dict[str, str],
                                            s3_server: S3Server, s3_bucket: str) -> None:
    env = s3_config
    src = write_manifest(tmp_path / "manifest.jsonl", DOCS)
    queries, qrels = tmp_path / "queries.jsonl", tmp_path / "qrels.tsv"
    queries.write_text('{"_id": "q1", "text": "penguins seabirds"}\n'
                       '{"_id": "q2", "text": "brass trumpet"}\n')
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\tp1\t1\nq2\tp3\t1\n")

    first = mmindex(env, "embed", str(src), "--index", "exams", "--no-prefect")
    assert first["embedded"] == 4 and first["version"] is not None
    assert s3_server.fs().ls(f"{s3_bucket}/lancedb"), "the index was not written to S3"

    report = mmindex(env, "evaluate", "--index", "exams", "--version", str(first["version"]),
                     "--queries", str(queries), "--qrels", str(qrels), "--no-gate")
    assert report["metrics"]["fts"]["hit@1"] == 1.0  # BM25 finds both: the table was read

    mmindex(env, "promote", "--index", "exams", "--version", str(first["version"]),
            "--reason", "first version")
    hits = mmindex(env, "search", "--index", "exams", "penguins", "--mode", "fts")
    assert hits["version"] == first["version"] and hits["results"][0]["id"] == "p1"

    write_manifest(src, {**DOCS, "p5": "a cello is a large bowed string instrument"})
    second = mmindex(env, "embed", str(src), "--index", "exams", "--no-prefect")
    assert second["inserted"] == 1 and second["version"] > first["version"]
    mmindex(env, "promote", "--index", "exams", "--version", str(second["version"]),
            "--reason", "second version")

    back = mmindex(env, "rollback", "--index", "exams", "--reason", "check rollback")
    assert back["version"] == first["version"]
    info = mmindex(env, "versions", "--index", "exams")
    assert info["production"]["version"] == first["version"]
    assert [r["status"] for r in info["runs"]] == ["committed", "committed"]

    out = mmindex(env, "maintain", "--index", "exams", "--older-than-days", "0")
    [(table, stats)] = out.items()
    assert "production" in stats["tags"] and stats["versions_after"] <= stats["versions_before"]
    hits = mmindex(env, "search", "--index", "exams", "cello", "--mode", "fts")
    assert "p5" not in [r["id"] for r in hits["results"]]  # production is the first version

    # The credentials were used, and are nowhere: not in any output, nor in any table.
    config = mmindex(env, "config")
    assert config["settings"]["db_storage_options"]["source"].startswith("file")
    assert set(config["settings"]["db_storage_options"]["value"]) >= {"aws_secret_access_key"}
    import lancedb

    from mmindex.config import load_settings

    os.environ["MMINDEX_CONFIG"] = env["MMINDEX_CONFIG"]
    try:
        opts = load_settings().lance_options()
    finally:
        os.environ["MMINDEX_CONFIG"] = os.devnull
    db = lancedb.connect(f"{s3_bucket}/lancedb", storage_options=opts)
    tables = db.list_tables().tables
    assert {"_runs", "_registry", "_evaluations"} <= set(tables)
    everything = "".join(OUTPUTS) + "".join(
        str(db.open_table(t).to_arrow().to_pylist()) for t in tables if t.startswith("_"))
    for secret in (KEY_ID, SECRET):
        assert secret not in everything and json.dumps(secret)[1:-1] not in everything
    runs = db.open_table("_runs").to_arrow().to_pylist()
    recorded = json.loads(runs[-1]["config"])["settings"]["db_storage_options"]
    assert recorded["aws_secret_access_key"] == "set"  # which options were set, not values
