"""PPO monitoring: the reward-hacking guard (a pure function of the metric history) and the PNG plots."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ...evaluation import plots

PLOTTED_METRICS = (
    "reward/score",
    "kl/ref",
    "loss/critic",
    "response/length",
    "policy/clip_fraction",
    "policy/entropy",
)
CURVES = ("reward/score", "kl/ref")  # ppo_curves.png: what a user looks at first
Y_LABELS = {
    "reward/score": "reward-model score (batch mean)",
    "kl/ref": "KL to the reference (per response)",
    "response/length": "tokens",
}


def slope(series: list[float]) -> float:
    """Least-squares slope per step of a series (0 for fewer than two points)."""
    if len(series) < 2:
        return 0.0
    return float(np.polyfit(np.arange(len(series)), np.asarray(series, dtype=float), 1)[0])


def reward_hacking_warnings(
    history: list[dict[str, float]], window: int, max_reward_slope: float, min_length_ratio: float
) -> list[str]:
    """Warnings for the signs of reward hacking in the last `window` logged steps.

    - the RM reward rises faster than `max_reward_slope` per step while the KL to the reference grows;
    - the mean response length falls below `min_length_ratio` × its value over the first window.
    """
    if len(history) < window:
        return []
    recent = history[-window:]
    warnings = []
    reward_slope = slope([row["reward/score"] for row in recent])
    kl_slope = slope([row["kl/ref"] for row in recent])
    if reward_slope > max_reward_slope and kl_slope > 0:
        warnings.append(
            f"reward rising {reward_slope:.3f}/step (> {max_reward_slope}) while KL grows {kl_slope:.4f}/step"
        )
    initial_length = np.mean([row["response/length"] for row in history[:window]])
    recent_length = np.mean([row["response/length"] for row in recent])
    if initial_length > 0 and recent_length < min_length_ratio * initial_length:
        warnings.append(
            f"responses collapsed to {recent_length:.1f} tokens (< {min_length_ratio} × initial {initial_length:.1f})"
        )
    return warnings


def plot_metrics(
    history: list[dict[str, float]], path: str | Path, metrics: tuple[str, ...] = PLOTTED_METRICS
) -> None:
    """One panel per metric against the PPO step, three to a row."""
    columns = min(3, len(metrics))
    rows = math.ceil(len(metrics) / columns)
    steps = [row["step"] for row in history]
    with plots.figure(path, (4.3 * columns, 3.2 * rows), nrows=rows, ncols=columns, squeeze=False) as (_, axes):
        for axis, name in zip(axes.flat, metrics, strict=False):
            axis.plot(steps, [row.get(name, float("nan")) for row in history], marker="." if len(steps) < 50 else "")
            axis.set_title(name)
            axis.set_xlabel("PPO step")
            axis.set_ylabel(Y_LABELS.get(name, ""))
