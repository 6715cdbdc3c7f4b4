"""``mmindex compare``: a model bake-off on one source and one golden set."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mmindex.cli.common import (
    add_prefect_choice,
    emit,
    note_settings_file,
    settings_from,
)


def cmd_compare(args: argparse.Namespace) -> int:
    from mmindex.cli.launch import run_compare_flow, wants_flow
    from mmindex.errors import ConfigError
    from mmindex.index import check_index_name

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models:
        raise ConfigError("--models names no model. Help: e.g. --models "
                          "all-minilm-l6-v2,multilingual-e5-small-q4 (see `mmindex models`)")
    check_index_name(args.index)
    s = settings_from(args, db=None)  # --db is compare's own database, not the settings' one
    note_settings_file()
    if wants_flow(args.prefect):
        report = run_compare_flow(args, s, models)
    else:
        from mmindex.compare import compare_models

        report = compare_models(s, args.source, models, queries=args.queries, qrels=args.qrels,
                                index=args.index, fields=args.field, format=args.format,
                                db=args.db)
    data = report.to_dict()
    if args.out:
        Path(args.out).write_text(json.dumps(data, indent=2, ensure_ascii=False))
    emit(data, args.json, report.to_text())
    return 0


def register(sub: Any) -> None:
    c = sub.add_parser("compare", help="embed a source with several models and compare them",
                       description="Embed SOURCE with each model into its own table, evaluate "
                                   "each on the golden set in every search mode (no gate, "
                                   "nothing promoted) and print nDCG@10, hit@5 and MRR@10 "
                                   "with the model's load time, its embedding throughput "
                                   "and the index size. The tables go to a scratch "
                                   "database unless --db names one (never the `db` "
                                   "setting's, production's).")
    c.add_argument("source", help="manifest (jsonl/csv/parquet), BEIR corpus.jsonl, local or s3://")
    c.add_argument("--models", required=True, help="comma-separated model specs")
    c.add_argument("--queries", required=True, help="golden queries (queries.jsonl)")
    c.add_argument("--qrels", required=True, help="golden qrels (TSV or TREC)")
    c.add_argument("--index", default="compare", help="index name the tables are written under")
    c.add_argument("--format", choices=["jsonl", "csv", "parquet", "beir"],
                   help="manifest format (default: from the file name)")
    c.add_argument("--field", action="append", metavar="KEY=COLUMN", help="field mapping")
    c.add_argument("--out", help="also write the results as JSON to this file")
    c.add_argument("--db", help="database for the compare tables, kept afterwards (default: a "
                                "scratch database, removed; never the `db` setting's)")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    add_prefect_choice(c, "compare")
    c.set_defaults(fn=cmd_compare)
