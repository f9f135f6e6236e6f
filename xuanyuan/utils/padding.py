"""Batches of token lists: padding left or right, and batching longest-first.

The one place every forward pass over variable-length token lists (generation, perplexity, reward
scoring, the judge, PPO) pads its batch. The index of a row's last real token is `last_token_index` in
the model file, which checkpoints carry on their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch loads on first use: command lines read PADDING_SIDES for their `--help`
    import torch

PADDING_SIDES = ("right", "left")


def pad(
    sequences: Sequence[Sequence[int]], pad_token_id: int, side: str = "right"
) -> tuple[torch.Tensor, torch.Tensor]:
    """`(input_ids, attention_mask)`, both `(len(sequences), longest)` long tensors, padded on `side`."""
    if side not in PADDING_SIDES:
        raise ValueError(f"padding side must be one of {PADDING_SIDES}, got {side!r}")
    import torch
    from torch.nn.utils.rnn import pad_sequence

    rows = [torch.as_tensor(list(s), dtype=torch.long) for s in sequences]
    input_ids = pad_sequence(rows, batch_first=True, padding_value=pad_token_id, padding_side=side)
    ones = [torch.ones(len(row), dtype=torch.long) for row in rows]
    return input_ids, pad_sequence(ones, batch_first=True, padding_value=0, padding_side=side)


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counted over real tokens only, so left padding does not shift RoPE (as `generate` does)."""
    return (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)


def longest_first(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices in batches of `batch_size`, longest first, so each batch pads little and the first is the
    largest (an out-of-memory error shows at once)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]
