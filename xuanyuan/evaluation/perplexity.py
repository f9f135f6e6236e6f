"""Perplexity and bits-per-byte of a causal LM on held-out documents.

Each document is encoded as `<s> text </s>` and cut into non-overlapping windows of at most
`max_length` tokens (each window is scored without the previous window as context, the standard
cheap protocol; say so when comparing with strided numbers). Perplexity is per token and so depends
on the tokenizer; bits per UTF-8 byte does not, and is what to compare across tokenizers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..utils.padding import longest_first, pad


@dataclass
class PerplexityResult:
    perplexity: float
    nll_per_token: float
    bits_per_byte: float
    num_documents: int
    num_predicted_tokens: int
    num_bytes: int

    def to_dict(self) -> dict:
        return asdict(self)


def token_windows(tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int) -> list[list[int]]:
    """`<s> text </s>` token ids of every text, cut into windows of at most `max_length` tokens."""
    windows = []
    for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]:
        ids = ids + [tokenizer.eos_token_id]
        windows.extend(ids[start : start + max_length] for start in range(0, len(ids), max_length))
    return [w for w in windows if len(w) > 1]


@torch.no_grad()
def summed_nll(
    model: PreTrainedModel, windows: list[list[int]], batch_size: int, pad_token_id: int, progress: bool = True
) -> tuple[float, int]:
    """Total next-token negative log-likelihood (nats, fp32) over all windows, and the tokens predicted."""
    device = next(model.parameters()).device
    total_nll, total_tokens = 0.0, 0
    batches = list(longest_first([len(w) for w in windows], batch_size))
    for rows in tqdm(batches, desc="perplexity", leave=False, disable=not progress):
        input_ids, attention_mask = pad([windows[i] for i in rows], pad_token_id)
        input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1].float()
        targets = input_ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, -100)
        total_nll += F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100, reduction="sum").item()
        total_tokens += int((targets != -100).sum())
    return total_nll, total_tokens


def evaluate_perplexity(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    max_length: int = 1024,
    batch_size: int = 8,
) -> PerplexityResult:
    model.eval()
    windows = token_windows(tokenizer, texts, max_length)
    nll, tokens = summed_nll(model, windows, batch_size, tokenizer.pad_token_id)
    num_bytes = sum(len(t.encode("utf-8")) for t in texts)
    return PerplexityResult(
        perplexity=math.exp(nll / tokens),
        nll_per_token=nll / tokens,
        bits_per_byte=nll / math.log(2) / num_bytes,
        num_documents=len(texts),
        num_predicted_tokens=tokens,
        num_bytes=num_bytes,
    )
