"""PEI-RLHF decisions against hand-derived ratios."""

import pytest
from script_loading import load_script

from xuanyuan.training.ppo.pei import PEIConfig, adjust_ratios, bucket, next_kl_coef, pei_step, should_stop


def test_bucketing_by_quality():
    config = PEIConfig(good_threshold=0.3, poor_threshold=0.05)
    assert [bucket(s, config) for s in (0.3, 0.29, 0.05, 0.049, -0.2)] == ["good", "medium", "medium", "poor", "poor"]


def test_pei_step_hand_derived():
    config = PEIConfig(ratio_multipliers={"good": 0.5, "medium": 1.0, "poor": 2.0})
    ratios = {"company_fact": 0.5, "calculation": 0.25, "safety": 0.25}
    rm_accuracy = {"company_fact": 0.8, "calculation": 0.6, "safety": 0.9}
    gain = {"company_fact": 0.5, "calculation": 0.0, "safety": 0.2}  # quality 0.4 good, 0 poor, 0.18 medium
    new, buckets, scores = pei_step(ratios, rm_accuracy, gain, config)
    assert buckets == {"company_fact": "good", "calculation": "poor", "safety": "medium"}
    assert scores["company_fact"] == pytest.approx(0.4)
    # scaled: 0.25, 0.5, 0.25 -> sum 1.0
    assert new == pytest.approx({"company_fact": 0.25, "calculation": 0.5, "safety": 0.25})


def test_missing_sub_domain_counts_as_poor_and_ratios_renormalize():
    config = PEIConfig(ratio_multipliers={"good": 1.0, "medium": 1.0, "poor": 3.0})
    new = adjust_ratios({"a": 0.5, "b": 0.5}, {"a": "poor"}, config)
    assert new == pytest.approx({"a": 0.75, "b": 0.25})
    _, buckets, _ = pei_step({"a": 1.0}, {}, {}, config)
    assert buckets == {"a": "poor"}


def test_kl_schedule_and_stopping_rules():
    config = PEIConfig(initial_kl_coef=0.2, kl_decay=0.5, min_kl_coef=0.04, ratio_tolerance=0.01, max_iterations=3)
    assert next_kl_coef(0.2, config) == pytest.approx(0.1)
    assert next_kl_coef(0.05, config) == pytest.approx(0.04)
    assert should_stop({"a": 0.5, "b": 0.5}, {"a": 0.505, "b": 0.495}, [0.1], config) == "ratios_settled"
    assert should_stop({"a": 0.5, "b": 0.5}, {"a": 0.6, "b": 0.4}, [0.2, 0.15], config) == "gain_stalled"
    assert should_stop({"a": 0.5, "b": 0.5}, {"a": 0.6, "b": 0.4}, [0.1, 0.2, 0.3], config) == "max_iterations"
    assert should_stop({"a": 0.5, "b": 0.5}, {"a": 0.6, "b": 0.4}, [0.1, 0.2], config) is None


def load_driver():
    return load_script("recipes/pei_rlhf.py")


def test_driver_draws_prompts_to_the_ratios_and_reads_gains_from_verdicts(tmp_path):
    import json
    from collections import Counter

    driver = load_driver()
    records = [{"id": f"f{i}", "category": "fact"} for i in range(10)] + [{"id": "s0", "category": "safety"}]
    drawn = driver.draw_prompts(records, {"fact": 0.5, "safety": 0.5}, total=8, seed=0)
    assert Counter(r["category"] for r in drawn) == {"fact": 4, "safety": 4}  # the single safety prompt repeats
    assert len({r["id"] for r in drawn if r["category"] == "fact"}) == 4

    predictions, compare = tmp_path / "predictions.jsonl", tmp_path / "compare"
    compare.mkdir()
    rows = [("a", "fact", "good"), ("b", "fact", "bad"), ("c", "fact", "good"), ("d", None, "same")]
    predictions.write_text("".join(json.dumps({"id": i, "category": c}) + "\n" for i, c, _ in rows), "utf-8")
    verdicts = "".join(json.dumps({"id": i, "outcome": o}) + "\n" for i, _, o in rows)
    (compare / "verdicts.jsonl").write_text(verdicts, "utf-8")
    # fact: (2 good - 1 bad) / 3; an item without a category counts as "general"
    assert driver.gains_by_category(compare, predictions) == pytest.approx({"fact": 1 / 3, "general": 0.0})
