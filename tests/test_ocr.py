"""Figure text (setting ``ocr``): words printed in an item's image become searchable.

Real parts only: Debian's tesseract (kor + eng) run as a process, images rendered with a Korean
font from fonts-nanum, LanceDB on disk. Skipped, with the reason, where tesseract or the font is
missing; ``scripts/test.sh`` installs both when it runs as root (CI does).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

import mmindex
from mmindex import index as ix
from mmindex.config import Settings
from mmindex.errors import ConfigError, ItemError
from mmindex.extract import Ocr
from mmindex.pipeline import run_embed

FONT = Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf")


def _has_tesseract() -> str | None:
    if shutil.which("tesseract") is None:
        return "tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-kor)"
    langs = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True).stdout
    if not {"kor", "eng"} <= set(langs.split()):
        return "tesseract has no kor/eng data (apt-get install tesseract-ocr-kor -eng)"
    if not FONT.is_file():
        return "no Korean font (apt-get install fonts-nanum)"
    return None


pytestmark = pytest.mark.skipif(_has_tesseract() is not None, reason=str(_has_tesseract()))


def render(path: Path, lines: list[str], size: int = 28) -> Path:
    font = ImageFont.truetype(str(FONT), size)
    img = Image.new("RGB", (40 + 20 * size, 30 + len(lines) * (size + 18)), "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((20, 15 + i * (size + 18)), line, font=font, fill="black")
    img.save(path)
    return path


def write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return str(path)


def fts_ids(db: str, index: str, text: str) -> list[str]:
    return mmindex.open_index(index, db).search(text, k=10, mode="fts")["id"].to_list()


def test_ocr_reads_korean_and_english_words_from_a_rendered_image(tmp_path):
    png = render(tmp_path / "fig.png",
                 ["세포분열의 단계를 설명하시오", "The penguin swims in cold water"])
    text = Ocr("kor+eng", timeout_s=60).read(png.read_bytes())
    for word in ("세포분열의", "단계를", "설명하시오", "penguin", "swims", "cold", "water"):
        assert word in text, text


def test_bad_image_and_bad_settings_fail_clearly(tmp_path):
    with pytest.raises(ItemError) as e:
        Ocr().read(b"\x89PNG\r\n\x1a\n not a png", "img/broken.png")
    assert e.value.reason == "corrupt_media" and "broken.png" in str(e.value)
    with pytest.raises(ConfigError, match="no language data for xyz"):
        Ocr("eng+xyz").check()
    with pytest.raises(ConfigError, match="not tesseract language codes"):
        Ocr("eng --oem 0")  # nothing but language codes reaches the command line


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    """Image-only items (a Korean and an English figure), a text item, and bad images."""
    tmp = tmp_path_factory.mktemp("figures")
    (tmp / "img").mkdir()
    render(tmp / "img/ko.png", ["광합성은 엽록체에서 일어난다"])
    render(tmp / "img/en.png", ["Mitochondria produce energy"])
    whole = (tmp / "img/ko.png").read_bytes()  # a valid header, then the data cut off
    (tmp / "img/broken.png").write_bytes(whole[: len(whole) // 2])
    rows = [{"id": "fig-ko", "text": "", "image": "img/ko.png"},
            {"id": "fig-en", "text": "", "image": "img/en.png"},
            {"id": "txt-1", "text": "A penguin swims in cold water."}]
    return tmp, write(tmp / "items.jsonl", rows)


def test_an_image_only_item_is_found_by_a_word_printed_in_it_only_with_ocr(figures):
    tmp, source = figures
    s = Settings(db=str(tmp / "db"), model="hash", cache_dir=tmp / "cache")
    off = run_embed(source, "figs", s)  # the hash model embeds images: rows without their words
    assert off.embedded == 3 and off.throughput.ocr_images == 0
    ix.promote(ix.connect(s), "figs", off.table, off.version)
    assert fts_ids(s.db, "figs", "엽록체") == []
    assert fts_ids(s.db, "figs", "mitochondria") == []

    on = run_embed(source, "figs", s.with_overrides(ocr=True, prep_workers=1))
    # turning OCR on changes the items' hash: the two figures are embedded again, the text not
    assert (on.embedded, on.skipped_unchanged, on.updated) == (2, 1, 2)
    assert on.throughput.ocr_images == 2 and on.throughput.ocr_s_per_image > 0
    ix.promote(ix.connect(s), "figs", on.table, on.version)
    assert fts_ids(s.db, "figs", "엽록체") == ["fig-ko"]  # the Korean analyser, on OCR text
    assert fts_ids(s.db, "figs", "광합성") == ["fig-ko"]
    assert fts_ids(s.db, "figs", "mitochondria") == ["fig-en"]
    assert fts_ids(s.db, "figs", "producing") == ["fig-en"]  # English stemming of figure text
    rows = {r["id"]: r for r in mmindex.open_index("figs", s.db).to_polars().to_dicts()}
    assert "엽록체" in rows["fig-ko"]["ocr_text"] and rows["fig-ko"]["text"] == ""
    assert rows["txt-1"]["ocr_text"] is None  # no image: nothing OCR'd, its own text unchanged

    again = run_embed(source, "figs", s.with_overrides(ocr=True))
    assert again.embedded == 0 and again.skipped_unchanged == 3  # nothing OCR'd twice
    assert again.throughput.ocr_images == 0


def test_a_text_model_reads_the_figure_text(figures, tmp_path):
    # an image-only item is quarantined by a text-only model without OCR; with it, it is
    # embedded from its figure text and the vector search finds it
    _, source = figures
    s = Settings(db=str(tmp_path / "db"), model="all-minilm-l6-v2", cache_dir=tmp_path / "c",
                 model_threads=1)
    off = run_embed(source, "figs", s)
    assert off.embedded == 1 and off.quarantine_reasons == {"unsupported_format": 2}
    on = run_embed(source, "figs", s.with_overrides(ocr=True))
    assert on.embedded == 2 and not on.quarantined
    ix.promote(ix.connect(s), "figs", on.table, on.version)
    hits = mmindex.open_index("figs", s.db).search("mitochondria energy", k=3, mode="vector")
    assert hits["id"][0] == "fig-en"


def test_ocr_failures_are_quarantined_with_a_reason_and_the_run_goes_on(figures, tmp_path):
    tmp, _ = figures
    rows = [{"id": "fig-ko", "text": "", "image": str(tmp / "img/ko.png")},
            {"id": "fig-broken", "text": "has text too", "image": str(tmp / "img/broken.png")},
            {"id": "txt-1", "text": "A penguin swims in cold water."}]
    source = write(tmp_path / "items.jsonl", rows)
    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "c", ocr=True,
                 media_roots=[str(tmp)])
    r = run_embed(source, "figs", s)
    assert r.embedded == 2 and r.quarantine_reasons == {"corrupt_media": 1}
    bad = {q["item_id"]: q for q in ix.ledger.quarantined(ix.connect(s), "figs")}
    assert "cannot decode the image for OCR" in bad["fig-broken"]["message"]

    # tesseract running past its time limit: the items with images are quarantined
    # (ocr_failed), the text item stays, and the rows already written are kept
    slow = run_embed(source, "figs", s.with_overrides(ocr_timeout_s=0.001, ocr_languages="eng"))
    assert slow.quarantine_reasons == {"corrupt_media": 1, "ocr_failed": 1}
    bad = {q["item_id"]: q for q in ix.ledger.quarantined(ix.connect(s), "figs", slow.run_id)}
    assert "longer than ocr_timeout_s" in bad["fig-ko"]["message"]
    assert {r["id"] for r in ix.connect(s).open_table(slow.table).to_arrow().to_pylist()} == {
        "fig-ko", "txt-1"}  # fig-ko's earlier row is not lost: it is kept until it succeeds


def test_ocr_on_without_tesseract_fails_the_run_at_once_with_what_to_install(
        figures, tmp_path, monkeypatch):
    from mmindex.extract import ocr as ocr_module

    _, source = figures
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract on it
    ocr_module._installed.cache_clear()
    try:
        s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "c", ocr=True)
        with pytest.raises(ConfigError, match="apt-get install tesseract-ocr"):
            run_embed(source, "figs", s)
        assert not (tmp_path / "db").exists() or not ix.table_exists(ix.connect(s), "figs")
    finally:
        ocr_module._installed.cache_clear()


def test_character_accuracy_of_the_evaluation():
    from bench.ocr import char_accuracy

    assert char_accuracy("세포분열의  단계", "세포분열의 단계") == 1.0  # whitespace collapsed
    assert char_accuracy("세포분얼의 단계", "세포분열의 단계") == pytest.approx(1 - 1 / 8)
    assert char_accuracy("", "abc") == 0.0 and char_accuracy("x" * 50, "abc") == 0.0


@pytest.mark.slow
def test_the_ocr_evaluation_finds_figures_only_with_ocr(tmp_path):
    # python -m bench.ocr at a small size (about 30 s here): the figures cannot be found
    # without OCR, and with it full text finds most of them
    from bench.korquad import DEV_FILE, KORQUAD
    from bench.models import VASWANI
    from bench.ocr import main

    if not (KORQUAD / DEV_FILE).is_file() or not VASWANI.is_dir():
        pytest.skip(f"KorQuAD dev / Vaswani are not at {KORQUAD.parent} (beside the checkout, "
                    "CI only)")
    out = tmp_path / "ocr.json"
    assert main(["--ko", "6", "--en", "6", "--distractors", "6", "--out", str(out)]) == 0
    rows = {r["config"]: r for r in json.loads(out.read_text())["results"]}
    assert rows["no-ocr"]["embedded"] == 0
    assert rows["ocr"]["metrics"]["all/fts"]["hit@5"] >= 0.8
    assert rows["ocr"]["char_accuracy_ko"] > 0.8 and rows["ocr"]["ocr_s_per_image"] > 0


def test_the_cli_as_a_user_runs_it(figures, tmp_path):
    # MMINDEX_OCR=true mmindex embed ... --json, then a full-text search that shows the figure's
    # OCR text for an image-only hit
    import os
    import sys

    _, source = figures
    env = dict(os.environ, MMINDEX_CONFIG=os.devnull, MMINDEX_DB=str(tmp_path / "db"),
               MMINDEX_OCR="true")

    def cli(*args: str) -> str:
        p = subprocess.run([sys.executable, "-m", "mmindex", *args], capture_output=True,
                           text=True, env=env, timeout=300)
        assert p.returncode == 0, p.stderr[-2000:]
        return p.stdout

    out = json.loads(cli("embed", source, "--index", "figs", "--model", "hash", "--no-prefect",
                         "--json"))
    assert out["throughput"]["ocr_images"] == 2 and out["throughput"]["ocr_s_per_image"] > 0
    shown = cli("search", "--index", "figs", "--version", str(out["version"]), "--mode", "fts",
                "엽록체")
    assert "fig-ko  [ocr] 광합성은 엽록체에서 일어난다" in shown


def test_an_image_shared_by_many_items_is_read_once_per_run(figures, tmp_path):
    # 8 items, one image: one tesseract run, not 8 (a slow image gave 8 timeouts of 60 s)
    tmp, _ = figures
    rows = [{"id": f"copy-{k}", "text": f"copy {k}", "image": str(tmp / "img/ko.png")}
            for k in range(8)]
    source = write(tmp_path / "items.jsonl", rows)
    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "c", ocr=True,
                 media_roots=[str(tmp)], read_chunk_rows=3, group_items=3)  # 3 groups
    r = run_embed(source, "figs", s)
    assert r.embedded == 8 and r.throughput.ocr_images == 1
    texts = {row["ocr_text"] for row in ix.connect(s).open_table(r.table).to_arrow().to_pylist()}
    assert len(texts) == 1 and "엽록체" in texts.pop()

    slow = run_embed(source, "slow", s.with_overrides(ocr_timeout_s=0.001))
    assert slow.quarantine_reasons == {"ocr_failed": 8} and slow.throughput.ocr_images == 1


def test_past_the_run_ocr_budget_items_are_embedded_without_figure_text_and_read_next_run(
        figures, tmp_path):
    from mmindex.embed.summary import summary_lines

    tmp, _ = figures
    render(tmp_path / "third.png", ["Photosynthesis needs light"])
    rows = [{"id": "a", "text": "", "image": str(tmp / "img/ko.png")},
            {"id": "b", "text": "", "image": str(tmp / "img/en.png")},
            {"id": "c", "text": "", "image": str(tmp_path / "third.png")}]
    source = write(tmp_path / "items.jsonl", rows)
    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "c", ocr=True,
                 media_roots=[str(tmp), str(tmp_path)], prep_workers=1, ocr_budget_s=0.001)
    r = run_embed(source, "figs", s)  # the first image spends the budget; two are skipped
    assert r.embedded == 3 and r.ocr_skipped == 2 and r.throughput.ocr_images == 1
    assert any("OCR skipped for 2 items" in line for line in summary_lines(r.to_dict()))
    texts = {x["id"]: x["ocr_text"] for x in
             ix.connect(s).open_table(r.table).to_arrow().to_pylist()}
    assert sorted(t is None for t in texts.values()) == [False, True, True]

    nxt = run_embed(source, "figs", s.with_overrides(ocr_budget_s=3600))
    assert (nxt.embedded, nxt.skipped_unchanged, nxt.ocr_skipped) == (2, 1, 0)
    assert all(x["ocr_text"] for x in ix.connect(s).open_table(r.table).to_arrow().to_pylist())


def test_tesseract_dies_with_a_killed_mmindex(tmp_path):
    # SIGKILL of `mmindex embed` while tesseract reads a slow image (random noise: over 60 s
    # here): the tesseract child goes too, instead of running on for minutes
    import os
    import signal
    import sys
    import time

    import numpy as np

    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((2500, 2500)) > 0.5).astype("uint8") * 255).save(
        tmp_path / "noise.png")
    source = write(tmp_path / "items.jsonl", [{"id": "n", "text": "", "image": "noise.png"}])
    env = dict(os.environ, MMINDEX_CONFIG=os.devnull, MMINDEX_DB=str(tmp_path / "db"),
               MMINDEX_OCR="true", MMINDEX_OCR_TIMEOUT_S="600")
    proc = subprocess.Popen([sys.executable, "-m", "mmindex", "embed", source, "--index", "n",
                             "--model", "hash", "--no-prefect"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def tesseracts() -> list[int]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:]
            state, ppid = rest.split()[:2]
            if name == "tesseract" and int(ppid) == proc.pid and state != "Z":
                try:  # the OCR of the image, not the version check at plan time
                    if b"stdin" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        found.append(int(pid))
                except OSError:
                    continue
        return found

    kids: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not (kids := tesseracts()) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert kids, "tesseract never started"

        def cpu_s(pid: int) -> float:  # utime + stime: past reading its input, into the OCR
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        while cpu_s(kids[0]) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        alive = kids
        for _ in range(50):  # it goes within a moment
            alive = [p for p in kids if Path(f"/proc/{p}").exists()
                     and Path(f"/proc/{p}/stat").read_text().split(") ")[1][0] != "Z"]
            if not alive:
                break
            time.sleep(0.2)
        assert not alive, f"tesseract {alive} outlived the killed mmindex"
    finally:
        proc.kill()
        for p in kids:  # on a failure: none left behind by the test either
            if Path(f"/proc/{p}/cmdline").exists():
                os.kill(p, signal.SIGKILL)
