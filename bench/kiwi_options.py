"""What Kiwi's constructor options do to the full-text tokens and to KorQuAD's full-text figures.

``python -m bench.kiwi_options [--options JSON] [--no-korquad]``: the tokens
:mod:`mmindex.index.analysis` gives with ``KIWI_OPTIONS`` set to each option set (default: the
multi-word dictionary on, as before analysis version 2, and off, as now) for the sample's
documents (text + Korean caption), its golden queries and its one-word caption queries, and
KorQuAD 1.0 dev's 964 paragraphs and 1,000 questions: how many texts tokenise differently, with
examples; then, per option set, KorQuAD's full-text nDCG@10 / hit@5 / MRR@10 through the
product's path (``run_embed`` with the ``hash`` model: full text does not depend on the model,
``golden_run`` in ``fts`` mode). Kiwi's load time (wall and CPU, a fresh process each) too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OPTIONS = {"multi-word dictionary (a1)": {}, "no multi-word dictionary (a2)":
           {"load_multi_dict": False}, "nor typo dictionary (a2, now)":
           {"load_multi_dict": False, "load_typo_dict": False}}
LOAD = ("import json, sys, time; t, c = time.perf_counter(), time.process_time(); "
        "from kiwipiepy import Kiwi; Kiwi(**json.loads(sys.argv[1])).tokenize('바이올린'); "
        "print(json.dumps([time.perf_counter() - t, time.process_time() - c]))")


def texts(korquad: Path | None) -> dict[str, list[str]]:
    from bench.oneword import caption_queries

    rows = [json.loads(x) for x in (REPO / "data/sample/manifest.jsonl").read_text(
        encoding="utf-8").splitlines() if x.strip()]
    out = {"sample documents": [f"{r['text']}\n{r.get('caption_ko') or ''}" for r in rows],
           "sample golden queries": [json.loads(x)["text"] for x in (
               REPO / "data/sample/golden/queries.jsonl").read_text(encoding="utf-8")
               .splitlines() if x.strip()],
           "one-word queries": [q["text"] for q in caption_queries()]}
    if korquad:
        from bench.korquad import load_korquad

        kq = load_korquad(korquad)
        out |= {"KorQuAD paragraphs": list(kq.docs.values()),
                "KorQuAD questions": list(kq.queries.values())}
    return out


def _use(options: dict) -> None:
    from mmindex.index import analysis

    analysis.KIWI_OPTIONS = options
    analysis._load_kiwi.cache_clear()


def korquad_fts(options: dict, root: Path) -> dict[str, float]:
    from bench.korquad import convert
    from mmindex.config import Settings
    from mmindex.evaluation import evaluate_run, load_golden
    from mmindex.evaluation.runner import golden_run
    from mmindex.pipeline import run_embed
    from mmindex.search import open_index

    _use(options)
    with tempfile.TemporaryDirectory(prefix="kiwi-options-") as tmp:
        kq = convert(Path(tmp) / "beir", root)
        s = Settings(db=str(Path(tmp) / "db"), model="hash", cache_dir=Path(tmp) / "cache")
        r = run_embed(str(kq.corpus), "korquad", s)
        idx = open_index("korquad", s.db, version=r.version, table=r.table, settings=s)
        golden = load_golden(str(kq.queries), str(kq.qrels), name="korquad")
        got = evaluate_run(golden_run(idx, golden, "fts", [None] * len(golden.queries)),
                           golden.qrels).aggregate
    return {m: round(got[m], 4) for m in ("ndcg@10", "hit@5", "mrr@10")}


def main(argv: list[str] | None = None) -> dict:
    from bench.korquad import KORQUAD
    from mmindex.index.analysis import get_analyzer

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--options", type=json.loads, default=OPTIONS,
                   help='{"name": {Kiwi kwargs}, ...}; the first is the baseline')
    p.add_argument("--korquad", type=Path, default=KORQUAD, help="KorQuAD 1.0 dev's folder")
    p.add_argument("--no-korquad", action="store_true")
    args = p.parse_args(argv)
    sets = texts(None if args.no_korquad else args.korquad)
    tokens, report = {}, {}
    for name, options in args.options.items():
        load = json.loads(subprocess.run([sys.executable, "-c", LOAD, json.dumps(options)],
                                         capture_output=True, text=True, check=True).stdout)
        _use(options)
        tokens[name] = {s: get_analyzer("kiwi").analyse_many(v) for s, v in sets.items()}
        report[name] = {"load_wall_s": round(load[0], 2), "load_cpu_s": round(load[1], 2)}
        if not args.no_korquad:
            report[name]["korquad_fts"] = korquad_fts(options, args.korquad)
    base = next(iter(args.options))
    for name in list(args.options)[1:]:
        report[name]["tokens_differ"] = {}
        for s in sets:
            diff = [(a, b) for a, b in zip(tokens[base][s], tokens[name][s], strict=True)
                    if a != b]
            report[name]["tokens_differ"][s] = {
                "texts": f"{len(diff)}/{len(sets[s])}",
                "examples": [{"was": a, "now": b} for a, b in diff[:3]]}
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return report


if __name__ == "__main__":
    main()
