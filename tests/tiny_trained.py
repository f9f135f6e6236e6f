"""A briefly trained tiny XuanYuan model for tests and benchmarks that need a model with meaningful perplexity.

Random weights make quantization quality meaningless (every variant is equally bad), so the fixture
trains the tiny preset (2 layers) for 80 AdamW steps (4 x 256 tokens, lr 3e-3) on the embedded corpus: enough
for held-out perplexity to fall far below the vocabulary size, fast enough for a session fixture.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
from xuanyuan.data.records import iter_records, require_text
from xuanyuan.tokenization import load_tokenizer


def train_tiny_model(
    corpus: str | Path,
    output_dir: str | Path,
    num_layers: int = 2,
    steps: int = 80,
    batch_size: int = 4,
    seq_len: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
) -> Path:
    """Train the tiny preset with `num_layers` layers on packed `corpus` text; save model + tokenizer."""
    torch.manual_seed(seed)
    tokenizer = load_tokenizer()
    config = XuanYuanConfig.from_preset(
        "tiny",
        num_hidden_layers=num_layers,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = XuanYuanForCausalLM(config)
    texts = [require_text(record, "text") for record in iter_records(corpus)]
    stream = [i for ids in tokenizer(texts)["input_ids"] for i in ids + [tokenizer.eos_token_id]]
    chunks = torch.tensor(stream[: len(stream) // seq_len * seq_len]).view(-1, seq_len)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    order = random.Random(seed)
    model.train()
    for _ in range(steps):
        batch = chunks[order.sample(range(len(chunks)), batch_size)]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    model.eval()
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return Path(output_dir)
