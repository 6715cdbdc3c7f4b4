"""Run open_clip 3.3.0 on a twin's weights (in the scratch venv of tests/test_clip_official.py).

Usage: ``python open_clip_run.py JOB.json OUT.npz``. The job names the family (``clip`` or
``siglip``), the twin's folder (a transformers checkpoint), the token ids and pixels mmindex fed
its own model (``inputs``, an npz), and the image files. The weights are converted name by name
into open_clip's own classes -- ``open_clip.model.CLIP`` (OpenAI CLIP: QuickGELU, causal text
tower pooled at the argmax id) and ``open_clip.model.CustomTextCLIP`` (SigLIP: open_clip's
``TextTransformer`` without a causal or padding mask, pooled at the last position, and
open_clip's ``TimmModel`` around timm's SigLIP ViT with its MAP head), sized like the twin -- and
``load_state_dict(strict=True)`` refuses any weight left over or missing. No mmindex code here.

Written out: ``text`` / ``image`` (open_clip's towers on mmindex's ids and pixels, L2-normed),
``text_openclip_pad`` (CLIP: ids in open_clip's own layout, zero-padded to 77), ``pixels_own`` /
``image_own`` (open_clip's own preprocessing, ``image_transform`` with the pretrained configs'
resize mode, on the files), and for SigLIP ``text_erf`` / ``image_erf`` (the activation
open_clip's SigLIP configs build, exact GELU, where the checkpoint says tanh GELU) and
``cleaned`` (open_clip's ``canonicalize`` text cleaning, as JSON).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch


def _blocks(sd: dict, src: str, dst: str, layers: int, names: dict[str, str], qkv: str) -> dict:
    """One transformer's layers: q/k/v concatenated into one in-projection, the rest renamed."""
    out = {}
    for i in range(layers):
        s, d = f"{src}.{i}", f"{dst}.{i}"
        for kind in ("weight", "bias"):
            # open_clip's nn.MultiheadAttention: in_proj_weight; timm's ViT: qkv.weight
            name = f"{d}.attn.in_proj_{kind}" if qkv == "in_proj" else f"{d}.attn.qkv.{kind}"
            out[name] = torch.cat([sd[f"{s}.self_attn.{p}_proj.{kind}"] for p in "qkv"])
            for a, b in names.items():
                out[f"{d}.{b}.{kind}"] = sd[f"{s}.{a}.{kind}"]
    return out


def clip_model(sd: dict, cfg: dict) -> torch.nn.Module:
    from open_clip.model import CLIP

    t, v = cfg["text_config"], cfg["vision_config"]
    model = CLIP(
        embed_dim=cfg["projection_dim"], quick_gelu=True,  # OpenAI's CLIP: QuickGELU
        vision_cfg=dict(layers=v["num_hidden_layers"], width=v["hidden_size"],
                        head_width=v["hidden_size"] // v["num_attention_heads"],
                        mlp_ratio=v["intermediate_size"] / v["hidden_size"],
                        patch_size=v["patch_size"], image_size=v["image_size"]),
        text_cfg=dict(context_length=t["max_position_embeddings"], vocab_size=t["vocab_size"],
                      width=t["hidden_size"], heads=t["num_attention_heads"],
                      layers=t["num_hidden_layers"],
                      mlp_ratio=t["intermediate_size"] / t["hidden_size"]))
    names = {"self_attn.out_proj": "attn.out_proj", "layer_norm1": "ln_1",
             "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}
    tv, vv = "text_model", "vision_model"
    new = {
        "logit_scale": sd["logit_scale"].reshape(()),
        "token_embedding.weight": sd[f"{tv}.embeddings.token_embedding.weight"],
        "positional_embedding": sd[f"{tv}.embeddings.position_embedding.weight"],
        "ln_final.weight": sd[f"{tv}.final_layer_norm.weight"],
        "ln_final.bias": sd[f"{tv}.final_layer_norm.bias"],
        "text_projection": sd["text_projection.weight"].T.contiguous(),
        "visual.class_embedding": sd[f"{vv}.embeddings.class_embedding"],
        "visual.conv1.weight": sd[f"{vv}.embeddings.patch_embedding.weight"],
        "visual.positional_embedding": sd[f"{vv}.embeddings.position_embedding.weight"],
        "visual.proj": sd["visual_projection.weight"].T.contiguous(),
        **{f"visual.ln_pre.{k}": sd[f"{vv}.pre_layrnorm.{k}"] for k in ("weight", "bias")},
        **{f"visual.ln_post.{k}": sd[f"{vv}.post_layernorm.{k}"] for k in ("weight", "bias")},
        **_blocks(sd, f"{tv}.encoder.layers", "transformer.resblocks", t["num_hidden_layers"],
                  names, "in_proj"),
        **_blocks(sd, f"{vv}.encoder.layers", "visual.transformer.resblocks",
                  v["num_hidden_layers"], names, "in_proj"),
    }
    model.load_state_dict(new, strict=True)
    return model.eval()


def siglip_model(sd: dict, cfg: dict, act: str) -> torch.nn.Module:
    """``act``: ``tanh`` (the checkpoint's ``gelu_pytorch_tanh``, as big_vision trained it) or
    ``erf`` (what open_clip's ViT-*-SigLIP configs build: nn.GELU and timm's default GELU)."""
    import timm
    from open_clip.model import CustomTextCLIP

    t, v = cfg["text_config"], cfg["vision_config"]
    width = t["hidden_size"]
    text_cfg = dict(context_length=t["max_position_embeddings"], vocab_size=t["vocab_size"],
                    width=width, heads=t["num_attention_heads"], layers=t["num_hidden_layers"],
                    mlp_ratio=t["intermediate_size"] / width,
                    # as open_clip's ViT-B-16-SigLIP.json
                    no_causal_mask=True, proj_bias=True, pool_type="last",
                    norm_kwargs={"eps": t["layer_norm_eps"]})
    if act == "tanh":
        text_cfg["act_kwargs"] = {"approximate": "tanh"}
    model = CustomTextCLIP(
        embed_dim=t.get("projection_size") or width, init_logit_bias=-10, text_cfg=text_cfg,
        vision_cfg=dict(image_size=v["image_size"], timm_model_name="vit_base_patch16_siglip_224",
                        timm_model_pretrained=False, timm_pool="map", timm_proj="none"))
    # open_clip's TimmModel wraps timm's SigLIP ViT; the same model at the twin's size
    model.visual.trunk = timm.create_model(
        "vit_base_patch16_siglip_224", pretrained=False, num_classes=0, global_pool="map",
        img_size=v["image_size"], patch_size=v["patch_size"], embed_dim=v["hidden_size"],
        depth=v["num_hidden_layers"], num_heads=v["num_attention_heads"],
        mlp_ratio=v["intermediate_size"] / v["hidden_size"],
        **({"act_layer": "gelu_tanh"} if act == "tanh" else {}))
    tv, vv = "text_model", "vision_model"
    text_names = {"self_attn.out_proj": "attn.out_proj", "layer_norm1": "ln_1",
                  "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}
    vision_names = {"self_attn.out_proj": "attn.proj", "layer_norm1": "norm1",
                    "layer_norm2": "norm2", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"}
    head = f"{vv}.head"
    in_w, in_b = sd[f"{head}.attention.in_proj_weight"], sd[f"{head}.attention.in_proj_bias"]
    hidden = v["hidden_size"]
    new = {
        "logit_scale": sd["logit_scale"].reshape(()), "logit_bias": sd["logit_bias"].reshape(()),
        "text.token_embedding.weight": sd[f"{tv}.embeddings.token_embedding.weight"],
        "text.positional_embedding": sd[f"{tv}.embeddings.position_embedding.weight"],
        **{f"text.ln_final.{k}": sd[f"{tv}.final_layer_norm.{k}"] for k in ("weight", "bias")},
        **{f"text.text_projection.{k}": sd[f"{tv}.head.{k}"] for k in ("weight", "bias")},
        **_blocks(sd, f"{tv}.encoder.layers", "text.transformer.resblocks",
                  t["num_hidden_layers"], text_names, "in_proj"),
        "visual.trunk.pos_embed": sd[f"{vv}.embeddings.position_embedding.weight"][None],
        **{f"visual.trunk.patch_embed.proj.{k}": sd[f"{vv}.embeddings.patch_embedding.{k}"]
           for k in ("weight", "bias")},
        **_blocks(sd, f"{vv}.encoder.layers", "visual.trunk.blocks", v["num_hidden_layers"],
                  vision_names, "qkv"),
        **{f"visual.trunk.norm.{k}": sd[f"{vv}.post_layernorm.{k}"] for k in ("weight", "bias")},
        "visual.trunk.attn_pool.latent": sd[f"{head}.probe"],
        "visual.trunk.attn_pool.q.weight": in_w[:hidden], "visual.trunk.attn_pool.q.bias":
            in_b[:hidden],
        "visual.trunk.attn_pool.kv.weight": in_w[hidden:], "visual.trunk.attn_pool.kv.bias":
            in_b[hidden:],
        **{f"visual.trunk.attn_pool.{b}.{k}": sd[f"{head}.{a}.{k}"]
           for a, b in (("attention.out_proj", "proj"), ("layernorm", "norm"),
                        ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2"))
           for k in ("weight", "bias")},
    }
    model.load_state_dict(new, strict=True)
    return model.eval()


def main(job_path: str, out_path: str) -> None:
    from open_clip.tokenizer import canonicalize_text
    from open_clip.transform import image_transform
    from PIL import Image
    from safetensors.torch import load_file

    torch.set_num_threads(1)
    job = json.loads(open(job_path).read())
    family, folder = job["family"], job["model"]
    sd = load_file(f"{folder}/model.safetensors")
    cfg = json.loads(open(f"{folder}/config.json").read())
    inputs = np.load(job["inputs"])
    ids, pixels = torch.from_numpy(inputs["input_ids"]), torch.from_numpy(inputs["pixel_values"])
    out: dict[str, np.ndarray] = {}
    # the pretrained configs' preprocessing: OpenAI's (shortest side, centre crop) for CLIP,
    # big_vision's squash for SigLIP; bicubic; their RGB conversion is Image.convert("RGB")
    preprocess = image_transform(cfg["vision_config"]["image_size"], is_train=False,
                                 mean=job["mean"], std=job["std"], interpolation="bicubic",
                                 resize_mode="shortest" if family == "clip" else "squash")
    own = torch.stack([preprocess(Image.open(p)) for p in job["images"]])
    out["pixels_own"] = own.numpy()
    models = {"": clip_model(sd, cfg)} if family == "clip" else \
        {"": siglip_model(sd, cfg, "tanh"), "_erf": siglip_model(sd, cfg, "erf")}
    with torch.no_grad():
        for suffix, model in models.items():
            out["text" + suffix] = model.encode_text(ids, normalize=True).numpy()
            out["image" + suffix] = model.encode_image(pixels, normalize=True).numpy()
            out["image_own" + suffix] = model.encode_image(own, normalize=True).numpy()
        if family == "clip":  # open_clip's layout: the ids up to the first end token, 0-padded
            eot = int(cfg["text_config"]["eos_token_id"])
            padded = torch.zeros(len(ids), cfg["text_config"]["max_position_embeddings"],
                                 dtype=torch.long)
            for i, row in enumerate(ids.tolist()):
                row = row[:row.index(eot) + 1]
                padded[i, :len(row)] = torch.tensor(row)
            out["text_openclip_pad"] = models[""].encode_text(padded, normalize=True).numpy()
    out["cleaned"] = np.array(json.dumps([canonicalize_text(t) for t in job["texts"]]))
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
