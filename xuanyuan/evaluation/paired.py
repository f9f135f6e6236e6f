"""Two models on the same exam questions: a paired comparison, not two independent accuracies.

Per question, each model is right or wrong. The exact McNemar test asks whether the questions only one
model gets right lean one way. When several questions ask the same fact (the embedded exam asks each fact
a few ways), they are not independent, so the main test is a sign-flip permutation test on the per-fact
mean differences: the fact is the unit of sampling. Both tests are a few lines, so no scipy dependency.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from ..data.records import iter_records

QuestionKey = tuple[str, str]  # (subject, id)


@dataclass
class PairedComparison:
    num_questions: int
    num_clusters: int
    accuracy: float
    baseline_accuracy: float
    difference: float
    only_model_right: int
    only_baseline_right: int
    mcnemar_p_value: float
    cluster_p_value: float
    difference_ci95: tuple[float, float]

    def to_dict(self) -> dict:
        return asdict(self)


def load_correctness(results_path: str | Path) -> dict[QuestionKey, bool]:
    """Per-question correctness from an `eval/ceval.py`-style results.json."""
    report = json.loads(Path(results_path).read_text(encoding="utf-8"))
    return {(q["subject"], str(q["id"])): q["prediction"] == q["answer"] for q in report["questions"]}


def load_clusters(answers_path: str | Path, split: str) -> dict[QuestionKey, str]:
    """Question -> the fact it asks, from the embedded exam's answers.jsonl (`fact` key)."""
    return {
        (record.data["subject"], str(record.data["id"])): record.data.get("fact", f"{record.line}")
        for record in iter_records(answers_path)
        if record.data.get("split") == split
    }


def mcnemar_p_value(only_model: int, only_baseline: int) -> float:
    """Two-sided exact McNemar test: the discordant questions as Binomial(n, 1/2)."""
    n, k = only_model + only_baseline, min(only_model, only_baseline)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def sign_flip_p_value(differences: list[float], rounds: int = 20000, seed: int = 0) -> float:
    """Two-sided p of the mean difference under random sign flips (the observed assignment counted once)."""
    observed = abs(sum(differences))
    rng = random.Random(seed)
    extreme = sum(
        abs(sum(d if rng.random() < 0.5 else -d for d in differences)) >= observed - 1e-12 for _ in range(rounds)
    )
    return (extreme + 1) / (rounds + 1)


def compare(
    model: dict[QuestionKey, bool], baseline: dict[QuestionKey, bool], clusters: dict[QuestionKey, str] | None = None
) -> PairedComparison:
    """Compare on the questions both answered (they must be the same set); clusters default to one per question."""
    if set(model) != set(baseline):
        missing = sorted(set(model) ^ set(baseline))[:5]
        raise ValueError(f"the two results do not cover the same questions (e.g. {missing})")
    keys = sorted(model)
    clusters = clusters or {}
    by_cluster: dict[str, list[float]] = {}
    for key in keys:
        by_cluster.setdefault(clusters.get(key, "/".join(key)), []).append(float(model[key]) - float(baseline[key]))
    cluster_means = [sum(d) / len(d) for d in by_cluster.values()]
    n = len(cluster_means)
    mean = sum(cluster_means) / n
    spread = math.sqrt(sum((d - mean) ** 2 for d in cluster_means) / max(n - 1, 1) / n)
    # the difference of accuracies weights clusters by their question counts; with equal counts the two agree
    accuracy, baseline_accuracy = (sum(map(float, (r[k] for k in keys))) / len(keys) for r in (model, baseline))
    only_model = sum(model[k] and not baseline[k] for k in keys)
    only_baseline = sum(baseline[k] and not model[k] for k in keys)
    return PairedComparison(
        num_questions=len(keys),
        num_clusters=n,
        accuracy=accuracy,
        baseline_accuracy=baseline_accuracy,
        difference=accuracy - baseline_accuracy,
        only_model_right=only_model,
        only_baseline_right=only_baseline,
        mcnemar_p_value=mcnemar_p_value(only_model, only_baseline),
        cluster_p_value=sign_flip_p_value(cluster_means),
        difference_ci95=(mean - 1.96 * spread, mean + 1.96 * spread),
    )
