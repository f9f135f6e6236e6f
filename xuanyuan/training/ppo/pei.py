"""PEI-RLHF (XuanYuan3): pre-train → evaluate → improve, as pure decision functions.

After each PPO run every sub-domain gets a quality score: the reward model's accuracy on it (how far
its reward can be trusted) × PPO's gain on it (win rate minus loss rate against the SFT model in a
pairwise comparison). Sub-domains are bucketed good / medium / poor, their data ratios multiplied by a
configurable table (poor ones get more data), β is lowered, and the loop stops when the ratios stop
changing or the gain stalls. The driver (`recipes/pei_rlhf.py`) runs the recipes; this module decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PEIConfig:
    good_threshold: float = 0.3  # quality ≥ this → good
    poor_threshold: float = 0.05  # quality < this → poor
    ratio_multipliers: dict[str, float] = field(default_factory=lambda: {"good": 0.8, "medium": 1.0, "poor": 1.25})
    initial_kl_coef: float = 0.2  # PPO starts with a large KL weight
    kl_decay: float = 0.5  # β multiplied by this after each iteration
    min_kl_coef: float = 0.02
    ratio_tolerance: float = 0.01  # stop when no ratio moves more than this
    min_gain_improvement: float = 0.0  # stop when the mean gain improves by no more than this
    max_iterations: int = 3


def quality(rm_accuracy: float, ppo_gain: float) -> float:
    return rm_accuracy * ppo_gain


def bucket(score: float, config: PEIConfig) -> str:
    if score >= config.good_threshold:
        return "good"
    return "poor" if score < config.poor_threshold else "medium"


def adjust_ratios(ratios: dict[str, float], buckets: dict[str, str], config: PEIConfig) -> dict[str, float]:
    """Multiply each sub-domain's ratio by its bucket's multiplier, then renormalize to sum 1."""
    scaled = {name: ratio * config.ratio_multipliers[buckets.get(name, "medium")] for name, ratio in ratios.items()}
    total = sum(scaled.values())
    return {name: value / total for name, value in scaled.items()}


def next_kl_coef(kl_coef: float, config: PEIConfig) -> float:
    return max(config.min_kl_coef, kl_coef * config.kl_decay)


def should_stop(
    old_ratios: dict[str, float], new_ratios: dict[str, float], gains: list[float], config: PEIConfig
) -> str | None:
    """Why the loop should stop now (or None): ratios settled, gain stalled, or iterations used up."""
    if max(abs(new_ratios[name] - old_ratios[name]) for name in old_ratios) <= config.ratio_tolerance:
        return "ratios_settled"
    if len(gains) >= 2 and gains[-1] - gains[-2] <= config.min_gain_improvement:
        return "gain_stalled"
    if len(gains) >= config.max_iterations:
        return "max_iterations"
    return None


def pei_step(
    ratios: dict[str, float],
    rm_accuracy: dict[str, float],
    ppo_gain: dict[str, float],
    config: PEIConfig,
) -> tuple[dict[str, float], dict[str, str], dict[str, float]]:
    """One evaluate → improve decision: (new ratios, bucket per sub-domain, quality per sub-domain).
    A sub-domain missing from the RM report or the comparison counts as quality 0 (poor)."""
    scores = {name: quality(rm_accuracy.get(name, 0.0), ppo_gain.get(name, 0.0)) for name in ratios}
    buckets = {name: bucket(score, config) for name, score in scores.items()}
    return adjust_ratios(ratios, buckets, config), buckets, scores
