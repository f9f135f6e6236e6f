"""`use_liger_kernel` for XuanYuan models, shared by the Trainer stages and PPO.

transformers' Trainer picks Liger's patch from liger's table of model types, which has no "xuanyuan", so there
the flag silently did nothing for our models. XuanYuan's layers are transformers' Llama layers, so liger's Llama
patch applies as it is: its RoPE, RMSNorm and SwiGLU kernels. Its fused linear cross-entropy is never applied to
XuanYuan: it replaces the causal LM's `forward` and skips the logits that pretraining (per-domain losses), TRL's
SFT (its own fused LM head) and PPO (log-probs) read, and a reward model or critic has no LM head. Other model
types get transformers' own `apply_liger_kernel`.
"""

from __future__ import annotations

from torch import nn
from transformers import TrainingArguments

from ..utils.extras import require

XUANYUAN = "xuanyuan"


def apply_liger_kernel(model: nn.Module, args: TrainingArguments) -> None:
    """Liger's kernels on `model` (a PEFT model: on its base) when `args.use_liger_kernel`, with
    `args.liger_kernel_config` (liger's keyword arguments: rope, rms_norm, swiglu, ...). A model without a
    `config` (a rule-based reward) is left as it is."""
    if not args.use_liger_kernel:
        return
    require("liger_kernel")
    settings = dict(args.liger_kernel_config or {})
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    model_type = getattr(getattr(base, "config", None), "model_type", None)
    if model_type is None:
        return
    if model_type != XUANYUAN:
        from transformers.integrations import apply_liger_kernel as apply_by_model_type

        apply_by_model_type(model, settings)
        return
    if settings.get("fused_linear_cross_entropy"):
        raise ValueError(
            "liger_kernel_config fused_linear_cross_entropy is not supported for XuanYuan models: it replaces the "
            "forward whose logits the trainers read. The layer kernels (rope, rms_norm, swiglu) apply without it."
        )
    from liger_kernel.transformers import apply_liger_kernel_to_llama

    apply_liger_kernel_to_llama(model=base, **settings | {"fused_linear_cross_entropy": False})
