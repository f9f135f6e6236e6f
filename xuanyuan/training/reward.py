"""Reward-model training: the token-level pairwise loss of XuanYuan-6B on TRL's `RewardTrainer`.

XuanYuan-6B trains its reward model with DeepSpeed-Chat's token-level contrastive loss: for each pair the
value head's outputs are compared at every position from the first token where chosen and rejected differ
to the end of the longer one, not only at the last token. The report found that a sentence-level RM
(last token only) scores a higher pairwise accuracy, but a PPO critic initialized from it made training
unstable, because its values before the last token were never trained; the token-level RM gives the critic
meaningful per-token values. Both losses are here (`reward_loss`), with an optional margin term
(Llama 2's −log σ(r_c − r_r − m), m from the label strength), as small pure functions over the
`[chosen; rejected]` batch that TRL's collator stacks.

`XuanYuanRewardTrainer` changes only `compute_loss`: TRL's pools the score at the last token, which
discards the per-token values this loss needs. `XuanYuanForSequenceClassification` returns them as
`token_scores`; any other sequence-classification model (and PEFT wrappers of it) gives them through a forward
hook on its `score` head.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from trl import RewardConfig, RewardTrainer

from ..modeling.modeling_xuanyuan import last_token_index
from .kernels import apply_liger_kernel
from .trl_adapter import RewardHooks

REWARD_LOSSES = ("token_level", "sentence_level")


def _split_pairs(values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor):
    if values.dim() != 2 or values.shape != input_ids.shape or values.shape[0] % 2:
        raise ValueError(f"expected values and input_ids of the same shape (2B, T), got {tuple(values.shape)}")
    return values.float().chunk(2), input_ids.chunk(2), attention_mask.chunk(2)


def _pair_scores(values: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The value at each row's last real token (the EOS): the reward of the response."""
    rows = torch.arange(values.shape[0], device=values.device)
    return values[rows, last_token_index(None, attention_mask, None, values)]


def token_level_pairwise_loss(
    values: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    margin: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DeepSpeed-Chat's token-level pairwise loss over a right-padded `[chosen; rejected]` batch.

    `values`, `input_ids`, `attention_mask`: (2B, T), rows 0..B-1 chosen, B..2B-1 their rejected.
    For pair i, start = first position where the two token ids (or masks) differ, end = the longer
    sequence's last real token + 1; its loss is the mean over [start, end) of −log σ(v_c[t] − v_r[t] − m_i).
    Identical pairs use the last real token only. Computed in fp32 whatever the dtype of `values`.
    Returns (mean loss over pairs, chosen scores (B,), rejected scores (B,)), scores in fp32.
    """
    (chosen, rejected), (ids_c, ids_r), (mask_c, mask_r) = _split_pairs(values, input_ids, attention_mask)
    length = values.shape[1]
    positions = torch.arange(length, device=values.device)
    end_c = last_token_index(None, mask_c, None, chosen) + 1
    end_r = last_token_index(None, mask_r, None, rejected) + 1
    end = torch.maximum(end_c, end_r)
    differ = (ids_c != ids_r) | (mask_c != mask_r)
    start = torch.where(differ.any(dim=1), differ.int().argmax(dim=1), end - 1)
    span = (positions >= start[:, None]) & (positions < end[:, None])

    diff = chosen - rejected
    if margin is not None:
        diff = diff - margin.to(diff)[:, None]
    per_pair = (-F.logsigmoid(diff) * span).sum(dim=1) / span.sum(dim=1)
    rows = torch.arange(chosen.shape[0], device=values.device)
    return per_pair.mean(), chosen[rows, end_c - 1], rejected[rows, end_r - 1]


def sentence_level_pairwise_loss(
    values: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    margin: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The Bradley-Terry loss on the last real token only: mean of −log σ(r_c − r_r − m); same inputs/outputs."""
    (chosen, rejected), _, (mask_c, mask_r) = _split_pairs(values, input_ids, attention_mask)
    chosen_scores, rejected_scores = _pair_scores(chosen, mask_c), _pair_scores(rejected, mask_r)
    diff = chosen_scores - rejected_scores
    if margin is not None:
        diff = diff - margin.to(diff)
    return -F.logsigmoid(diff).mean(), chosen_scores, rejected_scores


PAIRWISE_LOSSES: dict[str, Callable] = {
    "token_level": token_level_pairwise_loss,
    "sentence_level": sentence_level_pairwise_loss,
}


@dataclass
class XuanYuanRewardConfig(RewardConfig):
    """TRL's `RewardConfig` plus the choice of pairwise loss and the label-strength margin."""

    reward_loss: str = field(
        default="token_level",
        metadata={
            "help": "token_level (XuanYuan-6B / DeepSpeed-Chat: trains every position after the divergence; a "
            "stable PPO critic init) or sentence_level (last token only: higher accuracy, unstable PPO critic).",
            "choices": list(REWARD_LOSSES),
        },
    )
    margin_per_strength: float = field(
        default=0.0,
        metadata={"help": "Margin term m = this × label strength (A3/B3 → 3) in −log σ(r_c − r_r − m); 0 disables."},
    )

    def __post_init__(self):
        super().__post_init__()
        if self.reward_loss not in REWARD_LOSSES:
            raise ValueError(f"reward_loss must be one of {REWARD_LOSSES}, got {self.reward_loss!r}")


def _score_head(model: torch.nn.Module) -> torch.nn.Module | None:
    """The outermost module named `score` (a PEFT `modules_to_save` wrapper comes before its copies)."""
    for name, module in model.named_modules():
        if name.split(".")[-1] == "score":
            return module
    return None


@contextmanager
def _capture_score_outputs(model: torch.nn.Module):
    captured: list[torch.Tensor] = []
    head = _score_head(model)
    handle = head.register_forward_hook(lambda module, args, output: captured.append(output)) if head else None
    try:
        yield captured
    finally:
        if handle is not None:
            handle.remove()


def token_values(model: torch.nn.Module, inputs: dict) -> tuple[torch.Tensor, object]:
    """Per-token scalar values (B, T) and the model outputs: `token_scores` when the model returns them
    (XuanYuanForSequenceClassification, also under PEFT), else captured from the `score` head.
    Shared by the reward trainer and the PPO critic/reward model (also through DDP/DeepSpeed wrappers)."""
    with _capture_score_outputs(model) as captured:
        outputs = model(**inputs)
    values = getattr(outputs, "token_scores", None)
    if isinstance(values, torch.Tensor):
        return values, outputs
    if not captured:
        raise ValueError(f"{type(model).__name__} returns no per-token `token_scores` and has no `score` head")
    return captured[-1].squeeze(-1), outputs


class XuanYuanRewardTrainer(RewardHooks, RewardTrainer):
    """`RewardTrainer` with the pairwise loss chosen by `args.reward_loss` on per-token values.

    Besides TRL's logged metrics it logs the margin variance, and keeps every training pair's
    chosen − rejected margin per optimizer step in `margin_history` for the model-selection plots.
    """

    args: XuanYuanRewardConfig

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        apply_liger_kernel(self.model, self.args)
        self.margin_history: dict[int, list[float]] = defaultdict(list)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        margin = inputs.pop("margin", None)
        inputs["use_cache"] = False
        values, outputs = token_values(model, inputs)
        loss_fn = PAIRWISE_LOSSES[getattr(self.args, "reward_loss", "token_level")]
        loss, chosen, rejected = loss_fn(values, inputs["input_ids"], inputs["attention_mask"], margin)
        if self.args.center_rewards_coefficient is not None:
            loss = loss + self.args.center_rewards_coefficient * torch.mean((chosen + rejected) ** 2)

        margins = self.log_pairs(mode, inputs["attention_mask"], chosen, rejected)
        if mode == "train":
            self.margin_history[self.state.global_step + 1].extend(margins.tolist())
        return (loss, outputs) if return_outputs else loss
