import json
import math

import pytest

from xuanyuan.data.mixture import fit_to_bounds
from xuanyuan.data.mixture.domains import (
    ControllerConfig,
    MixtureBatchSampler,
    MixtureChange,
    MixtureState,
    implied_epochs,
    parse_domain_weights,
    reweight,
)

LN2 = math.log(2)


def test_parse_domain_weights():
    assert parse_domain_weights(["news=1", " web = 2.5"]) == {"news": 1.0, "web": 2.5}
    for bad in (["news"], ["news=x"], ["news=-1"], ["=1"], ["a=0"]):
        with pytest.raises(ValueError):
            parse_domain_weights(bad)


def test_implied_epochs_gpt3_style():
    # 1000 training tokens, 60/40: domain a (300 tokens) is seen twice, b (800 tokens) half.
    assert implied_epochs({"a": 0.6, "b": 0.4}, {"a": 300, "b": 800}, 1000) == {"a": 2.0, "b": 0.5}


def test_controller_raises_falling_and_lowers_flat_domain():
    # a: drop 5% = 5x the 1% threshold -> trend +1 -> x2; b: flat -> trend -1 -> x0.5.
    # 0.5*2 : 0.5*0.5 = 1 : 0.25 -> 0.8 : 0.2
    config = ControllerConfig(flat_threshold=0.01, step_size=LN2, level_weight=0.0, min_ratio=0.1, max_ratio=10)
    ratios, scores = reweight(
        {"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}, [{"a": 2.0, "b": 3.0}, {"a": 1.9, "b": 3.0}], config
    )
    assert scores == pytest.approx({"a": 1.0, "b": -1.0})
    assert ratios == pytest.approx({"a": 0.8, "b": 0.2})


def test_controller_prefers_high_loss_among_flat_domains():
    # Both flat (trend -1). Mean loss 2: level a = 1/2 - 1 = -0.5, b = 3/2 - 1 = +0.5.
    # Scores -1.5 and -0.5 -> factors 2^-1.5 and 2^-0.5 -> a : b = 1 : 2.
    config = ControllerConfig(flat_threshold=0.01, step_size=LN2, level_weight=1.0, min_ratio=0.1, max_ratio=10)
    ratios, _ = reweight({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}, [{"a": 1, "b": 3}, {"a": 1, "b": 3}], config)
    assert ratios == pytest.approx({"a": 1 / 3, "b": 2 / 3})


def test_controller_bounds_and_unobserved_domains():
    # a falls (x2), b flat (x0.5), c unobserved last interval (score 0, x1): weights 1/3*(2, 0.5, 1).
    # b's floor is 0.5 * 1/3 = 1/6, above its proportional share 1/7, so b = 1/6 exactly and a, c split
    # the other 5/6 in their 2 : 1 ratio: a = 5/9, c = 5/18.
    config = ControllerConfig(flat_threshold=0.01, step_size=LN2, level_weight=0.0, min_ratio=0.5, max_ratio=10)
    third = {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    history = [{"a": 2.0, "b": 3.0, "c": 4.0}, {"a": 1.0, "b": 3.0}]
    ratios, scores = reweight(third, third, history, config)
    assert scores["c"] == 0.0
    assert ratios == pytest.approx({"a": 5 / 9, "b": 1 / 6, "c": 5 / 18})
    # no history at all: unchanged
    assert reweight(third, third, [], config)[0] == pytest.approx(third)


def test_bounds_hold_after_normalization():
    # The main job's case: a large domain whose loss is flat and low, small ones still falling. Weights
    # (0.7, 0.3) * (0.5, 2) = (0.35, 0.6); a's floor 0.9 * 0.7 = 0.63 binds, b takes the rest, 0.37.
    config = ControllerConfig(flat_threshold=0.01, step_size=LN2, level_weight=0.0, min_ratio=0.9, max_ratio=4)
    base = {"a": 0.7, "b": 0.3}
    ratios, _ = reweight(base, base, [{"a": 1.0, "b": 4.0}, {"a": 1.0, "b": 3.0}], config)
    assert ratios == pytest.approx({"a": 0.63, "b": 0.37})
    # Ceiling: b, still falling, may take at most 1.2 * 0.3 = 0.36; the flat a takes the rest.
    config = ControllerConfig(flat_threshold=0.01, step_size=LN2, level_weight=0.0, min_ratio=0.5, max_ratio=1.2)
    ratios, _ = reweight(base, base, [{"a": 1.0, "b": 4.0}, {"a": 1.0, "b": 3.0}], config)
    assert ratios == pytest.approx({"a": 0.64, "b": 0.36})
    with pytest.raises(ValueError, match="min_ratio"):
        ControllerConfig(min_ratio=1.5)


def test_fit_to_bounds_refuses_bounds_no_shares_can_meet():
    # Two groups with a floor of 0.6 each would need 1.2 in all; no weights at all have no shares.
    with pytest.raises(ValueError, match="no ratios"):
        fit_to_bounds({"a": 1.0, "b": 1.0}, {"a": 0.6, "b": 0.6}, {"a": 1.0, "b": 1.0})
    with pytest.raises(ValueError, match="no ratios"):
        fit_to_bounds({"a": 0.0, "b": 0.0}, {"a": 0.1, "b": 0.1}, {"a": 1.0, "b": 1.0})
    # Floors that bind pin those groups; the rest split what is left in proportion: 0.8 : 0.1 : 0.1.
    shares = fit_to_bounds({"a": 0.97, "b": 0.02, "c": 0.01}, dict.fromkeys("abc", 0.1), dict.fromkeys("abc", 1.0))
    assert shares == pytest.approx({"a": 0.8, "b": 0.1, "c": 0.1})


def test_state_round_trips_through_json():
    state = MixtureState(base_ratios={"a": 0.5, "b": 0.5})
    state.loss_history.append({"a": 2.0})
    state.changes.append(MixtureChange(10, 13, {"a": 0.7, "b": 0.3}, {"a": 2.0}, {"a": 1.0, "b": 0.0}))
    restored = MixtureState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    assert restored.ratios_for_batch(12) == {"a": 0.5, "b": 0.5}
    assert restored.ratios_for_batch(13) == {"a": 0.7, "b": 0.3}


def make_sampler(state, seed=0):
    # domain a: 20 rows of 64 and 10 rows of 128; domain b: 30 rows of 64 (all full)
    lengths = [64] * 20 + [128] * 10 + [64] * 30
    domains = ["a"] * 30 + ["b"] * 30
    return MixtureBatchSampler(lengths, domains, lengths, state, tokens_per_batch=256, seed=seed, num_processes=2)


def test_sampler_batches_one_bucket_and_follow_token_ratios():
    state = MixtureState(base_ratios={"a": 0.75, "b": 0.25})
    sampler = make_sampler(state)
    lengths = [64] * 20 + [128] * 10 + [64] * 30
    tokens = {"a": 0, "b": 0}
    for epoch in range(40):
        sampler.set_epoch(epoch)
        for batch in sampler:
            assert len({lengths[i] for i in batch}) == 1
            assert len(batch) == 256 // lengths[batch[0]]
            for i in batch:
                tokens["a" if i < 30 else "b"] += lengths[i]
    assert len(sampler) % 2 == 0
    assert tokens["a"] / (tokens["a"] + tokens["b"]) == pytest.approx(0.75, abs=0.03)


def test_sampler_rows_per_batch_are_nearest_to_the_token_budget():
    # 1024 tokens per batch: 384-token rows come 3 to a batch (1152 is nearer than 768), 448-token rows 2 (896)
    lengths = [128] * 8 + [384] * 6 + [448] * 4 + [2048]
    sampler = MixtureBatchSampler(lengths, ["a"] * len(lengths), lengths, MixtureState(base_ratios={"a": 1.0}),
                                  tokens_per_batch=1024)  # fmt: skip
    assert sampler.batch_rows == {128: 8, 384: 3, 448: 2, 2048: 1}


def test_sampler_replays_exactly_after_a_mid_run_change():
    state = MixtureState(base_ratios={"a": 0.5, "b": 0.5})
    sampler = make_sampler(state)
    sampler.set_epoch(1)
    seen = []
    for step, batch in enumerate(sampler):
        seen.append(batch)
        if step == 5:  # the controller acts while batch 5 is in use (the loader may have drawn more)
            state.changes.append(MixtureChange(5, sampler.next_batch, {"a": 0.9, "b": 0.1}))
    assert state.changes[-1].first_batch == len(sampler) + 6  # epoch 1 starts at batch len(sampler)

    fresh = make_sampler(MixtureState.from_dict(state.to_dict()))
    fresh.set_epoch(1)
    assert list(fresh) == seen
    unchanged = make_sampler(MixtureState(base_ratios={"a": 0.5, "b": 0.5}))
    unchanged.set_epoch(1)
    replay = list(unchanged)
    assert replay[:6] == seen[:6] and replay != seen


def test_sampler_rejects_domain_without_ratio():
    with pytest.raises(ValueError, match="no ratio"):
        make_sampler(MixtureState(base_ratios={"a": 1.0}))


def test_each_queue_is_a_permutation_per_pass():
    state = MixtureState(base_ratios={"a": 1.0, "b": 0.0})
    sampler = make_sampler(state)
    drawn = [i for batch in sampler for i in batch if i < 20]  # a's 64-token rows
    first = drawn[:20]
    assert sorted(first) == list(range(20)) and first != list(range(20))  # every row once, shuffled
