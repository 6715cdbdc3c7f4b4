"""``mmindex report`` writes one page that a real browser renders from the file alone: the
version history with its chart, the latest evaluation by segment, the worst queries' results as
pictures. And ``mmindex.gallery`` shows search results as pictures."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest

from mmindex.config import Settings
from mmindex.evaluation.runner import evaluate_index
from mmindex.pipeline import run_embed

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> tuple[Settings, Path]:
    """The sample (copied, images with it), embedded and evaluated twice: two versions. (The
    report's test deletes the copied images: the gallery's test comes first.)"""
    tmp = tmp_path_factory.mktemp("report")
    shutil.copytree(SAMPLE, tmp / "sample")
    s = Settings(db=str(tmp / "db"), model="hash", cache_dir=tmp / "cache",
                 fts_metadata_fields=["caption_ko"],
                 gate={"mode": "hybrid", "floors": {"hit@5": 0.0}, "max_drop": {}})
    manifest = tmp / "sample" / "manifest.jsonl"
    golden = {"queries": str(tmp / "sample" / "golden" / "queries.jsonl"),
              "qrels": str(tmp / "sample" / "golden" / "qrels.tsv")}
    run_embed(str(manifest), "sample", s)
    evaluate_index(s, "sample", **golden, promote=True)
    rows = [json.loads(x) for x in manifest.read_text().splitlines()]
    rows[0]["text"] += " A green frog on a leaf."
    manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    second = run_embed(str(manifest), "sample", s)
    evaluate_index(s, "sample", **golden, version=second.version, promote=True)
    return s, tmp


def test_gallery_shows_results_as_picture_cards(evaluated):
    import mmindex

    s, _ = evaluated
    hits = mmindex.open_index("sample", settings=s).search("A penguin.", k=6, mode="hybrid")
    g = mmindex.gallery(hits)
    html = g._repr_html_()
    assert g.df is hits and hits.columns[:2] == ["id", "score"]  # the frame is untouched
    assert html.count("<figure") == 6 and html.count('src="data:image/') >= 1
    assert "animals/penguin" in html and f"{hits['score'][0]:.3f}" in html


def test_report_page_renders_offline_with_its_pictures(evaluated, tmp_path):
    from ui_check import Browser, find_chromium

    from mmindex.cli import main

    s, tmp = evaluated
    out = tmp_path / "report.html"
    assert main(["report", "--index", "sample", "--db", s.db, "--out", str(out),
                 "--queries", str(tmp / "sample" / "golden" / "queries.jsonl"),
                 "--qrels", str(tmp / "sample" / "golden" / "qrels.tsv")]) == 0
    page = out.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http://" not in page and "https://" not in page  # no CDN, no linked images
    # the file alone: the images it shows are gone from disk, the page moved elsewhere
    shutil.rmtree(tmp / "sample" / "images")
    alone = tmp_path / "elsewhere" / "report.html"
    alone.parent.mkdir()
    shutil.move(out, alone)
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no chromium (Debian package chromium)")
    with Browser(chromium) as b:
        b.call("Network.enable")
        b.call("Network.emulateNetworkConditions", offline=True, latency=0,
               downloadThroughput=-1, uploadThroughput=-1)
        b.goto(alone.as_uri())
        deadline = time.monotonic() + 30
        while b.evaluate("document.readyState") != "complete" and time.monotonic() < deadline:
            time.sleep(0.2)
        images = b.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth])")
        text = b.text()
        points = b.evaluate("document.querySelectorAll('svg circle').length")
        lines = b.evaluate("document.querySelectorAll('svg polyline').length")
    assert len(images) >= 3 and all(done and w > 0 for done, w in images), images
    assert "Versions" in text and "Latest evaluation by segment" in text
    assert "Worst queries" in text and "lang=ko" in text and "[95% CI]" in text
    assert points >= 2 * 4 and lines >= 4  # 4 metrics over the 2 evaluated versions
    assert "(production)" in text
