"""Preference data for reward modelling and RLHF prompts, built from the graded answers of `QAItem`s.

A pair's label says which response is better and by how much, on XuanYuan's eight-level scale
`A3 A2 A1 A0 B0 B1 B2 B3` (`xuanyuan.data.preferences.LABELS`, whose loader reads these files back):
3 = correct vs wrong or harmful, 2 = correct vs vague, 1 = complete vs brief, 0 = two good answers (near
tie). The better response sits in A or B in equal numbers. Ranked records list four responses best first.
RL prompts reuse half of the pair prompts and add as many new ones.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from .instructions import ITEM_MAKERS, QAItem
from .world import World

if TYPE_CHECKING:
    from .generate import EmbeddedDataConfig

_SHARES = {
    "company_fact": 0.30,
    "concept": 0.15,
    "calculation": 0.14,
    "comparison": 0.14,
    "safety": 0.17,
    "general": 0.10,
}
# Strength 3..0 weights; safety pairs are mostly refusal vs compliance.
_STRENGTH_WEIGHTS = {"safety": (0.55, 0.15, 0.15, 0.15)}
_DEFAULT_STRENGTH_WEIGHTS = (0.30, 0.25, 0.25, 0.20)


def _new_item(rng: random.Random, world: World, seen: set[str]) -> QAItem:
    """An item with a new prompt and five distinct responses (exhausted categories are simply redrawn)."""
    categories, weights = list(_SHARES), list(_SHARES.values())
    for _ in range(1000):
        item = ITEM_MAKERS[rng.choices(categories, weights)[0]](rng, world)
        if item.question not in seen and len({item.answer, item.alt, item.brief, item.vague, item.wrong}) == 5:
            seen.add(item.question)
            return item
    raise RuntimeError("the embedded world is too small to produce enough distinct prompts")


def _pair(rng: random.Random, item: QAItem, better_side: str) -> tuple[str, str, str]:
    strength = rng.choices((3, 2, 1, 0), _STRENGTH_WEIGHTS.get(item.category, _DEFAULT_STRENGTH_WEIGHTS))[0]
    good = rng.choice((item.answer, item.alt)) if strength else item.answer
    worse = {3: item.wrong, 2: item.vague, 1: item.brief, 0: item.alt}[strength]
    first, second = (good, worse) if better_side == "A" else (worse, good)
    return first, second, f"{better_side}{strength}"


def build_preferences(
    rng: random.Random, world: World, config: EmbeddedDataConfig
) -> tuple[list[dict], list[dict], list[dict]]:
    """Pairs, ranked records and RL prompts; every prompt appears in at most one pair or ranked record."""
    seen: set[str] = set()
    sides = (["A", "B"] * config.n_preference_pairs)[: config.n_preference_pairs]
    rng.shuffle(sides)
    pairs = []
    for index, side in enumerate(sides):
        item = _new_item(rng, world, seen)
        response_a, response_b, label = _pair(rng, item, side)
        pairs.append(
            {
                "id": f"pref-{index:05d}",
                "prompt": item.question,
                "response_a": response_a,
                "response_b": response_b,
                "label": label,
                "category": item.category,
            }
        )
    ranked = []
    for index in range(config.n_ranked):
        item = _new_item(rng, world, seen)
        responses = [item.answer, item.brief, item.vague, item.wrong]
        ranked.append(
            {"id": f"rank-{index:05d}", "prompt": item.question, "responses": responses, "category": item.category}
        )
    reused = rng.sample(pairs, min(len(pairs), config.n_rl_prompts // 2))
    prompts = [(pair["prompt"], pair["category"], "preference") for pair in reused]
    while len(prompts) < config.n_rl_prompts:
        item = _new_item(rng, world, seen)
        prompts.append((item.question, item.category, "new"))
    rl = [
        {"id": f"rl-{index:05d}", "prompt": prompt, "category": category, "source": source}
        for index, (prompt, category, source) in enumerate(prompts)
    ]
    return pairs, ranked, rl
