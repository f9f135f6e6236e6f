"""Confidence-interval prompt selection on synthetic score distributions."""

import random
from collections import Counter

import pytest

from xuanyuan.training.ppo.prompt_filter import (
    PromptFilterConfig,
    PromptScores,
    category_quotas,
    select_prompts,
    weighted_sample,
)


def item(name, category, *scores):
    return PromptScores(name, category, tuple(scores))


def test_thresholds_name_their_reason():
    items = [
        item("flat", "fin", 1.0, 1.0, 1.0),
        item("high", "fin", 3.0, 3.2, 3.4),
        item("low", "fin", -3.0, -2.8, -3.2),
        item("ok1", "fin", 0.0, 1.0, 0.5),
        item("ok2", "safety", -1.0, 0.0, -0.5),
    ]
    kept, dropped = select_prompts(items, PromptFilterConfig(min_std=0.05, min_mean=-2.0, max_mean=2.0))
    assert [k.id for k in kept] == ["ok1", "ok2"]
    assert dropped == {"flat": "low_std", "high": "mean_above_max", "low": "mean_below_min"}


def test_category_quotas_largest_remainder():
    # 5 of 10: exact shares 3, 1.5, 0.5 -> floors 3, 1, 0; the two .5 remainders tie, names break it.
    assert category_quotas(Counter(fin=6, safety=3, general=1), 5) == {"fin": 3, "safety": 1, "general": 1}
    assert category_quotas(Counter(fin=2, safety=2), 4) == {"fin": 2, "safety": 2}


def test_weighted_sampling_follows_std():
    wide, narrow = item("wide", "fin", -1.0, 1.0), item("narrow", "fin", -0.1, 0.1)  # std 1.0 and 0.1
    picks = Counter(weighted_sample([wide, narrow], 1, random.Random(seed))[0].id for seed in range(3000))
    assert picks["wide"] / 3000 == pytest.approx(1.0 / 1.1, abs=0.02)


def test_sampling_keeps_each_category_share_and_is_deterministic():
    rng = random.Random(5)
    items = [item(f"f{i}", "fin", rng.gauss(0, 1), rng.gauss(0, 1), rng.gauss(0, 1)) for i in range(60)]
    items += [item(f"s{i}", "safety", rng.gauss(0, 1), rng.gauss(0, 1), rng.gauss(0, 1)) for i in range(20)]
    config = PromptFilterConfig(min_std=0.0, min_mean=-10, max_mean=10, keep=40, seed=3)
    kept, dropped = select_prompts(items, config)
    assert Counter(k.category for k in kept) == {"fin": 30, "safety": 10}
    assert sum(reason == "not_sampled" for reason in dropped.values()) == 40
    assert [k.id for k in select_prompts(items, config)[0]] == [k.id for k in kept]
