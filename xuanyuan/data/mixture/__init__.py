"""Data mixtures: how much of each group (a pretraining domain, an SFT category) training draws.

`domains` is the pretraining mixture (token ratios per domain, the loss-driven controller, the batch
sampler); `categories` is the SFT mix (instruction categories plus replayed pretraining text, the per-epoch
rebalancing rule, the example sampler). Both keep their shares within bounds with `fit_to_bounds`.
"""

from __future__ import annotations

from collections.abc import Mapping


def normalize(weights: Mapping[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {name: value / total for name, value in weights.items()}


def fit_to_bounds(weights: Mapping[str, float], lower: Mapping[str, float], upper: Mapping[str, float]) -> dict:
    """Ratios summing to 1, each `clip(s * weight, lower, upper)`: proportional to the weights except where a
    bound binds. The sum is monotone in the scale `s`, which bisection finds to float precision."""
    if sum(lower.values()) > 1 or sum(upper.values()) < 1 or not any(w > 0 for w in weights.values()):
        raise ValueError(f"no ratios summing to 1 fit weights {dict(weights)} within {dict(lower)}..{dict(upper)}")

    def fitted(scale: float) -> dict[str, float]:
        return {d: min(max(scale * w, lower[d]), upper[d]) for d, w in weights.items()}

    low, high = 0.0, 1.0
    while sum(fitted(high).values()) < 1:
        high *= 2
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if sum(fitted(middle).values()) < 1 else (low, middle)
    return normalize(fitted(high))
