"""Experience collection: sample responses, then score them with a forward pass of each model.

A `Rollout` holds one batch of prompt+response sequences. Prompts are left-padded, responses are
right-padded after their EOS, so the prompt ends at the same column `prompt_length` for every row.
Log-probs are recomputed by a forward pass (not taken from generation scores), as in DeepSpeed-Chat.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, fields

import torch
from torch import nn

from ...modeling.modeling_xuanyuan import last_token_index
from ...utils.padding import position_ids
from ..reward import token_values as reward_token_values
from .core import gae, kl_penalized_rewards, token_logprobs


@dataclass
class Rollout:
    input_ids: torch.Tensor  # (B, P + R) prompt (left-padded) + response (right-padded)
    attention_mask: torch.Tensor  # (B, P + R)
    prompt_length: int  # P
    action_mask: torch.Tensor  # (B, R): response tokens through the EOS
    logprobs: torch.Tensor  # (B, R) actor, at sampling time
    ref_logprobs: torch.Tensor  # (B, R) frozen reference
    values: torch.Tensor  # (B, R) critic
    scores: torch.Tensor  # (B,) reward model on prompt + response
    rewards: torch.Tensor  # (B, R) KL-penalized, score at the last token
    advantages: torch.Tensor  # (B, R)
    returns: torch.Tensor  # (B, R)

    def select(self, rows: torch.Tensor) -> Rollout:
        """The sub-batch of the given row indices (a PPO mini-batch)."""
        return Rollout(
            **{
                f.name: getattr(self, f.name)[rows] if f.name != "prompt_length" else self.prompt_length
                for f in fields(self)
            }
        )

    @property
    def response_lengths(self) -> torch.Tensor:
        return self.action_mask.sum(dim=1)


def response_action_mask(response_ids: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """1 for each response token up to and including its first EOS (all tokens when none), else 0."""
    is_eos = (response_ids == eos_token_id).long()
    eos_seen_before = is_eos.cumsum(dim=1) - is_eos
    return (eos_seen_before == 0).long()


@contextlib.contextmanager
def reference_model(actor: nn.Module, reference: nn.Module | None):
    """The frozen reference: its own model, or (None) the LoRA actor with its adapters disabled for just
    that long."""
    if reference is not None:
        yield reference
        return
    with actor.disable_adapter():
        yield actor


def response_logits(model: nn.Module, input_ids, attention_mask, prompt_length: int) -> torch.Tensor:
    """The causal LM's logits at the positions that predict each response token, (B, R, V)."""
    logits = model(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids(attention_mask)
    ).logits
    return logits[:, prompt_length - 1 : -1]


def token_values(model: nn.Module, input_ids, attention_mask) -> torch.Tensor:
    """Per-token scalar values of a sequence-classification model (critic or reward model), (B, T)."""
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    return reward_token_values(model, inputs | {"position_ids": position_ids(attention_mask)})[0]


def sequence_scores(reward_model: nn.Module, input_ids, attention_mask) -> torch.Tensor:
    """The reward model's score of each sequence: its value at the last real token (the EOS), (B,)."""
    values = token_values(reward_model, input_ids, attention_mask)
    last = last_token_index(None, attention_mask, None, values)
    return values[torch.arange(values.shape[0], device=values.device), last]


@dataclass
class ScoredSamples:
    input_ids: torch.Tensor  # (B·n, P + R) prompt (left-padded) + response (padded after its EOS)
    attention_mask: torch.Tensor  # (B·n, P + R)
    action_mask: torch.Tensor  # (B·n, R): response tokens through the EOS
    scores: torch.Tensor  # (B·n,) reward model on prompt + response, fp32


@torch.no_grad()
def generate_responses(
    policy: nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    generation_kwargs: dict,
    *,
    eos_token_id: int,
    pad_token_id: int,
) -> torch.Tensor:
    """`policy.generate`'s responses to (left-padded) prompts, (B·n, R): with `num_return_sequences` n in
    `generation_kwargs`, prompt by prompt, n per prompt."""
    sequences = policy.generate(
        input_ids=prompt_ids,
        attention_mask=prompt_mask,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        **generation_kwargs,
    )
    return sequences[:, prompt_ids.shape[1] :]


def join_responses(
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    responses: torch.Tensor,
    *,
    eos_token_id: int,
    pad_token_id: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`(input_ids, attention_mask, action_mask)` of `ScoredSamples`: each left-padded prompt, repeated for its n
    responses, followed by its response with every token after the first EOS set to pad."""
    per_prompt = responses.shape[0] // prompt_ids.shape[0]
    action_mask = response_action_mask(responses, eos_token_id)
    responses = torch.where(action_mask.bool(), responses, pad_token_id)
    input_ids = torch.cat([prompt_ids.repeat_interleave(per_prompt, 0), responses], dim=1)
    attention_mask = torch.cat([prompt_mask.long().repeat_interleave(per_prompt, 0), action_mask], dim=1)
    return input_ids, attention_mask, action_mask


@torch.no_grad()
def score_responses(
    reward_model: nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    responses: torch.Tensor,
    *,
    eos_token_id: int,
    pad_token_id: int,
) -> ScoredSamples:
    """Prompts joined with their responses (`join_responses`), each scored by the reward model."""
    input_ids, attention_mask, action_mask = join_responses(
        prompt_ids, prompt_mask, responses, eos_token_id=eos_token_id, pad_token_id=pad_token_id
    )
    scores = sequence_scores(reward_model, input_ids, attention_mask).float()
    return ScoredSamples(input_ids, attention_mask, action_mask, scores)


def sample_and_score(
    policy: nn.Module,
    reward_model: nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    generation_kwargs: dict,
    *,
    eos_token_id: int,
    pad_token_id: int,
) -> ScoredSamples:
    """Sample responses to (left-padded) prompts with `generate` and score each with the reward model."""
    tokens = {"eos_token_id": eos_token_id, "pad_token_id": pad_token_id}
    responses = generate_responses(policy, prompt_ids, prompt_mask, generation_kwargs, **tokens)
    return score_responses(reward_model, prompt_ids, prompt_mask, responses, **tokens)


@torch.no_grad()
def collect_rollout(
    actor: nn.Module,
    reference: nn.Module | None,
    critic: nn.Module,
    samples: ScoredSamples,
    *,
    eos_token_id: int,
    kl_coef: float,
    score_clip: float | None,
    gamma: float,
    lam: float,
    missing_eos_penalty: float | None = None,
) -> Rollout:
    """Everything PPO needs from one response per prompt (`sample_and_score`'s). `reference=None`: the actor is
    a LoRA model and its adapters disabled are the reference."""
    input_ids, attention_mask, action_mask = samples.input_ids, samples.attention_mask, samples.action_mask
    prompt_length = input_ids.shape[1] - action_mask.shape[1]
    actions = input_ids[:, prompt_length:]

    logprobs = token_logprobs(response_logits(actor, input_ids, attention_mask, prompt_length), actions)
    with reference_model(actor, reference) as frozen:
        ref_logprobs = token_logprobs(response_logits(frozen, input_ids, attention_mask, prompt_length), actions)
    values = token_values(critic, input_ids, attention_mask)[:, prompt_length - 1 : -1].float()
    scores = samples.scores
    if missing_eos_penalty is not None:
        ended = (actions == eos_token_id).any(dim=1)
        scores = torch.where(ended, scores, scores - missing_eos_penalty)

    rewards = kl_penalized_rewards(logprobs, ref_logprobs, scores, action_mask, kl_coef, score_clip)
    advantages, returns = gae(rewards, values, action_mask, gamma, lam)
    return Rollout(
        input_ids=input_ids,
        attention_mask=attention_mask,
        prompt_length=prompt_length,
        action_mask=action_mask,
        logprobs=logprobs * action_mask,
        ref_logprobs=ref_logprobs * action_mask,
        values=values * action_mask,
        scores=scores,
        rewards=rewards,
        advantages=advantages,
        returns=returns,
    )
