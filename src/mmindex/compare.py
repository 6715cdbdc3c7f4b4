"""A model bake-off: embed one source with several models, score each on one golden set.

What the users' own comparison of embedding models did by hand: each model gets its own table
(``<index>__<model>__d<dims>``, as any model change does), is evaluated in every search mode
without the gate (nothing is promoted), and is reported with its model load time and its
embedding throughput apart (on a small set the load dominated a single "s per 1,000 items"
figure: USE 120.8 vs e5 26.6 on the sample, the reverse of their speed), and the size of its
index on disk. The tables go to a scratch database (a temporary directory, removed afterwards)
unless a database is named, and never to the settings' database (the production one: before, the
``compare__*`` tables landed there). ``mmindex compare`` prints the table; the ``compare`` flow
publishes it as a Prefect artifact.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from mmindex.config import Settings
from mmindex.errors import ConfigError, GoldenSetError, MMIndexError

SHOWN = ("ndcg@10", "hit@5", "mrr@10")


@dataclass
class ModelResult:
    """One model's row group of the bake-off."""

    model: str
    table: str | None = None
    version: int | None = None
    embedded: int = 0
    seen: int = 0
    load_s: float | None = None  # loading the model (weights, tokenizer), once
    embed_s: float = 0.0  # the run without the load: read, embed, write, commit, indexes
    items_per_s: float | None = None  # embedded / the model's time (preprocessing + forward)
    s_per_1k: float | None = None  # 1000 / items_per_s; None when nothing was embedded
    index_mib: float | None = None  # None for object-store databases
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # mode -> metric -> value
    error: str | None = None


@dataclass
class CompareReport:
    """Every model's result, in the order asked."""

    source: str
    golden: str
    results: list[ModelResult]
    db: str | None = None  # where the tables are; None: a scratch database, removed

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "golden": self.golden, "db": self.db,
                "results": [asdict(r) for r in self.results]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CompareReport:
        return cls(d["source"], d["golden"], [ModelResult(**r) for r in d["results"]],
                   d.get("db"))

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per (model, mode): what the table and the artifact show."""
        out = []
        for r in self.results:
            for mode, m in (r.metrics or {"-": {}}).items():
                out.append({"model": r.model, "mode": mode,
                            **{k: m.get(k) for k in SHOWN},
                            "load s": r.load_s, "items/s": r.items_per_s,
                            "run s": r.embed_s,
                            "index MiB": r.index_mib,
                            "note": r.error or ("" if r.embedded else "unchanged: not timed")})
        return out

    def to_text(self) -> str:
        head = ["model", "mode", *SHOWN, "load s", "items/s", "run s", "index MiB", "note"]
        body = [[_fmt(row[h]) for h in head] for row in self.rows()]
        widths = [max(len(x) for x in col) for col in zip(head, *body, strict=False)]
        line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
        where = (f"tables in {self.db}" if self.db else
                 "tables in a scratch database, removed (--db DIR keeps them)")
        return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body),
                          "", "load s: loading the model, once; items/s: the model's rate "
                          "(preprocessing + forward); run s: the run without the load (read, "
                          f"embed, write, commit, index builds). {where}."]).rstrip()


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def compare_models(settings: Settings, source: str, models: list[str], *, queries: str,
                   qrels: str, index: str = "compare", fields: list[str] | None = None,
                   format: str | None = None, modes: list[str] | None = None,
                   db: str | None = None) -> CompareReport:
    """Embed ``source`` with each of ``models`` into ``index`` and score each on the golden set.

    ``db``: the database for the tables (default: a scratch directory, removed at the end; the
    settings' own database is refused). A model that cannot be loaded (weights not on this
    machine) or fails its run is reported with its error and the others go on; a spec that
    cannot be parsed fails before any work.

    Raises:
        ConfigError: a malformed model spec, bad settings or index name, or ``db`` is the
            settings' database.
        GoldenSetError: a broken golden set.
    """
    from mmindex.backends import parse_spec

    for spec in models:
        parse_spec(spec)  # a typo fails now, not after an hour of the other models
    if db is not None and _same_db(db, settings.db):
        raise ConfigError(
            f"compare would write its test tables into {settings.db}, the settings' database "
            "(production). Help: name another one with --db, or leave --db out for a scratch "
            "database.")
    if db is not None:
        return CompareReport(source, queries, [
            _one(settings.with_overrides(db=db), source, spec, queries, qrels, index, fields,
                 format, modes) for spec in models], db)
    with tempfile.TemporaryDirectory(prefix="mmindex-compare-") as scratch:
        s = settings.with_overrides(db=os.path.join(scratch, "db"))
        return CompareReport(source, queries, [
            _one(s, source, spec, queries, qrels, index, fields, format, modes)
            for spec in models])


def _one(s: Settings, source: str, spec: str, queries: str, qrels: str, index: str,
         fields: list[str] | None, format: str | None, modes: list[str] | None) -> ModelResult:
    from mmindex.backends import MULTIVECTOR_BACKENDS, parse_spec
    from mmindex.evaluation.runner import evaluate_index
    from mmindex.pipeline import run_embed, run_embedder

    r = ModelResult(spec)
    try:
        s = s.with_overrides(model=spec)
        t0 = time.perf_counter()
        run_embedder(s)  # loaded once per process: the run below reuses it
        r.load_s = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        run = run_embed(source, index, s, fields=fields, format=format)
        r.embed_s = round(time.perf_counter() - t0, 3)
        r.table, r.version, r.embedded, r.seen = run.table, run.version, run.embedded, run.seen
        model_s = run.throughput.preprocess_s + run.throughput.model_s
        if run.embedded and model_s > 0:  # the model's own rate: on a small set the run's
            r.items_per_s = round(run.embedded / model_s, 2)  # fixed costs (commit, index
            r.s_per_1k = round(model_s / run.embedded * 1000, 2)  # builds) would dominate
        r.index_mib = _table_mib(s.db, run.table)
        # a late-interaction model is also scored by MaxSim over its token vectors
        mv = ["multivector"] if parse_spec(spec).backend in MULTIVECTOR_BACKENDS else []
        report = evaluate_index(s, index, queries=queries, qrels=qrels, version=run.version,
                                table=run.table, modes=modes or [*s.eval_modes, *mv],
                                gate=False, promote=False)
        r.metrics = {m: {k: e.aggregate.get(k, 0.0) for k in SHOWN}
                     for m, e in report.metrics.items()}
    except GoldenSetError:
        raise
    except MMIndexError as exc:
        r.error = f"{type(exc).__name__}: {exc}".split(" Help:")[0]
    return r


def _same_db(a: str, b: str) -> bool:
    from mmindex.extract.filesystem import is_local, normalize

    if is_local(a) and is_local(b):
        return os.path.realpath(normalize(a)) == os.path.realpath(normalize(b))
    return a.rstrip("/") == b.rstrip("/")


def _table_mib(db: str, table: str) -> float | None:
    """Bytes under the table's directory (all its versions) for a local database."""
    from mmindex.extract.filesystem import is_local, normalize

    if not is_local(db):
        return None
    root = os.path.join(normalize(db), f"{table}.lance")
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root)
                for f in files)
    return round(total / 2**20, 2)
