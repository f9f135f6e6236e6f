"""A straightforward per-pair loop for the token-level pairwise loss: the reference the fast path is tested
and benchmarked against. It follows DeepSpeed-Chat's RewardModel.forward shape: one pair at a time."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def per_pair_token_level_loss(values, input_ids, attention_mask):
    """(loss, chosen_scores, rejected_scores) for a right-padded [chosen; rejected] batch, pair by pair."""
    half = values.shape[0] // 2
    losses, chosen_scores, rejected_scores = [], [], []
    for i in range(half):
        chosen, rejected = values[i].float(), values[half + i].float()
        chosen_len = int(attention_mask[i].sum())
        rejected_len = int(attention_mask[half + i].sum())
        end = max(chosen_len, rejected_len)
        chosen_ids = input_ids[i, :chosen_len].tolist()
        rejected_ids = input_ids[half + i, :rejected_len].tolist()
        start = end - 1  # identical pairs: the last real token only
        for t in range(end):
            if t >= chosen_len or t >= rejected_len or chosen_ids[t] != rejected_ids[t]:
                start = t
                break
        losses.append(-F.logsigmoid(chosen[start:end] - rejected[start:end]).mean())
        chosen_scores.append(chosen[chosen_len - 1])
        rejected_scores.append(rejected[rejected_len - 1])
    return torch.stack(losses).mean(), torch.stack(chosen_scores), torch.stack(rejected_scores)
