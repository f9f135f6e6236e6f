"""Test helpers of the synthesis steps: a generator with scripted replies, and tiny random XuanYuan models saved
with the shipped tokenizer (a local generator, a reward model)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from xuanyuan import XuanYuanConfig
from xuanyuan.data.synthesis.generators import GenerationStats
from xuanyuan.tokenization import load_tokenizer


class ScriptedGenerator:
    """Answers like a `Generator` with `reply(last message text, sample index)`, and records every prompt text it
    was given (`prompts`) and the seed of every call (`seeds`)."""

    def __init__(self, name: str, reply: Callable[[str, int], str]):
        self.name, self.reply, self.stats = name, reply, GenerationStats()
        self.prompts: list[str] = []
        self.seeds: list[int | None] = []

    def complete(self, prompts, sampling, seed=None) -> list[list[str]]:
        started = time.perf_counter()
        texts = [[self.reply(p[-1]["content"], sample) for sample in range(sampling.num_samples)] for p in prompts]
        self.prompts += [p[-1]["content"] for p in prompts]
        self.seeds.append(seed)
        self.stats.add(len(prompts), texts, 0, started)
        return texts


def save_tiny_model(model_class: type, folder: Path, seed: int = 0, **config) -> Path:
    """A random 2-layer `model_class` (XuanYuanForCausalLM / ForSequenceClassification) and the shipped tokenizer,
    saved to `folder`."""
    tokenizer = load_tokenizer()
    torch.manual_seed(seed)
    model = model_class(XuanYuanConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, **config,
    ))  # fmt: skip
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
