"""The pairwise reward losses against hand-derived values and against the per-pair reference loop."""

from __future__ import annotations

import math

import pytest
import torch
from reward_reference import per_pair_token_level_loss

from xuanyuan.training.reward import sentence_level_pairwise_loss, token_level_pairwise_loss

LN3 = math.log(3.0)
# -log σ(0) = ln 2, -log σ(ln 3) = ln(4/3), -log σ(-ln 3) = ln 4.
L2, L43, L4 = math.log(2.0), math.log(4 / 3), math.log(4.0)
PAD = 0


def batch(pairs):
    """Stack [(chosen_ids, rejected_ids, chosen_values, rejected_values)] as a right-padded (2B, T) batch."""
    rows = [p[0] for p in pairs] + [p[1] for p in pairs]
    vals = [p[2] for p in pairs] + [p[3] for p in pairs]
    length = max(len(v) for v in vals)
    ids = torch.full((len(rows), length), PAD)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    values = torch.zeros((len(rows), length))
    for i, (r, v) in enumerate(zip(rows, vals, strict=True)):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
        values[i, : len(v)] = torch.tensor(v)
    return values, ids, mask


CASES = {
    # Divergence at the first token: every position counts.
    "first": (([5, 6, 7], [8, 6, 7], [0.0, LN3, -LN3], [0.0, 0.0, 0.0]), (L2 + L43 + L4) / 3, -LN3, 0.0),
    # Divergence at the last token: the large differences before it are ignored.
    "last": (([5, 6, 7], [5, 6, 9], [10.0, -10.0, LN3], [0.0, 0.0, 0.0]), L43, LN3, 0.0),
    # Different lengths: from the divergence to the end of the longer one (its pad position included).
    "lengths": (([5, 6, 7, 2], [5, 6, 2], [9.0, 9.0, 0.0, LN3], [-9.0, -9.0, 0.0, 0.0]), (L2 + L43) / 2, LN3, 0.0),
    # Chosen is a prefix of rejected: divergence where chosen ends.
    "prefix": (([5, 6], [5, 6, 7, 2], [7.0, 0.0, 0.0, 0.0], [0.0, 0.0, -LN3, 0.0]), (L43 + L2) / 2, 0.0, 0.0),
    # Identical pairs: the last real token only (the pad position after it is ignored).
    "identical": (([5, 6, 7], [5, 6, 7], [5.0, 5.0, LN3, 100.0], [0.0, 0.0, 0.0, -100.0]), L43, LN3, 0.0),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_token_level_loss_matches_hand_derived_values(name):
    (chosen_ids, rejected_ids, chosen_values, rejected_values), loss, chosen_score, rejected_score = CASES[name]
    values, ids, mask = batch([(chosen_ids, rejected_ids, chosen_values, rejected_values)])
    got_loss, got_chosen, got_rejected = token_level_pairwise_loss(values, ids, mask)
    assert got_loss.item() == pytest.approx(loss, abs=1e-6)
    assert got_chosen.tolist() == pytest.approx([chosen_score], abs=1e-6)
    assert got_rejected.tolist() == pytest.approx([rejected_score], abs=1e-6)


def test_batch_loss_is_the_mean_over_pairs_whatever_the_padding():
    values, ids, mask = batch([case[0] for case in CASES.values()])
    loss, chosen, rejected = token_level_pairwise_loss(values, ids, mask)
    assert loss.item() == pytest.approx(sum(case[1] for case in CASES.values()) / len(CASES), abs=1e-6)
    assert chosen.tolist() == pytest.approx([case[2] for case in CASES.values()], abs=1e-6)
    assert rejected.tolist() == pytest.approx([case[3] for case in CASES.values()], abs=1e-6)


def test_margin_shifts_every_position():
    # Zero differences everywhere; margin ln 3 → -log σ(-ln 3) = ln 4 at each counted position.
    values, ids, mask = batch([([5, 6, 7], [5, 8, 7], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0])])
    loss, _, _ = token_level_pairwise_loss(values, ids, mask, margin=torch.tensor([LN3]))
    assert loss.item() == pytest.approx(math.log(4), abs=1e-6)


def test_sentence_level_loss_uses_the_last_real_token_only():
    values, ids, mask = batch([([5, 6, 7, 2], [5, 9, 2], [50.0, -50.0, 50.0, LN3], [0.0, 50.0, 0.0])])
    loss, chosen, rejected = sentence_level_pairwise_loss(values, ids, mask)
    assert loss.item() == pytest.approx(math.log(4 / 3), abs=1e-6)
    assert (chosen.item(), rejected.item()) == pytest.approx((LN3, 0.0), abs=1e-6)
    loss, _, _ = sentence_level_pairwise_loss(values, ids, mask, margin=torch.tensor([2 * LN3]))
    assert loss.item() == pytest.approx(math.log(4), abs=1e-6)


def random_pairs(generator, pairs, length, vocab=50):
    """Right-padded pairs sharing a random prefix; about one in eight identical."""
    ids = torch.full((2 * pairs, length), PAD)
    mask = torch.zeros((2 * pairs, length), dtype=torch.long)
    for i in range(pairs):
        chosen_len = int(torch.randint(1, length + 1, (1,), generator=generator))
        chosen = torch.randint(3, vocab, (chosen_len,), generator=generator)
        if torch.rand(1, generator=generator) < 0.125:
            rejected = chosen.clone()
        else:
            shared = int(torch.randint(0, chosen_len + 1, (1,), generator=generator))
            rejected_len = int(torch.randint(max(shared, 1), length + 1, (1,), generator=generator))
            tail = torch.randint(3, vocab, (rejected_len - shared,), generator=generator)
            rejected = torch.cat([chosen[:shared], tail])
        for row, seq in ((i, chosen), (pairs + i, rejected)):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
    values = torch.randn((2 * pairs, length), generator=generator) * 3
    return values, ids, mask


@pytest.mark.parametrize("seed", range(5))
def test_matches_per_pair_reference_on_random_batches(seed):
    generator = torch.Generator().manual_seed(seed)
    values, ids, mask = random_pairs(generator, pairs=16, length=24)
    fast = token_level_pairwise_loss(values, ids, mask)
    slow = per_pair_token_level_loss(values, ids, mask)
    for got, want in zip(fast, slow, strict=True):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_fp32_under_bf16_and_gradients_reach_the_values():
    generator = torch.Generator().manual_seed(0)
    values, ids, mask = random_pairs(generator, pairs=8, length=16)
    low = values.to(torch.bfloat16).requires_grad_()
    loss, chosen, rejected = token_level_pairwise_loss(low, ids, mask)
    assert loss.dtype == chosen.dtype == rejected.dtype == torch.float32
    # Exactly the fp32 computation on the upcast values, not a bf16 one.
    torch.testing.assert_close(loss, token_level_pairwise_loss(low.detach().float(), ids, mask)[0], atol=0, rtol=0)
    loss.backward()
    assert low.grad is not None and low.grad.dtype == torch.bfloat16 and low.grad.abs().sum() > 0


def test_rejects_an_odd_batch():
    with pytest.raises(ValueError, match="2B, T"):
        token_level_pairwise_loss(torch.zeros(3, 4), torch.zeros(3, 4, dtype=torch.long), torch.ones(3, 4))
