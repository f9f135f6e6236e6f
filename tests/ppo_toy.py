"""Shared toy set-up for the PPO tests: tiny models over a 16-token vocabulary, and on-disk SFT model,
reward model and prompts as recipes/ppo.py reads them."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from xuanyuan.modeling import XuanYuanConfig, XuanYuanForCausalLM, XuanYuanForSequenceClassification

VOCAB = ["<pad>", "<s>", "</s>"] + [f"t{i}" for i in range(13)]
RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "ppo.py"


def toy_tokenizer() -> PreTrainedTokenizerFast:
    backend = Tokenizer(models.WordLevel({token: i for i, token in enumerate(VOCAB)}, unk_token="t0"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    return tokenizer


def toy_config(**overrides) -> XuanYuanConfig:
    return XuanYuanConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=64,
        **overrides,
    )


def save_toy_run_inputs(folder: Path) -> list[str]:
    """SFT model, reward model and prompts on disk; returns the recipe arguments that name them."""
    torch.manual_seed(0)
    XuanYuanForCausalLM(toy_config(pad_token_id=0, eos_token_id=2)).save_pretrained(folder / "sft")
    toy_tokenizer().save_pretrained(folder / "sft")
    XuanYuanForSequenceClassification(toy_config(num_labels=1, pad_token_id=0)).save_pretrained(folder / "rm")
    prompts = folder / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"t{i} t{i + 1}"}) + "\n" for i in range(8)), encoding="utf-8")
    return ["--sft_model", str(folder / "sft"), "--reward_model", str(folder / "rm"), "--prompt_files", str(prompts)]
