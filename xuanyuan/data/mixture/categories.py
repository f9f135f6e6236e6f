"""The SFT data mix: instruction categories plus pretraining text, sampled at configured ratios.

Group ids: 0..C-1 are the instruction categories, C the pretraining text (mixed fine-tuning, the
XuanYuan-6B report's guard against catastrophic forgetting). `MixtureSampler` draws every example's
group by weight, so the ratios hold in expectation over batches whatever the source sizes are;
`rebalance_shares` is XuanYuan3's dynamic SFT mix as a pure function of two epochs of per-category
losses. Neither exists in TRL or transformers (their samplers are uniform or length-grouped), hence
hand-written here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Sampler

from . import fit_to_bounds, normalize

PRETRAIN = "pretrain"


@dataclass
class Mixture:
    """Instruction categories (group ids 0..C-1) and pretraining text (group id C).

    `shares` are the categories' shares of the instruction part (they sum to 1); the pretraining text gets
    `pretrain_ratio` of all examples drawn (0: it is only evaluated, never trained on).
    """

    categories: list[str]
    shares: dict[str, float]
    pretrain_ratio: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.pretrain_ratio < 1.0:
            raise ValueError(f"pretrain_ratio must be in [0, 1), got {self.pretrain_ratio}")
        if set(self.shares) != set(self.categories):
            raise ValueError(f"shares {sorted(self.shares)} do not match categories {sorted(self.categories)}")

    @classmethod
    def from_counts(cls, counts: dict[str, int], pretrain_ratio: float = 0.0) -> Mixture:
        """Shares proportional to each category's number of records (the natural mix)."""
        categories = sorted(counts)
        return cls(categories, normalize({c: counts[c] for c in categories}), pretrain_ratio)

    @property
    def group_names(self) -> list[str]:
        return [f"category/{c}" for c in self.categories] + [f"source/{PRETRAIN}"]

    def group_weights(self) -> list[float]:
        instruction = 1.0 - self.pretrain_ratio
        return [instruction * self.shares[c] for c in self.categories] + [self.pretrain_ratio]


@dataclass(frozen=True)
class RatioRule:
    """Parameters of the per-epoch category rebalancing.

    step: a lowered share is multiplied by (1 - step), a raised one by (1 + step), before renormalizing.
    converged_tolerance: a category whose train loss moved by less than this fraction has converged.
    high_loss_margin: a category whose loss exceeds the mean over categories by this fraction is high-loss.
    min_share: no category's share falls below this.
    """

    step: float = 0.3
    converged_tolerance: float = 0.01
    high_loss_margin: float = 0.2
    min_share: float = 0.02


def classify_categories(
    previous: dict[str, tuple[float, float | None]] | None,
    current: dict[str, tuple[float, float | None]],
    rule: RatioRule,
) -> dict[str, str]:
    """Each category's verdict from its (train loss, held-out loss) over two epochs.

    "overfit": train loss fell while held-out loss rose; "converged": train loss moved by less than
    `converged_tolerance` (relative); "high_loss": its loss (held-out where every category has one, else
    train) exceeds the mean by `high_loss_margin`; else "keep". Lowering wins over raising.
    """
    use_eval = all(eval_loss is not None for _, eval_loss in current.values())
    level = {c: (e if use_eval else t) for c, (t, e) in current.items()}
    mean_level = sum(level.values()) / len(level)
    verdicts = {}
    for category, (train_now, eval_now) in current.items():
        before = (previous or {}).get(category)
        if before is not None:
            train_before, eval_before = before
            if None not in (eval_now, eval_before) and train_now < train_before and eval_now > eval_before:
                verdicts[category] = "overfit"
                continue
            if abs(train_now - train_before) < rule.converged_tolerance * train_before:
                verdicts[category] = "converged"
                continue
        verdicts[category] = "high_loss" if level[category] > (1 + rule.high_loss_margin) * mean_level else "keep"
    return verdicts


def rebalance_shares(
    shares: dict[str, float],
    previous: dict[str, tuple[float, float | None]] | None,
    current: dict[str, tuple[float, float | None]],
    rule: RatioRule,
) -> tuple[dict[str, float], dict[str, str]]:
    """New category shares (summing to 1, each ≥ `min_share`) and the verdicts that moved them."""
    verdicts = classify_categories(previous, current, rule)
    factor = {"overfit": 1 - rule.step, "converged": 1 - rule.step, "high_loss": 1 + rule.step, "keep": 1.0}
    raw = {c: shares[c] * factor[verdicts.get(c, "keep")] for c in shares}
    if rule.min_share * len(raw) > 1:
        raise ValueError(f"min_share {rule.min_share} is impossible with {len(raw)} categories")
    return fit_to_bounds(raw, dict.fromkeys(raw, rule.min_share), dict.fromkeys(raw, 1.0)), verdicts


class MixtureSampler(Sampler[int]):
    """Draws `num_samples` example indices per epoch: each draw picks a group by weight, then that group's
    next example in a per-epoch shuffled order (a group is cycled through before any example repeats).

    Deterministic in (seed, epoch), so every distributed rank iterates the same sequence and takes its shard.
    `set_weights` changes the mix from the next epoch on. With `lengths`, each run of `batch_size * megabatch`
    draws is sorted by length, cut into batches and the batches shuffled (transformers' LengthGroupedSampler
    idea): far less padding, and the mix still holds within every megabatch.
    """

    def __init__(
        self,
        groups: Sequence[int],
        weights: Sequence[float],
        num_samples: int,
        seed: int = 0,
        lengths: Sequence[int] | None = None,
        batch_size: int = 1,
        megabatch: int = 50,
    ):
        self.groups = torch.as_tensor(list(groups), dtype=torch.long)
        self.lengths = None if lengths is None else torch.as_tensor(list(lengths))
        self.batch_size, self.megabatch = batch_size, megabatch
        self.num_samples, self.seed, self.epoch = num_samples, seed, 0
        self.members = [torch.nonzero(self.groups == g).flatten() for g in range(len(weights))]
        self.set_weights(weights)

    def set_weights(self, weights: Sequence[float]) -> None:
        weights = torch.as_tensor(list(weights), dtype=torch.double)
        if len(weights) != len(self.members) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"expected {len(self.members)} non-negative weights with a positive sum, got {weights}")
        empty = [g for g, m in enumerate(self.members) if len(m) == 0 and weights[g] > 0]
        if empty:
            raise ValueError(f"groups {empty} have a positive weight but no examples")
        self.weights = weights / weights.sum()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1
        draws = torch.multinomial(self.weights, self.num_samples, replacement=True, generator=generator)
        orders = [m[torch.randperm(len(m), generator=generator)] for m in self.members]
        cursors = [0] * len(self.members)
        indices = []
        for group in draws.tolist():
            indices.append(int(orders[group][cursors[group] % len(orders[group])]))
            cursors[group] += 1
        if self.lengths is None:
            yield from indices
            return
        batches = []
        for start in range(0, len(indices), self.batch_size * self.megabatch):
            chunk = sorted(indices[start : start + self.batch_size * self.megabatch], key=lambda i: -self.lengths[i])
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        for b in torch.randperm(len(batches), generator=generator).tolist():
            yield from batches[b]
