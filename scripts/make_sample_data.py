"""Build data/sample/ (images, video, manifest, golden set) from Debian's Tux Paint stamps.

The sample is a small, licensed, real multimodal corpus that ships with the repo so tests and the
nightly's evaluation gate work on a fresh clone. Regenerate it with::

    cd /tmp && apt-get download tuxpaint-stamps-default
    dpkg-deb -x tuxpaint-stamps-default_2022.06.04-1_all.deb tux
    python scripts/make_sample_data.py /tmp/tux            # writes data/sample/

The selection, item texts and golden queries are fixed below, so the output depends only on the
package version (2022.06.04-1 when this was written) and on Pillow/PyAV's encoders.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

STAMPS = Path("usr/share/tuxpaint/stamps")
MAX_SIDE = 256
GPL2 = Path("/usr/share/common-licenses/GPL-2")  # Debian's copy of the licence text

# Image + English caption items (Korean caption kept as metadata). One per concept, spread over
# categories; stamps whose Korean caption is wrong in the package (circus, igloo, pluto) are out.
IMAGE_ITEMS = """
animals/amphibians/frog animals/birds/penguin animals/birds/owl animals/birds/pink_flamingo
animals/fish/clownfish animals/insects/bee animals/insects/cartoon/ladybug
animals/mammals/elephant animals/mammals/cats/tiger animals/mammals/cats/lion
animals/mammals/aquatic/dolphin
animals/marsupials/koala animals/mammals/hedgehog
food/fruit/apple_red food/fruit/banana food/fruit/strawberry food/fruit/pineapple
food/vegetables/carrot food/vegetables/corn food/vegetables/onion
food/nuts/walnut food/dessert/cartoon/birthday_cake
plants/flowers/rose plants/flowers/marigold plants/trees/pinecone plants/lavender
vehicles/emergency/firetruck vehicles/flight/balloon360 vehicles/flight/planes/747
vehicles/masstransit/cartoon/double_decker_bus vehicles/locomotive/cartoon/toy_train
space/planets/3_earth space/planets/4_mars space/planets/5_jupiter space/planets/6_saturn
space/moon/moon_crescent space/spacewalk
sports/basketball sports/soccer sports/tennis_racket
hobbies/music/string/violin hobbies/music/string/cello hobbies/music/brass/trumpet
hobbies/music/percussion/drumkit
household/tools/hammer household/tools/saw household/dishes/teapot
town/roadsigns/stop town/roadsigns/railroad_crossing town/houses/cartoon/windmill
town/monuments/cartoon/pyramid
clothes/t_sock clothes/t_glove
medical/stethoscope medical/tooth
seasonal/christmas/Santa seasonal/halloween/ghost
people/cartoon/snowman naturalforces/lightningbolt
symbols/math/operators/op0_plus symbols/music/clef0_treble
""".split()

# Text-only items, as an education corpus has them: English explanations and Korean captions of
# stamps that are not in the image set.
TEXT_EN = """
symbols/chess/w_3_bishop symbols/chess/w_4_knight town/roadsigns/stoplight_01_red
symbols/recycle seasonal/hanukkah/menorah town/roadsigns/give_way_sign
seasonal/christmas/Candy_cane_photo_1 animals/insects/hoverfly space/planets/8_neptune
seasonal/christmas/Christmas_pudding
""".split()
TEXT_KO = """
food/fruit/mandarine animals/mammals/equines/zebra animals/birds/magpie
hobbies/music/string/guitar_classical town/houses/cartoon/university space/planets/2_venus
seasonal/hanukkah/dreydl animals/mammals/bovines/yak clothes/hats/sombrero
symbols/shapes/thought_balloon
""".split()
IMAGE_ONLY = ["animals/mammals/equines/horse", "vehicles/auto/sportscar2"]  # unjudged
VIDEO = ("space/planets_slideshow", ["space/planets/3_earth", "space/planets/4_mars",
                                     "space/planets/6_saturn"],
         "A short slideshow of three planets of our solar system: the Earth, Mars and Saturn.")
# Held-out stamps of the same concept as a corpus item, used as image queries.
QUERY_IMAGES = {"food/fruit/cartoon/apple": "food/apple_red",
                "animals/insects/cartoon/ladybug-2": "animals/ladybug",
                "vehicles/emergency/cartoon/fire_engine": "vehicles/firetruck",
                "animals/mammals/cats/lion-2": "animals/lion"}

# Specific queries: (text, lang, id of the one exact item). Not copies of the item text: keywords,
# questions, paraphrases, or the caption in the other language.
SPECIFIC = [
    ("penguin", "en", "animals/penguin"),
    ("night bird with big eyes", "en", "animals/owl"),
    ("pink bird standing on one leg", "en", "animals/pink_flamingo"),
    ("anemonefish like Nemo", "en", "animals/clownfish"),
    ("honey insect", "en", "animals/bee"),
    ("spiky animal that rolls into a ball", "en", "animals/hedgehog"),
    ("eucalyptus eating marsupial", "en", "animals/koala"),
    ("fire engine", "en", "vehicles/firetruck"),
    ("jumbo jet", "en", "vehicles/747"),
    ("red planet", "en", "space/4_mars"),
    ("astronaut outside the spacecraft", "en", "space/spacewalk"),
    ("ringed planet", "en", "space/6_saturn"),
    ("doctor listening to the heart", "en", "medical/stethoscope"),
    ("addition sign", "en", "symbols/op0_plus"),
    ("treble clef music symbol", "en", "symbols/clef0_treble"),
    ("cake with candles for a party", "en", "food/birthday_cake"),
    ("octagonal red traffic sign", "en", "town/stop"),
    ("Egyptian pyramid", "en", "town/pyramid"),
    ("bowed string instrument held under the chin", "en", "hobbies/violin"),
    ("christmas gift giver", "en", "seasonal/Santa"),
    ("what do bishops do in chess", "en", "symbols/w_3_bishop#en"),
    ("meaning of a red traffic light", "en", "town/stoplight_01_red#en"),
    ("recycling symbol", "en", "symbols/recycle#en"),
    ("Hanukkah candleholder", "en", "seasonal/menorah#en"),
    ("fly that looks like a bee", "en", "animals/hoverfly#en"),
    ("mandarin orange", "en", "food/mandarine#ko"),
    ("zebra", "en", "animals/zebra#ko"),
    ("Mexican hat", "en", "clothes/sombrero#ko"),
    # Korean: not copies of the Korean caption (which full-text search indexes through the
    # `fts_metadata_fields = ["caption_ko"]` setting): the caption's words with particles and
    # endings, compounds spelt with or without a space, numbers beside Hangul, and paraphrases
    # that share no word with it (only a multilingual model finds those)
    ("개구리는 어디에 사나요", "ko", "animals/frog"),
    ("코가 긴 회색 동물", "ko", "animals/elephant"),
    ("줄무늬가 있는 호랑이", "ko", "animals/tiger"),
    ("바다에서 헤엄치는 돌고래들", "ko", "animals/dolphin"),
    ("원숭이가 좋아하는 노란 과일", "ko", "food/banana"),
    ("빨간 딸기 한 개", "ko", "food/strawberry"),
    ("당근을 좋아하는 토끼", "ko", "food/carrot"),
    ("장미꽃 한 송이", "ko", "plants/rose"),
    ("뜨거운 공기로 하늘을 나는 기구", "ko", "vehicles/balloon360"),
    ("런던의 이층버스", "ko", "vehicles/double_decker_bus"),
    ("농구공을 튀기는 선수", "ko", "sports/basketball"),
    ("못을 박을 때 쓰는 망치", "ko", "household/hammer"),
    ("네덜란드의 풍차", "ko", "town/windmill"),
    ("겨울에 눈사람을 만들었다", "ko", "people/snowman"),
    ("천둥 번개가 치는 날", "ko", "naturalforces/lightningbolt"),
    ("핼러윈에 나오는 유령", "ko", "seasonal/ghost"),
    ("펭귄은 날지 못하는 새", "ko", "animals/penguin"),
    ("밤에 활동하는 올빼미", "ko", "animals/owl"),
    ("한쪽 다리로 서 있는 분홍색 새", "ko", "animals/pink_flamingo"),
    ("꿀을 만드는 곤충", "ko", "animals/bee"),
    ("가시가 많은 고슴도치", "ko", "animals/hedgehog"),
    ("불을 끄는 소방차", "ko", "vehicles/firetruck"),
    ("747 비행기", "ko", "vehicles/747"),
    ("붉은 행성 화성", "ko", "space/4_mars"),
    ("우주 유영을 하는 우주 비행사", "ko", "space/spacewalk"),
    ("의사가 심장 소리를 듣는 청진기", "ko", "medical/stethoscope"),
    ("고리가 있는 토성", "ko", "space/6_saturn"),
    ("생일 축하 케이크", "ko", "food/birthday_cake"),
    ("이빨", "ko", "medical/tooth"),
    ("산타 할아버지의 선물", "ko", "seasonal/Santa"),
    ("칙칙폭폭 증기기관차", "ko", "vehicles/toy_train"),
    ("수학의 덧셈 기호", "ko", "symbols/op0_plus"),
    ("하누카 팽이 놀이", "ko", "seasonal/dreydl#ko"),
    ("멕시코의 챙 넓은 모자", "ko", "clothes/sombrero#ko"),
    ("생각을 나타내는 말풍선", "ko", "symbols/thought_balloon#ko"),
    ("태양계에서 두 번째 행성", "ko", "space/2_venus#ko"),
]
# Category queries: every item whose stamp path starts with one of the prefixes is relevant (1);
# the video counts as a member of its frames' folder.
CATEGORY = [
    ("fruit", "en", ["food/fruit/"]),
    ("musical instruments", "en", ["hobbies/music/"]),
    ("planets of the solar system", "en", ["space/planets/"]),
    ("ball games and sports", "en", ["sports/"]),
    ("bugs and insects", "en", ["animals/insects/"]),
    ("road signs", "en", ["town/roadsigns/"]),
    ("birds", "en", ["animals/birds/"]),
    ("vegetables", "en", ["food/vegetables/"]),
    ("과일", "ko", ["food/fruit/"]),
    ("악기", "ko", ["hobbies/music/"]),
    ("행성", "ko", ["space/planets/"]),
    ("곤충", "ko", ["animals/insects/"]),
    ("새", "ko", ["animals/birds/"]),
    ("교통 표지판", "ko", ["town/roadsigns/"]),
]


def read_caption(stamps: Path, rel: str) -> tuple[str, str]:
    """English caption (first line) and Korean caption (``ko.utf8=``) of one stamp."""
    lines = (stamps / f"{rel}.txt").read_text(encoding="utf-8").splitlines()
    ko = next((ln.split("=", 1)[1] for ln in lines if ln.startswith("ko.utf8=")), "")
    if not lines or not ko.strip():
        raise SystemExit(f"{rel}.txt lacks an English or Korean caption; pick another stamp")
    return lines[0].strip(), ko.strip()


def item_id(rel: str) -> str:
    parts = rel.split("/")
    return f"{parts[0]}/{parts[-1]}"


def save_png(src: Path, dst: Path) -> None:
    from PIL import Image

    with Image.open(src) as im:
        im = im.convert("RGBA")
        im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        dst.parent.mkdir(parents=True, exist_ok=True)
        im.save(dst, optimize=True)


def make_video(stamps: Path, frames: list[str], dst: Path, side: int = 160, fps: int = 10) -> None:
    """A 1 s shot per stamp, zooming in slightly, on white; H.264, yuv420p."""
    import av
    import numpy as np
    from PIL import Image

    dst.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "30", "threads": "1"})
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        for rel in frames:
            with Image.open(stamps / f"{rel}.png") as im:
                im = im.convert("RGBA")
            for t in range(fps):
                scale = 0.8 + 0.2 * t / fps
                size = max(2, int(side * scale))
                tile = im.copy()
                tile.thumbnail((size, size), Image.Resampling.LANCZOS)
                canvas = Image.new("RGBA", (side, side), "white")
                canvas.alpha_composite(tile, ((side - tile.width) // 2, (side - tile.height) // 2))
                frame = av.VideoFrame.from_ndarray(np.asarray(canvas.convert("RGB")), "rgb24")
                out.mux(stream.encode(frame))
        out.mux(stream.encode())


def build(root: Path, out: Path) -> None:
    stamps = root / STAMPS
    items: list[dict] = []
    source_of: dict[str, str] = {}  # item id -> stamp path, for category relevance
    for rel in IMAGE_ITEMS:
        en, ko = read_caption(stamps, rel)
        iid, cat = item_id(rel), rel.split("/")[0]
        fname = f"images/{iid.replace('/', '_')}.png"
        save_png(stamps / f"{rel}.png", out / fname)
        items.append({"id": iid, "text": en, "image": fname, "category": cat, "caption_ko": ko,
                      "lang": "en", "source": f"tuxpaint-stamps/{rel}.png"})
        source_of[iid] = rel
    for rel in IMAGE_ONLY:
        iid = item_id(rel)
        fname = f"images/{iid.replace('/', '_')}.png"
        save_png(stamps / f"{rel}.png", out / fname)
        items.append({"id": iid, "text": "", "image": fname, "category": rel.split("/")[0],
                      "source": f"tuxpaint-stamps/{rel}.png"})
    for rels, lang in ((TEXT_EN, "en"), (TEXT_KO, "ko")):
        for rel in rels:
            en, ko = read_caption(stamps, rel)
            iid = f"{item_id(rel)}#{lang}"
            items.append({"id": iid, "text": en if lang == "en" else ko,
                          "category": rel.split("/")[0], "lang": lang,
                          "source": f"tuxpaint-stamps/{rel}.txt"})
            source_of[iid] = rel
    vid, frames, text = VIDEO
    make_video(stamps, frames, out / "videos/planets_slideshow.mp4")
    derived_from = ", ".join(f"{f}.png" for f in frames)
    items.append({"id": vid, "text": text, "video": "videos/planets_slideshow.mp4",
                  "category": "space", "lang": "en",
                  "source": f"derived from tuxpaint-stamps/{derived_from}"})
    source_of[vid] = frames[0]
    with open(out / "manifest.jsonl", "w", encoding="utf-8") as fh:
        for it in items:
            fh.write(json.dumps(it, ensure_ascii=False) + "\n")
    write_golden(stamps, out / "golden", items, source_of)
    # GPL-2 travels with the subset: the package's copyright file and the licence text.
    shutil.copy(root / "usr/share/doc/tuxpaint-stamps-default/copyright", out / "debian-copyright")
    shutil.copy(GPL2, out / "COPYING")
    print(f"{len(items)} items, {len(SPECIFIC) + len(CATEGORY) + len(QUERY_IMAGES)} queries")


def write_golden(stamps: Path, gdir: Path, items: list[dict], source_of: dict[str, str]) -> None:
    gdir.mkdir(parents=True, exist_ok=True)
    ids = {it["id"] for it in items}
    queries, qrels = [], []
    for text, lang, target in SPECIFIC:
        assert target in ids, target
        qid = f"q{len(queries) + 1}"
        queries.append({"_id": qid, "text": text, "lang": lang})
        qrels.append((qid, target, 2))
        if target == "space/6_saturn" or target == "space/4_mars":
            qrels.append((qid, VIDEO[0], 1))  # the slideshow shows this planet too
    for text, lang, prefixes in CATEGORY:
        qid = f"q{len(queries) + 1}"
        queries.append({"_id": qid, "text": text, "lang": lang})
        members = sorted(i for i, rel in source_of.items() if rel.startswith(tuple(prefixes)))
        assert len(members) >= 3, (text, members)
        qrels.extend((qid, m, 1) for m in members)
    for rel, target in QUERY_IMAGES.items():
        assert target in ids, target
        qid = f"q{len(queries) + 1}"
        fname = f"images/{rel.split('/')[-1]}.png"
        save_png(stamps / f"{rel}.png", gdir / fname)
        queries.append({"_id": qid, "text": "", "image": fname, "lang": "zxx"})
        qrels.append((qid, target, 2))
    with open(gdir / "queries.jsonl", "w", encoding="utf-8") as fh:
        for q in queries:
            fh.write(json.dumps(q, ensure_ascii=False) + "\n")
    with open(gdir / "qrels.tsv", "w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        fh.writelines(f"{q}\t{c}\t{s}\n" for q, c, s in qrels)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("deb_root", type=Path, help="directory where the .deb was extracted")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data/sample")
    args = ap.parse_args()
    for sub in ("images", "videos", "golden"):
        shutil.rmtree(args.out / sub, ignore_errors=True)
    build(args.deb_root, args.out)


if __name__ == "__main__":
    main()
