"""Production pointer: promote, reject, rollback, time travel, maintenance keeps tagged versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mmindex
from mmindex import index as ix
from mmindex.config import Settings
from mmindex.errors import IndexNotFoundError
from mmindex.index import connect, ledger
from mmindex.index.maintenance import maintain
from mmindex.pipeline import run_embed


def manifest(path: Path, texts: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in texts.items()))
    return path


@pytest.fixture
def env(tmp_path: Path):
    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "cache")
    src = manifest(tmp_path / "m.jsonl", {"a": "alpha particles", "b": "beta decay"})
    return s, src, connect(s)


def test_readers_see_production_only(env):
    s, src, db = env
    v1 = run_embed(str(src), "idx", s)
    with pytest.raises(IndexNotFoundError, match="no production version"):
        mmindex.open_index("idx", s.db)
    ix.promote(db, "idx", v1.table, v1.version, reason="first")
    manifest(src, {"a": "alpha particles", "b": "beta decay", "c": "gamma rays"})
    v2 = run_embed(str(src), "idx", s)  # candidate, not evaluated yet
    idx = mmindex.open_index("idx", s.db)
    assert idx.version == v1.version and sorted(idx.to_polars()["id"]) == ["a", "b"]
    assert db.open_table(v2.table).version == v2.version  # the head holds the candidate
    raw = db.open_table(v1.table)
    raw.checkout(ix.PRODUCTION_TAG)  # the documented raw-LanceDB way
    assert raw.count_rows() == 2
    cand = mmindex.open_index("idx", s.db, version=v2.version)  # time travel / inspection
    assert cand.to_polars().height == 3


def test_reject_keeps_candidate_for_inspection_and_restores_head(env):
    s, src, db = env
    v1 = run_embed(str(src), "idx", s)
    ix.promote(db, "idx", v1.table, v1.version)
    manifest(src, {"a": "alpha particles", "b": "CHANGED"})
    v2 = run_embed(str(src), "idx", s)
    ix.reject(db, "idx", v2.table, v2.version, reason="ndcg dropped")
    tbl = db.open_table(v1.table)
    assert tbl.tags.list()[f"rejected-v{v2.version}"]["version"] == v2.version
    assert tbl.count_rows() == 2 and mmindex.open_index("idx", s.db).version == v1.version
    # the head is production again, so the next run re-derives its changes from production
    again = run_embed(str(src), "idx", s)
    assert again.embedded == 1 and again.updated == 1


def test_rollback_restores_previous_production_in_one_call(env):
    s, src, db = env
    v1 = run_embed(str(src), "idx", s)
    ix.promote(db, "idx", v1.table, v1.version)
    manifest(src, {"a": "alpha particles", "b": "beta decay", "c": "gamma rays"})
    v2 = run_embed(str(src), "idx", s)
    ix.promote(db, "idx", v2.table, v2.version)
    assert mmindex.open_index("idx", s.db).to_polars().height == 3
    ev = ix.rollback(db, "idx", reason="bad night")
    assert (ev["table_name"], ev["version"]) == (v1.table, v1.version)
    assert mmindex.open_index("idx", s.db).to_polars().height == 2
    actions = [e["action"] for e in ledger.events(db, "idx")]
    assert actions == ["promote", "promote", "rollback"]


def test_model_change_is_a_new_table_and_production_moves_only_on_promote(env, tmp_path):
    s, src, db = env
    v1 = run_embed(str(src), "idx", s)
    ix.promote(db, "idx", v1.table, v1.version)
    s8 = s.with_overrides(dims=8)
    v2 = run_embed(str(src), "idx", s8)
    assert v2.table != v1.table and v2.table.endswith("__d8")
    assert mmindex.open_index("idx", s.db).table_name == v1.table
    ix.promote(db, "idx", v2.table, v2.version)
    idx = mmindex.open_index("idx", s.db)
    assert idx.table_name == v2.table and idx.dims == 8


def test_maintenance_never_deletes_promoted_or_rejected_versions(env):
    s, src, db = env
    v1 = run_embed(str(src), "idx", s)
    ix.promote(db, "idx", v1.table, v1.version)
    for i in range(3):
        manifest(src, {"a": f"alpha {i}", "b": "beta decay"})
        v = run_embed(str(src), "idx", s)
        (ix.promote if i != 1 else ix.reject)(db, "idx", v.table, v.version)
    tags = db.open_table(v1.table).tags.list()
    out = maintain(db, "idx", older_than_days=0)
    assert out[v1.table]["versions_after"] < out[v1.table]["versions_before"]
    tbl = db.open_table(v1.table)
    for tag, info in tags.items():  # every tagged version still reads back whole (lance#8705)
        tbl.checkout(info["version"])
        assert tbl.to_arrow().num_rows == 2, tag
    tbl.checkout_latest()
    assert mmindex.open_index("idx", s.db).to_polars()["text"].to_list().count("alpha 2") == 1


def test_search_modes_return_ranked_rows(env):
    s, src, db = env
    manifest(src, {"a": "alpha particles and helium nuclei", "b": "beta decay of neutrons",
                   "c": "gamma rays are photons"})
    v = run_embed(str(src), "idx", s)
    ix.promote(db, "idx", v.table, v.version)
    idx = mmindex.open_index("idx", s.db)
    for mode in ("vector", "ann", "fts", "hybrid"):
        df = idx.search("beta decay", k=2, mode=mode)
        assert df["id"][0] == "b", mode
        assert df.columns[:2] == ["id", "score"]
        assert df.height == (1 if mode == "fts" else 2), mode  # only "b" has the words


def test_a_manual_promote_overrules_the_gate_in_tags_and_versions(env):
    s, src, db = env
    v1 = run_embed(str(src), "idx", s)
    ix.reject(db, "idx", v1.table, v1.version, reason="gate said no")
    assert f"rejected-v{v1.version}" in db.open_table(v1.table).tags.list()
    ix.promote(db, "idx", v1.table, v1.version, actor="manual", reason="we know better")
    tags = db.open_table(v1.table).tags.list()
    assert f"rejected-v{v1.version}" not in tags and f"promoted-v{v1.version}" in tags
    [run] = ix.describe_versions(db, "idx")["runs"]
    assert run["decision"] == "promote"


def test_a_new_index_is_evaluated_at_its_newest_candidate(env, tmp_path):
    s, src, db = env
    v1 = run_embed(str(src), "idx", s)
    manifest(src, {"a": "alpha particles", "b": "beta decay", "c": "gamma rays"})
    v2 = run_embed(str(src), "idx", s)
    (tmp_path / "q.jsonl").write_text('{"_id": "q1", "text": "gamma rays"}\n')
    (tmp_path / "r.tsv").write_text("q1\tc\t1\n")
    report = mmindex.evaluate_index(s, "idx", queries=str(tmp_path / "q.jsonl"),
                                    qrels=str(tmp_path / "r.tsv"), gate=False)
    assert (report.table, report.version) == (v2.table, v2.version) != (v1.table, v1.version)


def test_a_misspelt_index_is_named_as_such(env):
    s, src, db = env
    run_embed(str(src), "exams", s)
    with pytest.raises(IndexNotFoundError, match=r"no index named 'exam'.*did you mean 'exams'"):
        mmindex.open_index("exam", s.db)
    with pytest.raises(IndexNotFoundError, match="no index named 'exam'"):
        ix.describe_versions(db, "exam")


def test_maintenance_right_after_an_embed_leaves_the_candidate_evaluable(env, tmp_path):
    s, src, db = env
    v1 = run_embed(str(src), "idx", s)
    ix.promote(db, "idx", v1.table, v1.version)
    manifest(src, {"a": "alpha particles", "b": "beta decay", "c": "gamma rays"})
    v2 = run_embed(str(src), "idx", s)  # the nightly's candidate, not evaluated yet
    maintain(db, "idx", older_than_days=0)
    (tmp_path / "q.jsonl").write_text('{"_id": "q1", "text": "gamma rays"}\n')
    (tmp_path / "r.tsv").write_text("q1\tc\t1\n")
    report = mmindex.evaluate_index(s, "idx", version=v2.version, queries=str(tmp_path / "q.jsonl"),
                                    qrels=str(tmp_path / "r.tsv"), gate=False)
    assert report.version == v2.version and report.metrics["fts"].aggregate["hit@1"] == 1.0
    assert sorted(mmindex.open_index("idx", s.db, version=v2.version).to_polars()["id"]) == [
        "a", "b", "c"]


def test_maintenance_waits_for_no_run_and_a_removed_version_is_named(env):
    from mmindex.errors import IndexBusyError
    from mmindex.index.locking import writer_lock

    s, src, db = env
    v1 = run_embed(str(src), "idx", s)
    ix.promote(db, "idx", v1.table, v1.version)
    with writer_lock(s.db, "idx", "a running embed"), pytest.raises(IndexBusyError):
        maintain(db, "idx", older_than_days=0)
    with pytest.raises(IndexNotFoundError, match="has no version 999"):
        mmindex.open_index("idx", s.db, version=999, table=v1.table)


def test_versions_has_one_row_per_version_and_a_rollback_unmarks_the_version_left(env):
    s, src, db = env
    v1 = run_embed(str(src), "idx", s)
    run_embed(str(src), "idx", s)  # nothing changed: the same version, a second run
    ix.promote(db, "idx", v1.table, v1.version)
    manifest(src, {"a": "alpha particles", "b": "beta decay", "c": "gamma rays"})
    v2 = run_embed(str(src), "idx", s)
    ix.promote(db, "idx", v2.table, v2.version, actor="manual", reason="looks good")
    manifest(src, {"a": "alpha particles", "b": "beta decay", "c": "gamma rays", "d": "delta"})
    v3 = run_embed(str(src), "idx", s)
    ix.reject(db, "idx", v3.table, v3.version, reason="gate said no")
    ix.rollback(db, "idx", reason="bad night")  # production: v2 -> v1
    rows = ix.describe_versions(db, "idx")["versions"]
    by_version = {r["version"]: r for r in rows}
    assert [r["version"] for r in rows] == [v1.version, v2.version, v3.version]
    assert [r["nth"] for r in rows] == [1, 2, 3]  # LanceDB's numbers are not 1, 2, 3
    assert by_version[v1.version]["runs"] == 2
    assert by_version[v1.version]["state"] == "production"
    assert by_version[v2.version]["state"] == "rolled back"  # was "promote" before
    assert f"rolled back to v{v1.version} (manual)" in by_version[v2.version]["events"]
    assert by_version[v3.version]["state"] == "rejected"
    assert by_version[v1.version]["events"][-1] == (
        f"rollback from v{v2.version} (manual): bad night")


def test_evaluating_production_says_so_not_first_run(env, tmp_path):
    s, src, db = env
    v1 = run_embed(str(src), "idx", s)
    ix.promote(db, "idx", v1.table, v1.version)
    (tmp_path / "q.jsonl").write_text('{"_id": "q1", "text": "beta decay"}\n')
    (tmp_path / "r.tsv").write_text("q1\tb\t1\n")
    report = mmindex.evaluate_index(s, "idx", queries=str(tmp_path / "q.jsonl"),
                                    qrels=str(tmp_path / "r.tsv"))
    assert report.action == "already-production"
    assert not any("first run" in r for r in report.decision.reasons), report.decision.reasons
    assert any(r.startswith(f"evaluating production itself ({v1.table} v{v1.version})")
               for r in report.decision.reasons), report.decision.reasons
    assert "production version itself" in report.to_markdown()
    assert "first run" not in report.to_markdown()
