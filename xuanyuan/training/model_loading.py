"""TRL's `ModelConfig` as `from_pretrained` keyword arguments, for the recipes that load models themselves.

TRL's trainers turn `dtype`/`attn_implementation` into loading arguments internally and its example
scripts repeat the conversion inline; the pretraining, reward and PPO recipes share this one.
"""

from __future__ import annotations

import torch
from trl import ModelConfig


def from_pretrained_kwargs(model_args: ModelConfig) -> dict:
    """`dtype` (a torch dtype, or "auto"/None as given) and `attn_implementation`."""
    dtype = model_args.dtype
    if dtype not in (None, "auto"):
        dtype = getattr(torch, dtype)
    return {"dtype": dtype, "attn_implementation": model_args.attn_implementation}
