"""A tiny custom-code model shaped like Jina's remote code (tests and ``--like`` fixtures only,
written for mmindex; never imported by mmindex: copied into model folders).

``TinyJinaClip`` answers like jina-clip-v2 (``encode_text(sentences, task=None, ...)``,
``encode_image(images, ...)``, numpy out); ``TinyJinaV4`` like jina-embeddings-v4
(``encode_text(texts=..., task=..., prompt_name=...)``, a list of tensors out). Text: a mean of
byte embeddings plus a task/prompt bias; images: 8x8 RGB pixels through a linear layer.
"""

import os

import numpy as np
import torch
from PIL import Image
from torch import nn
from transformers import PreTrainedModel

from .configuration_tiny_jina import TinyJinaConfig

if os.environ.get("TINY_JINA_IMPORT_LOG"):  # lets a test see whether this code ever ran
    with open(os.environ["TINY_JINA_IMPORT_LOG"], "a") as log:
        log.write("imported\n")

TASKS = {None: 0, "retrieval.query": 1, "retrieval.passage": 2, "query": 1, "passage": 2}


class TinyJinaClip(PreTrainedModel):
    config_class = TinyJinaConfig
    base_model_prefix = "tiny"

    def __init__(self, config):
        super().__init__(config)
        self.bytes = nn.Embedding(config.vocab_size, config.dim)
        self.task = nn.Embedding(3, config.dim)
        self.pixels = nn.Linear(3 * config.image_side ** 2, config.dim)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, (nn.Embedding, nn.Linear)):
            nn.init.normal_(module.weight, std=0.5)
        if isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)

    def _text(self, text, task):
        ids = torch.tensor(list(text.encode("utf-8"))[:512] or [256])
        return self.bytes(ids).mean(0) + self.task(torch.tensor(TASKS[task]))

    def _image(self, image):
        if isinstance(image, str):
            image = Image.open(image)
        side = self.config.image_side
        arr = np.asarray(image.convert("RGB").resize((side, side)), dtype=np.float32) / 255.0
        return self.pixels(torch.from_numpy(arr).reshape(-1))

    @staticmethod
    def _out(rows, normalize, truncate_dim):
        v = torch.stack(rows)[:, :truncate_dim] if truncate_dim else torch.stack(rows)
        return nn.functional.normalize(v, dim=-1) if normalize else v

    @torch.no_grad()
    def encode_text(self, sentences, batch_size=32, task=None, truncate_dim=None,
                    normalize_embeddings=True, **kwargs):
        single = isinstance(sentences, str)
        rows = [self._text(s, task) for s in ([sentences] if single else sentences)]
        out = self._out(rows, normalize_embeddings, truncate_dim).numpy()
        return out[0] if single else out

    @torch.no_grad()
    def encode_image(self, images, batch_size=32, truncate_dim=None, normalize_embeddings=True,
                     **kwargs):
        single = not isinstance(images, list)
        rows = [self._image(i) for i in ([images] if single else images)]
        out = self._out(rows, normalize_embeddings, truncate_dim).numpy()
        return out[0] if single else out


class TinyJinaV4(TinyJinaClip):
    @torch.no_grad()
    def encode_text(self, texts, task=None, max_length=8192, batch_size=8,
                    return_multivector=False, return_numpy=False, truncate_dim=None,
                    prompt_name=None):
        assert task == "retrieval" and not return_multivector
        rows = [self._text(t, prompt_name) for t in texts]
        return list(self._out(rows, True, truncate_dim))

    @torch.no_grad()
    def encode_image(self, images, task=None, batch_size=8, return_multivector=False,
                     return_numpy=False, truncate_dim=None, max_pixels=None):
        assert task == "retrieval" and not return_multivector
        return list(self._out([self._image(i) for i in images], True, truncate_dim))
