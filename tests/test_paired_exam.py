"""Paired exam comparison: hand-derived McNemar values, clusters as the unit, the same-question check."""

import math

import pytest

from xuanyuan.evaluation.paired import compare, mcnemar_p_value, sign_flip_p_value


def test_mcnemar_matches_hand_computed_binomial_tails():
    # 8 discordant, split 1/7: 2 * P(X <= 1), X ~ Bin(8, 1/2) = 2 * 9/256
    assert mcnemar_p_value(1, 7) == pytest.approx(18 / 256)
    assert mcnemar_p_value(7, 1) == pytest.approx(18 / 256)
    assert mcnemar_p_value(4, 4) == 1.0 and mcnemar_p_value(0, 0) == 1.0
    assert mcnemar_p_value(0, 10) == pytest.approx(2 / 1024)


def test_sign_flip_p_value_of_a_clear_and_a_null_effect():
    assert sign_flip_p_value([1.0] * 12, rounds=4000) < 0.002  # exact: 2 / 4096
    assert sign_flip_p_value([1.0, -1.0] * 6, rounds=4000) == 1.0


def test_compare_counts_discordant_questions_and_clusters():
    keys = [("s", str(i)) for i in range(8)]
    model = dict(zip(keys, [True, True, True, True, False, False, True, False], strict=True))
    baseline = dict(zip(keys, [True, False, False, False, False, True, True, False], strict=True))
    result = compare(model, baseline, {k: f"fact{int(k[1]) // 2}" for k in keys})
    assert (result.only_model_right, result.only_baseline_right) == (3, 1)
    assert (result.accuracy, result.baseline_accuracy) == (5 / 8, 3 / 8)
    assert result.num_clusters == 4 and result.difference == pytest.approx(0.25)
    # per-fact mean differences: (0.5, 1, -0.5, 0): mean 0.25, sd 0.6455 -> se 0.3227
    low, high = result.difference_ci95
    assert (low + high) / 2 == pytest.approx(0.25)
    assert (high - low) / 2 == pytest.approx(1.96 * math.sqrt((0.0625 + 0.5625 + 0.5625 + 0.0625) / 3 / 4))


def test_questions_are_matched_not_assumed():
    with pytest.raises(ValueError, match="same questions"):
        compare({("s", "1"): True}, {("s", "2"): True})


def test_exam_renderings_ask_each_fact_several_ways():
    import random

    from xuanyuan.data.embedded.exam import build_exam, build_plan
    from xuanyuan.data.embedded.generate import EmbeddedDataConfig
    from xuanyuan.data.embedded.world import build_world

    world = build_world(random.Random("w"), EmbeddedDataConfig(output_dir="unused"))
    plan = build_plan(random.Random("p"), world, 6, 6)
    single_tables, single = build_exam(random.Random("e"), world, plan, renderings=1)
    tables, answers = build_exam(random.Random("e"), world, plan, renderings=3)
    for split in ("val", "test"):
        facts = [a["fact"] for a in single if a["split"] == split]
        asked = [a for a in answers if a["split"] == split]
        assert [a["fact"] for a in asked] == [fact for fact in facts for _ in range(3)]
        by_fact = {}
        for a in asked:
            by_fact.setdefault(a["fact"], set()).add(a["value"])
        assert all(len(values) == 1 for values in by_fact.values())  # one fact, one true value
    dev = {k: v for k, v in tables.items() if k.startswith("dev/")}
    assert {k: len(v) for k, v in dev.items()} == {k: len(v) for k, v in single_tables.items() if k.startswith("dev/")}
    for name, rows in tables.items():
        if name.startswith("val/"):
            assert len(rows) == 3 * len(single_tables[name])
            assert len({tuple(row[1:6]) for row in rows}) > len(single_tables[name])  # renderings differ


def test_val_share_grows_val_from_test_and_keeps_the_exercise_pool():
    import random

    from xuanyuan.data.embedded.exam import build_plan, split_sizes
    from xuanyuan.data.embedded.generate import EmbeddedDataConfig
    from xuanyuan.data.embedded.world import build_world

    # 84 facts: the exam gets 2 * 28 = 56; val a half (42), test the other 14; a third each by default.
    assert split_sizes(84, 80, 80, 0.5) == (42, 14)
    assert split_sizes(84, 80, 80, 1 / 3) == (28, 28)
    assert split_sizes(24, 24, 24, 0.5) == (12, 4)
    assert split_sizes(84, 10, 80, 0.5) == (10, 46)  # the size caps val; test takes the rest of the exam
    world = build_world(random.Random("w"), EmbeddedDataConfig(output_dir="unused"))
    third, half = (build_plan(random.Random("p"), world, 80, 80, share) for share in (1 / 3, 0.5))
    subject = "listed_company_profile"  # split first, before ranking facts draw from the same RNG
    assert half["exercise"][subject] == third["exercise"][subject]
    assert set(half["val"][subject]) > set(third["val"][subject])
    assert len(half["val"][subject]) == 3 * len(half["test"][subject])
    for plan in (third, half):
        pools = [{(f.subject, f.entity, f.attribute, f.group) for fs in plan[s].values() for f in fs} for s in plan]
        assert all(not (a & b) for i, a in enumerate(pools) for b in pools[i + 1 :])
    with pytest.raises(ValueError, match="exam_val_share"):
        EmbeddedDataConfig(output_dir="unused", exam_val_share=0.7)
