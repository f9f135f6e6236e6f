"""Checking, before any weight is loaded, that every linear layer fits the quantization kernel.

The kernels fail late and cryptically on odd shapes (a reshape error deep inside a forward pass), so
the shapes are checked up front on a meta-device copy of the model (no memory, any size) and every
offending layer is named with its shape and the rule it breaks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig


class QuantizationShapeError(ValueError):
    """Some linear layers have dimensions the chosen quantization method cannot handle."""


@dataclass(frozen=True)
class ShapeRule:
    """Linear layers need `in_features % in_multiple == 0` and `out_features % out_multiple == 0`."""

    method: str
    in_multiple: int = 1
    out_multiple: int = 1


def gptq_rule(group_size: int) -> ShapeRule:
    """GPTQ quantizes each row in groups of `group_size` input features (-1: one group per row)."""
    if group_size != -1 and group_size <= 0:
        raise ValueError(f"group_size must be a positive number of input features or -1, got {group_size}.")
    return ShapeRule(f"GPTQ with group_size {group_size}", in_multiple=max(group_size, 1))


def bnb_rule(bits: int) -> ShapeRule:
    """bitsandbytes 4-bit CPU kernels (AVX512-BF16) need out_features divisible by 32; 8-bit has no rule."""
    return ShapeRule("bitsandbytes 4-bit", out_multiple=32) if bits == 4 else ShapeRule(f"bitsandbytes {bits}-bit")


def quantized_linears(config: PretrainedConfig, skip_modules: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """`name -> (in_features, out_features)` of every `nn.Linear` that would be quantized (meta device)."""
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return {
        name: (module.in_features, module.out_features)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not any(name.split(".")[-1] == s for s in skip_modules)
    }


def check_linear_shapes(model: str | PretrainedConfig, rule: ShapeRule, skip_modules: tuple[str, ...] = ("lm_head",)):
    """Raise `QuantizationShapeError` naming every quantized linear layer whose shape breaks `rule`."""
    config = model if isinstance(model, PretrainedConfig) else AutoConfig.from_pretrained(model)
    problems = []
    for name, (fan_in, fan_out) in quantized_linears(config, skip_modules).items():
        if fan_in % rule.in_multiple:
            problems.append(f"{name}: in_features {fan_in} is not a multiple of {rule.in_multiple}")
        if fan_out % rule.out_multiple:
            problems.append(f"{name}: out_features {fan_out} is not a multiple of {rule.out_multiple}")
    if problems:
        shown = "\n  ".join(problems[:12]) + (f"\n  ... and {len(problems) - 12} more" if len(problems) > 12 else "")
        raise QuantizationShapeError(
            f"{rule.method} cannot quantize {len(problems)} linear layer dimension(s) of this model:\n  {shown}\n"
            "Choose a group size that divides these dimensions (or -1), "
            "or a model whose dimensions are multiples of it."
        )
