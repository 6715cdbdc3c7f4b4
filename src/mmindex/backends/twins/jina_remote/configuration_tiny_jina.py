"""Config of a tiny custom-code model with Jina's encode_text / encode_image API (tests only)."""

from transformers import PretrainedConfig


class TinyJinaConfig(PretrainedConfig):
    model_type = "tiny_jina"

    def __init__(self, vocab_size: int = 257, dim: int = 24, image_side: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.dim, self.image_side = vocab_size, dim, image_side
