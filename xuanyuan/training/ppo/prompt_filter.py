"""Finance prompt filtering by confidence interval (XuanYuan3).

For each prompt, n sampled responses are scored by the reward model. A prompt is dropped when the
scores barely vary (std below a threshold: nothing for PPO to optimize) or when their mean lies above
or below thresholds (the RM is unreliable at its extremes). The rest are sampled weighted by std,
each sub-domain (category) keeping its share. Selection is a pure function of the scores.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import numpy as np


@dataclass
class PromptFilterConfig:
    min_std: float = 0.05
    min_mean: float = -2.0
    max_mean: float = 2.0
    keep: int | None = None  # prompts to keep after the thresholds; None keeps all that pass
    seed: int = 0


@dataclass(frozen=True)
class PromptScores:
    id: str
    category: str
    scores: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        return float(np.std(self.scores))


def drop_reason(item: PromptScores, config: PromptFilterConfig) -> str | None:
    if item.std < config.min_std:
        return "low_std"
    if item.mean > config.max_mean:
        return "mean_above_max"
    if item.mean < config.min_mean:
        return "mean_below_min"
    return None


def category_quotas(counts: Counter, keep: int) -> dict[str, int]:
    """Split `keep` across categories in proportion to `counts` (largest remainders), never above a count."""
    total = sum(counts.values())
    exact = {category: keep * n / total for category, n in counts.items()}
    quotas = {category: min(int(value), counts[category]) for category, value in exact.items()}
    by_remainder = sorted(counts, key=lambda c: (-(exact[c] - int(exact[c])), c))
    for category in by_remainder:
        if sum(quotas.values()) >= keep:
            break
        if quotas[category] < counts[category]:
            quotas[category] += 1
    return quotas


def weighted_sample(items: list[PromptScores], k: int, rng: random.Random) -> list[PromptScores]:
    """k items without replacement, each drawn with probability proportional to its std
    (Efraimidis–Spirakis: the k largest keys u^(1/w))."""
    keyed = [(rng.random() ** (1.0 / max(item.std, 1e-12)), item.id, item) for item in items]
    return [item for _, _, item in sorted(keyed, key=lambda entry: (-entry[0], entry[1]))[:k]]


def select_prompts(items: list[PromptScores], config: PromptFilterConfig) -> tuple[list[PromptScores], dict[str, str]]:
    """(kept prompts in input order, {dropped id: reason})."""
    dropped = {}
    eligible = []
    for item in items:
        reason = drop_reason(item, config)
        if reason:
            dropped[item.id] = reason
        else:
            eligible.append(item)
    if config.keep is None or config.keep >= len(eligible):
        return eligible, dropped
    rng = random.Random(config.seed)
    quotas = category_quotas(Counter(item.category for item in eligible), config.keep)
    chosen = set()
    for category in sorted(quotas):
        members = [item for item in eligible if item.category == category]
        chosen.update(item.id for item in weighted_sample(members, quotas[category], rng))
    for item in eligible:
        if item.id not in chosen:
            dropped[item.id] = "not_sampled"
    return [item for item in eligible if item.id in chosen], dropped
