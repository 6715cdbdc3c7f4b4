"""``python -m bench.ocr``: text -> figure retrieval with and without figure text (OCR).

An honest set, built at run time in a temporary directory (KorQuAD is CC BY-ND: nothing derived
is kept): real sentences rendered into PNG figures with NanumGothic (Debian ``fonts-nanum``),
each item *image-only*, and real queries whose relevant item is the figure:

- Korean: KorQuAD 1.0 dev questions (:mod:`bench.korquad`), one per paragraph; its figure shows
  the sentence that holds the answer and the sentence after it. Distractor figures: the same from
  other paragraphs.
- English: Vaswani queries (``../shared/data/vaswani_npl``, through the project's TREC
  converter); each one's first relevant abstracts are rendered; the qrels are cut to the rendered
  abstracts. Distractors: other abstracts.

Three indexes of the same items through the real pipeline (``run_embed``) with a multilingual
text model: **no OCR** (the figures have no text: a text model cannot embed them and full text
has nothing to match), **OCR** (setting ``ocr``: tesseract kor+eng) and **ground truth** (the
rendered text as the item's text: what perfect OCR would give). Each is searched in fts, vector
and hybrid (RRF: the fusion of a version never evaluated, so nothing is tuned on these queries)
and scored with the gate's metrics per language. Also measured: OCR seconds per image (the run's
throughput) and character accuracy of the OCR text against the rendered text (1 - edit distance
/ length, whitespace collapsed). Writes ``bench-results/ocr.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FONT = Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf")
MODES = ("fts", "vector", "hybrid")
_SENTENCE = re.compile(r"(?<=[.?!])\s+")


def render(text: str, path: Path, size: int = 26, width: int = 900) -> None:
    """``text`` word-wrapped to ``width`` pixels, black on white, as a PNG figure."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(FONT), size)
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and font.getlength(trial) > width - 40:
            lines.append(line)
            line = word
        else:
            line = trial
    lines.append(line)
    step = int(size * 1.6)
    img = Image.new("RGB", (width, 30 + step * len(lines)), "white")
    draw = ImageDraw.Draw(img)
    for i, ln in enumerate(lines):
        draw.text((20, 15 + i * step), ln, font=font, fill="black")
    img.save(path)


def korean_items(n: int, distractors: int, seed: int) -> tuple[list[dict], list[dict]]:
    """(figures, queries): one KorQuAD question per paragraph, its answer's two sentences."""
    from bench.korquad import DEV_FILE, KORQUAD

    data = json.loads((KORQUAD / DEV_FILE).read_text(encoding="utf-8"))["data"]
    paras = [(f"{a['title']}#{i}", p) for a in data for i, p in enumerate(a["paragraphs"])]
    rng = random.Random(seed)
    rng.shuffle(paras)
    figures, queries = [], []
    for k, (pid, p) in enumerate(paras[: n + distractors]):
        sentences = _SENTENCE.split(p["context"])
        qa = p["qas"][0]
        start, pos = qa["answers"][0]["answer_start"], 0
        at = 0
        for j, s in enumerate(sentences):  # the sentence that holds the answer
            if pos + len(s) > start:
                at = j
                break
            pos += len(s) + 1
        if k >= n:  # a distractor: two sentences from elsewhere in the paragraph
            at = rng.randrange(len(sentences))
        text = " ".join(sentences[at:at + 2])[:220]
        figures.append({"id": f"ko:{pid}", "lang": "ko", "truth": text})
        if k < n:
            queries.append({"_id": f"ko:{qa['id']}", "text": qa["question"], "lang": "ko",
                            "relevant": [f"ko:{pid}"]})
    return figures, queries


def english_items(n: int, distractors: int, seed: int, work: Path) -> tuple[list[dict],
                                                                             list[dict]]:
    """(figures, queries): Vaswani queries, each with up to 2 relevant abstracts rendered."""
    from bench.models import VASWANI, load_vaswani

    rs = load_vaswani(VASWANI, work)
    chosen: dict[str, None] = {}
    queries = []
    for qid, rel in rs.qrels.items():
        if len(chosen) >= n:
            break
        docs = [d for d in rel if d in rs.docs][:2]
        for d in docs:
            chosen[d] = None
        queries.append({"_id": f"en:{qid}", "text": rs.queries[qid], "lang": "en",
                        "relevant": [f"en:{d}" for d in docs]})
    rng = random.Random(seed)
    rest = [d for d in rs.docs if d not in chosen]
    for d in rng.sample(rest, distractors):
        chosen[d] = None
    # every rendered abstract that a chosen query judges relevant counts, not only its first two
    for q in queries:
        qid = q["_id"][3:]
        q["relevant"] = [f"en:{d}" for d in rs.qrels[qid] if d in chosen]
    figures = [{"id": f"en:{d}", "lang": "en", "truth": " ".join(rs.docs[d].split())[:400]}
               for d in chosen]
    return figures, queries


def char_accuracy(ocr: str, truth: str) -> float:
    """1 - Levenshtein(ocr, truth) / len(truth), whitespace collapsed, floored at 0."""
    a, b = " ".join(ocr.split()), " ".join(truth.split())
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return max(0.0, 1 - prev[-1] / max(1, len(b)))


def write_set(work: Path, figures: list[dict], queries: list[dict]) -> dict[str, Any]:
    """Render the figures; write the three manifests and a golden set per language."""
    (work / "img").mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(figures):
        f["image"] = f"img/{i:04d}.png"
        render(f["truth"], work / f["image"])

    def jsonl(name: str, rows: list[dict]) -> str:
        (work / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                 encoding="utf-8")
        return str(work / name)

    images = [{"id": f["id"], "text": "", "image": f["image"]} for f in figures]
    truth = [{"id": f["id"], "text": f["truth"]} for f in figures]
    golden = {}
    for lang in ("ko", "en", "all"):
        qs = [q for q in queries if lang in ("all", q["lang"])]
        golden[lang] = (jsonl(f"q_{lang}.jsonl", [{k: q[k] for k in ("_id", "text", "lang")}
                                                 for q in qs]),
                        _qrels(work / f"qrels_{lang}.tsv", qs))
    return {"images": jsonl("images.jsonl", images), "truth": jsonl("truth.jsonl", truth),
            "golden": golden}


def _qrels(path: Path, queries: list[dict]) -> str:
    path.write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q['_id']}\t{d}\t1\n" for q in queries for d in q["relevant"]), encoding="utf-8")
    return str(path)


def measure(name: str, source: str, settings: Any, golden: dict, figures: list[dict]) -> dict:
    """Embed ``source`` into its own index, then score every mode on each golden set."""
    from mmindex import index as ix
    from mmindex.evaluation import load_golden, score_index
    from mmindex.pipeline import run_embed
    from mmindex.search import open_index

    t0 = time.perf_counter()
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the tesseract processes, once reaped
    r = run_embed(source, name, settings)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime
    out: dict[str, Any] = {"config": name, "embedded": r.embedded,
                           "quarantined": r.quarantine_reasons, "embed_s": round(
                               time.perf_counter() - t0, 1),
                           "ocr_images": r.throughput.ocr_images,
                           "ocr_s_per_image": round(r.throughput.ocr_s_per_image, 3),
                           "ocr_cpu_s_per_image": round(cpu / max(1, r.throughput.ocr_images),
                                                        3),
                           "metrics": {}}
    if not r.embedded:  # nothing searchable: every query scores 0 (measured, not assumed)
        out["metrics"] = {f"{lang}/{m}": {"ndcg@10": 0.0, "hit@5": 0.0, "ms_per_query": None}
                          for lang in golden for m in MODES}
        return out
    idx = open_index(name, settings.db, version=r.version, table=r.table, settings=settings)
    for lang, (q, qrels) in golden.items():
        gs = load_golden(q, qrels)
        for m in MODES:
            t1 = time.perf_counter()
            agg = score_index(idx, gs, [m])[m].aggregate
            ms = (time.perf_counter() - t1) * 1000 / len(gs.queries)
            out["metrics"][f"{lang}/{m}"] = {"ndcg@10": round(agg["ndcg@10"], 4),
                                             "hit@5": round(agg["hit@5"], 4),
                                             "ms_per_query": round(ms, 1)}
    if r.throughput.ocr_images:
        rows = ix.connect(settings).open_table(r.table).to_arrow().select(["id", "ocr_text"])
        seen = dict(zip(rows["id"].to_pylist(), rows["ocr_text"].to_pylist(), strict=True))
        for lang in ("ko", "en"):
            acc = [char_accuracy(seen.get(f["id"]) or "", f["truth"]) for f in figures
                   if f["lang"] == lang]
            out[f"char_accuracy_{lang}"] = round(sum(acc) / len(acc), 4)
    return out


def table(rows: list[dict]) -> str:
    lines = ["| items | set | mode | nDCG@10 | hit@5 | ms / query |", "|---|---|---|---|---|---|"]
    for r in rows:
        for key, m in r["metrics"].items():
            lang, mode = key.split("/")
            ms = "-" if m["ms_per_query"] is None else f"{m['ms_per_query']}"
            lines.append(f"| {r['config']} | {lang} | {mode} | {m['ndcg@10']:.3f} | "
                         f"{m['hit@5']:.3f} | {ms} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ko", type=int, default=60, help="Korean questions (one figure each)")
    ap.add_argument("--en", type=int, default=60, help="English relevant abstracts (about)")
    ap.add_argument("--distractors", type=int, default=40, help="distractor figures per language")
    ap.add_argument("--model", default="use-multilingual")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "ocr.json")
    args = ap.parse_args(argv)
    from bench.machine import describe
    from mmindex.config import Settings

    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        work = Path(tmp)
        ko, qko = korean_items(args.ko, args.distractors, args.seed)
        en, qen = english_items(args.en, args.distractors, args.seed, work)
        figures = ko + en
        t0 = time.perf_counter()
        files = write_set(work, figures, qko + qen)
        print(f"# {len(ko)} Korean + {len(en)} English figures, {len(qko)} + {len(qen)} queries "
              f"(rendered in {time.perf_counter() - t0:.1f} s)", flush=True)
        base = Settings(db=str(work / "db"), model=args.model, cache_dir=work / "cache",
                        model_threads=1)
        rows = []
        for name, source, s in (("no-ocr", files["images"], base),
                                ("ocr", files["images"], base.with_overrides(ocr=True)),
                                ("ground-truth", files["truth"], base)):
            rows.append(measure(name, source, s, files["golden"], figures))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "metrics"},
                             ensure_ascii=False), flush=True)
    result = {"machine": describe(), "model": args.model, "figures": {"ko": len(ko),
              "en": len(en)}, "queries": {"ko": len(qko), "en": len(qen)}, "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print("\n" + table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
