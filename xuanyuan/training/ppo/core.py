"""The RL math of XuanYuan/DeepSpeed-Chat PPO as small, pure, vectorised functions.

Every tensor is aligned with the *response* tokens: position t of `logprobs`, `values`, `rewards`,
`action_mask` belongs to the t-th generated token (the value is the critic's estimate of the state
before that token). `action_mask` is 1 from the first response token through the EOS (or the last
generated token when no EOS came), then 0. All losses are computed in fp32 whatever the model dtype.
Hand-written because no maintained library ships this algorithm since TRL removed `PPOTrainer`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...modeling.modeling_xuanyuan import last_token_index


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of `values` where `mask` is 1 (over everything, or along `dim`); 0 where nothing is masked in."""
    mask = mask.to(values.dtype)
    total = (values * mask).sum() if dim is None else (values * mask).sum(dim)
    count = mask.sum() if dim is None else mask.sum(dim)
    return total / count.clamp(min=1)


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """Normalize `values` to unit variance (and zero mean when `shift_mean`) over the masked entries."""
    mean = masked_mean(values, mask)
    variance = masked_mean((values - mean) ** 2, mask)
    whitened = (values - mean) * torch.rsqrt(variance + 1e-8)
    return (whitened if shift_mean else whitened + mean) * mask


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log p(tokens[t]) under logits[t] (both (B, T[, V])), in fp32."""
    return torch.gather(F.log_softmax(logits.float(), dim=-1), -1, tokens.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Per-position entropy of the categorical distribution given by `logits` (B, T, V), in fp32."""
    log_probs = F.log_softmax(logits.float(), dim=-1)
    return -(log_probs.exp() * log_probs).sum(-1)


def kl_penalized_rewards(
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    scores: torch.Tensor,
    action_mask: torch.Tensor,
    kl_coef: float,
    score_clip: float | None,
) -> torch.Tensor:
    """Per-token rewards: −β·(log π − log π_ref) on every response token, plus the reward model's
    score of the whole response (clipped to ±`score_clip`) added at its last token. Shape (B, R)."""
    mask = action_mask.float()
    rewards = -kl_coef * (logprobs.float() - ref_logprobs.float()) * mask
    scores = scores.float()
    if score_clip is not None:
        scores = scores.clamp(-score_clip, score_clip)
    last = last_token_index(None, action_mask, None, action_mask)
    has_response = action_mask.bool().any(dim=1)
    rows = torch.arange(rewards.shape[0], device=rewards.device)[has_response]
    return rewards.index_put((rows, last[has_response]), scores[has_response], accumulate=True)


def gae(
    rewards: torch.Tensor, values: torch.Tensor, action_mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over response tokens only.

    The episode ends at each row's last masked-in token (its next value is 0). Returns
    (advantages, returns = advantages + values), both zero outside the mask, in fp32.
    """
    mask = action_mask.float()
    rewards, values = rewards.float() * mask, values.float() * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        next_value = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    return advantages, (advantages + values) * mask


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    action_mask: torch.Tensor,
    clip_eps: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO clipped-ratio policy loss, masked mean over response tokens, in fp32.

    Returns the loss and detached statistics: `clip_fraction` (share of tokens where the clipped
    term was chosen) and `approx_kl` (mean of ½(log ratio)², an estimate of KL(old‖new))."""
    log_ratio = (logprobs.float() - old_logprobs.float()) * action_mask
    ratio = log_ratio.exp()
    advantages = advantages.float()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps)
    loss = masked_mean(torch.maximum(unclipped, clipped), action_mask)
    stats = {
        "clip_fraction": masked_mean((clipped > unclipped).float(), action_mask).detach(),
        "approx_kl": masked_mean(0.5 * log_ratio**2, action_mask).detach(),
    }
    return loss, stats


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    action_mask: torch.Tensor,
    clip_range: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped value loss 0.5·max((v − R)², (clip(v, v_old ± ε) − R)²), masked mean, in fp32."""
    values, old_values, returns = values.float(), old_values.float(), returns.float()
    clipped_values = old_values + (values - old_values).clamp(-clip_range, clip_range)
    unclipped_error = (values - returns) ** 2
    clipped_error = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(unclipped_error, clipped_error), action_mask)
    stats = {"value_clip_fraction": masked_mean((clipped_error > unclipped_error).float(), action_mask).detach()}
    return loss, stats
