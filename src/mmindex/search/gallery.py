"""Search results as pictures: a notebook gallery and the thumbnails the report embeds.

>>> hits = idx.search("a penguin", k=8, mode="hybrid")   # a polars DataFrame, as always
>>> mmindex.gallery(hits)                                # shown in Jupyter as a grid of cards

Each card is the row's first image as a thumbnail (downscaled, embedded as a ``data:`` URI, so
a saved notebook or report shows it without the files), its id, score and text. Rows without
an image show their text alone; an image that cannot be read shows why.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from typing import Any

THUMB_PX = 160


def thumbnail_uri(ref: str, size: int = THUMB_PX, *,
                  storage_options: dict[str, Any] | None = None) -> str:
    """The image at ``ref`` (a path or URI), at most ``size`` px a side, as a ``data:`` URI.

    Raises:
        ItemError: the file is missing or refused; OSError: not an image PIL can read.
    """
    from PIL import Image

    from mmindex.extract.media import read_blob

    with Image.open(io.BytesIO(read_blob(ref, storage_options=storage_options))) as im:
        im.thumbnail((size, size))
        rgba = im.mode in ("RGBA", "LA", "P")
        out = io.BytesIO()
        im.convert("RGBA" if rgba else "RGB").save(out, "PNG" if rgba else "JPEG", quality=80)
    mime = "image/png" if rgba else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(out.getvalue()).decode()}"


def card(row: dict[str, Any], size: int = THUMB_PX, text_chars: int = 140,
         storage_options: dict[str, Any] | None = None) -> str:
    """One result as an HTML card: thumbnail (or a note), id, score, text."""
    images = row.get("images") or []
    if images:
        try:
            pic = (f'<img src="{thumbnail_uri(images[0], size, storage_options=storage_options)}"'
                   f' alt="{html.escape(str(row.get("id")))}" '
                   f'style="max-width:{size}px;max-height:{size}px">')
        except Exception as exc:  # a missing file must not hide the other results
            pic = f'<div class="mmx-noimg">image unreadable: {html.escape(str(exc)[:80])}</div>'
    else:
        pic = '<div class="mmx-noimg">no image</div>'
    text = str(row.get("text") or "")
    text = text if len(text) <= text_chars else text[:text_chars - 1] + "…"
    score = row.get("score")
    score_txt = f"{score:.3f}" if isinstance(score, int | float) else ""
    return (f'<figure class="mmx-card">{pic}<figcaption><b>{html.escape(str(row.get("id")))}'
            f'</b> <span class="mmx-score">{score_txt}</span><br>{html.escape(text)}'
            "</figcaption></figure>")


STYLE = (".mmindex-gallery{display:flex;flex-wrap:wrap;gap:8px}"
         ".mmx-card{margin:0;width:180px;border:1px solid #ddd;border-radius:6px;padding:6px;"
         "font:12px sans-serif;background:#fff;color:#222}"
         ".mmx-card img{display:block;margin:0 auto 4px}"
         ".mmx-noimg{height:60px;display:flex;align-items:center;justify-content:center;"
         "color:#888;background:#f4f4f4}.mmx-score{color:#06c}")


@dataclass
class Gallery:
    """Rows of a result frame shown as picture cards (``_repr_html_``); ``.df`` is the frame."""

    df: Any
    size: int = THUMB_PX
    text_chars: int = 140
    storage_options: dict[str, Any] | None = None

    def html(self) -> str:
        rows = self.df.to_dicts() if hasattr(self.df, "to_dicts") else list(self.df)
        cards = "".join(card(r, self.size, self.text_chars, self.storage_options) for r in rows)
        return f'<style>{STYLE}</style><div class="mmindex-gallery">{cards}</div>'

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        return f"Gallery of {len(self.df)} results (shown as pictures in a notebook)"


def gallery(df: Any, *, size: int = THUMB_PX, text_chars: int = 140,
            storage_options: dict[str, Any] | None = None) -> Gallery:
    """Show search results (``Index.search``'s frame: ``id``, ``score``, ``text``, ``images``)
    as a gallery in a notebook. The frame itself is unchanged; :attr:`Gallery.df` holds it."""
    return Gallery(df, size, text_chars, storage_options)
