"""One-word caption queries of the shipped sample, built from ``data/sample/manifest.jsonl``.

What a new user types first: the stamp's name. For each of the 61 stamps with a Korean caption:

- Korean: the ``caption_ko`` itself (61 queries, e.g. ``펭귄``; the checkout's ``mmindex.toml``
  searches that caption by full text, so a copy of it is the easiest query full text can get);
- English: the noun phrase that opens the stamp's text (``"A penguin."`` -> ``penguin``), when it
  is at most two words (53 queries, e.g. ``penguin``, ``fire truck``).

Each query's one relevant item is its stamp (grade 2). ``python -m bench.oneword --write-golden``
adds every third of them (ids ``w-ko-*`` / ``w-en-*``, skipping texts a golden query already has)
to ``data/sample/golden/`` -- the rest are never seen by the fusion fit, and the bench reports
hit@1 on all of them and on those held out of the golden set.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
GOLDEN_EVERY = 3  # every third query goes into the golden set; the rest stay unseen


def english_noun(text: str) -> str:
    """``"A penguin."`` -> ``penguin``; ``"Mars—the red planet."`` -> ``Mars``."""
    head = re.split(r"[.—!]", text.strip())[0].strip()
    return re.sub(r"^(an?|the|our) ", "", head, flags=re.IGNORECASE)


def caption_queries(manifest: Path = SAMPLE / "manifest.jsonl") -> list[dict]:
    """``[{"_id", "text", "lang", "relevant"}]``: Korean captions first, then English nouns, each
    in manifest order."""
    rows = [json.loads(x) for x in manifest.read_text(encoding="utf-8").splitlines() if x.strip()]
    stamps = [r for r in rows if r.get("caption_ko")]
    ko = [{"_id": f"w-ko-{r['id']}", "text": r["caption_ko"].strip(), "lang": "ko",
           "relevant": r["id"]} for r in stamps]
    en = [{"_id": f"w-en-{r['id']}", "text": english_noun(r["text"]), "lang": "en",
           "relevant": r["id"]} for r in stamps if len(english_noun(r["text"]).split()) <= 2]
    return ko + en


def write_golden(golden: Path = SAMPLE / "golden") -> tuple[int, int]:
    """Add every :data:`GOLDEN_EVERY`-th caption query to the golden set (idempotent: earlier
    ``w-`` queries are replaced). Returns (queries added, queries in all)."""
    qfile, rfile = golden / "queries.jsonl", golden / "qrels.tsv"
    old = [json.loads(x) for x in qfile.read_text(encoding="utf-8").splitlines() if x.strip()]
    old = [q for q in old if not q["_id"].startswith("w-")]
    seen = {(q.get("text") or "").strip().lower() for q in old}
    picked = []
    for lang in ("ko", "en"):
        cands = [q for q in caption_queries() if q["lang"] == lang
                 and q["text"].lower() not in seen]
        picked += cands[::GOLDEN_EVERY]
    qfile.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in old) + "".join(
        json.dumps({k: q[k] for k in ("_id", "text", "lang")}, ensure_ascii=False) + "\n"
        for q in picked), encoding="utf-8")
    lines = [x for x in rfile.read_text(encoding="utf-8").splitlines()
             if x and not x.startswith("w-")]
    rfile.write_text("\n".join(lines + [f"{q['_id']}\t{q['relevant']}\t2" for q in picked])
                     + "\n", encoding="utf-8")
    return len(picked), len(old) + len(picked)


def in_golden(golden: Path = SAMPLE / "golden") -> set[str]:
    """Ids of the caption queries the golden set holds (the fusion was fit on them)."""
    return {json.loads(x)["_id"] for x in (golden / "queries.jsonl").read_text(
        encoding="utf-8").splitlines() if x.strip() and json.loads(x)["_id"].startswith("w-")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write-golden", action="store_true",
                    help="add every third caption query to data/sample/golden")
    args = ap.parse_args(argv)
    if args.write_golden:
        added, total = write_golden()
        print(f"added {added} caption queries; the golden set has {total}")
    else:
        for q in caption_queries():
            print(json.dumps(q, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
