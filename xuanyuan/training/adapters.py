"""LoRA settings of the RL recipes, and merging a LoRA / QLoRA adapter into its base model for release.

The base is reloaded in full precision (never merged into a 4-bit copy, which would round the merged
weights to the 4-bit grid), the adapter applied with `peft`, folded in with `merge_and_unload`, and the
result saved like any checkpoint: safetensors, tokenizer with chat template, generation config.
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig, PeftConfig, PeftModel
from transformers import AutoModelForCausalLM, PreTrainedModel
from trl import ModelConfig, get_peft_config

from ..tokenization import load_tokenizer


def lora_config(model_args: ModelConfig, task_type: str) -> LoraConfig:
    """ModelConfig's LoRA settings for a policy ("CAUSAL_LM") or a critic ("SEQ_CLS": PEFT then also trains the
    value head in full); every linear layer unless `lora_target_modules` names some."""
    config = get_peft_config(model_args)
    config.task_type = task_type
    config.target_modules = config.target_modules or "all-linear"
    return config


def merge_adapter(
    adapter_dir: str | Path,
    output_dir: str | Path | None = None,
    base_model: str | None = None,
    dtype: torch.dtype = torch.float32,
) -> PreTrainedModel:
    """Return the base model with the adapter merged in (with the adapter's generation config, if it has one);
    saved with the adapter's tokenizer when `output_dir`."""
    base_path = base_model or PeftConfig.from_pretrained(str(adapter_dir)).base_model_name_or_path
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    if Path(adapter_dir, "generation_config.json").exists():  # the fine-tuned model's sampling settings
        merged.generation_config = merged.generation_config.from_pretrained(str(adapter_dir))
    if output_dir is not None:
        merged.save_pretrained(str(output_dir))
        load_tokenizer(adapter_dir).save_pretrained(str(output_dir))
    return merged
