"""`XuanYuanConfig`: a Llama configuration whose defaults are the published XuanYuan-6B.

This file is copied next to every saved checkpoint (see `auto_map`), so it imports nothing but
transformers: a checkpoint folder must load with `trust_remote_code=True` without this repository.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import LlamaConfig

# Entry points a saved checkpoint advertises to the Auto classes; the files named here are written
# beside the weights by `save_pretrained`.
XUANYUAN_AUTO_MAP = {
    "AutoConfig": "configuration_xuanyuan.XuanYuanConfig",
    "AutoModel": "modeling_xuanyuan.XuanYuanModel",
    "AutoModelForCausalLM": "modeling_xuanyuan.XuanYuanForCausalLM",
    "AutoModelForSequenceClassification": "modeling_xuanyuan.XuanYuanForSequenceClassification",
}

# Published shapes. `tiny` is the embedded default: every feature dimension is a multiple of 128 so
# that bitsandbytes 4-bit and GPTQ (group size 128) kernels accept every linear layer.
PRESETS: dict[str, dict] = {
    "tiny": dict(
        vocab_size=4096,
        hidden_size=256,
        intermediate_size=768,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=1024,
    ),
    "6b": dict(
        vocab_size=39438,
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=30,
        num_attention_heads=32,
        num_key_value_heads=32,
        max_position_embeddings=8192,
    ),
    "13b": dict(
        vocab_size=39438,
        hidden_size=5120,
        intermediate_size=13824,
        num_hidden_layers=40,
        num_attention_heads=40,
        num_key_value_heads=40,
        max_position_embeddings=8192,
    ),
    "70b": dict(
        vocab_size=65536,
        hidden_size=8192,
        intermediate_size=28672,
        num_hidden_layers=80,
        num_attention_heads=64,
        num_key_value_heads=8,
        max_position_embeddings=8192,
    ),
}


@strict
class XuanYuanConfig(LlamaConfig):
    """LLaMA-style decoder (RoPE, SwiGLU, RMSNorm, untied embeddings); defaults = XuanYuan-6B."""

    model_type = "xuanyuan"

    vocab_size: int = 39438
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 30
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None  # = num_attention_heads (32) unless set
    max_position_embeddings: int = 8192
    rms_norm_eps: float = 1e-5
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if getattr(self, "auto_map", None) is None:
            self.auto_map = dict(XUANYUAN_AUTO_MAP)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> XuanYuanConfig:
        """A config for one of `PRESETS` (`tiny`, `6b`, `13b`, `70b`), with optional field overrides."""
        if name not in PRESETS:
            raise ValueError(f"Unknown XuanYuan preset {name!r}; choose one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})


__all__ = ["PRESETS", "XUANYUAN_AUTO_MAP", "XuanYuanConfig"]
