"""A tiny chat model for the chat tests, trained for a few seconds on a few finance answers in XuanYuan's chat
format: its greedy replies are words of those answers (not random bytes, not an immediate EOS), whatever it
has or has not learned by then."""

from __future__ import annotations

from pathlib import Path

import torch

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
from xuanyuan.hub import chat_generation_config
from xuanyuan.tokenization import load_tokenizer
from xuanyuan.utils.padding import pad

ANSWERS = {
    "什么是市盈率？": "市盈率是股价除以每股收益。",
    "什么是市净率？": "市净率是股价除以每股净资产。",
    "什么是债券？": "债券是按期付息还本的债务凭证。",
}


def conversations() -> list[list[dict]]:
    """One exchange per answer, without a system prompt: short sequences train fast."""
    return [[{"role": "user", "content": q}, {"role": "assistant", "content": a}] for q, a in ANSWERS.items()]


def train_chat_model(output_dir: str | Path, steps: int = 40, seed: int = 0) -> Path:
    """Train a 2-layer, 64-wide XuanYuan on the replies of `conversations()` (the chat template's assistant
    mask) with the shipped tokenizer; save model, tokenizer and the chat generation config."""
    torch.manual_seed(seed)
    tokenizer = load_tokenizer()
    config = XuanYuanConfig.from_preset(
        "tiny", hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=256,
    )  # fmt: skip
    model = XuanYuanForCausalLM(config)
    encoded = [tokenizer.apply_chat_template(c, return_assistant_tokens_mask=True) for c in conversations()]
    input_ids, _ = pad([e["input_ids"] for e in encoded], tokenizer.pad_token_id)
    replies, attention_mask = pad([e["assistant_masks"] for e in encoded], 0)
    labels = input_ids.masked_fill(replies == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # steps this small run ~10x slower on two threads when other jobs share the cores
    try:
        for _ in range(steps):
            model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    finally:
        torch.set_num_threads(threads)
    model.eval()
    model.generation_config = chat_generation_config(tokenizer)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return Path(output_dir)
