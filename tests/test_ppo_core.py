"""PPO math against hand-derived values and slow per-sample references."""

import math

import pytest
import torch

from xuanyuan.training.ppo.core import (
    entropy_from_logits,
    gae,
    kl_penalized_rewards,
    masked_mean,
    masked_whiten,
    policy_loss,
    token_logprobs,
    value_loss,
)


def test_masked_mean_ignores_masked_out_entries():
    values = torch.tensor([[1.0, 2.0, 100.0], [4.0, 100.0, 100.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    assert masked_mean(values, mask).item() == pytest.approx(7 / 3)
    assert masked_mean(values, mask, dim=1).tolist() == pytest.approx([1.5, 4.0])


def test_masked_whiten_has_unit_variance_on_the_mask():
    values = torch.tensor([[1.0, 2.0, 3.0, 50.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    whitened = masked_whiten(values, mask)
    assert whitened[0, :3].tolist() == pytest.approx([-math.sqrt(1.5), 0.0, math.sqrt(1.5)], rel=1e-4)
    assert whitened[0, 3].item() == 0.0


def test_kl_penalized_rewards_hand_derived():
    logprobs = torch.tensor([[-1.0, -2.0, -3.0, 0.0], [-1.0, -1.0, 0.0, 0.0], [-1.0, -1.0, -1.0, -1.0]])
    ref_logprobs = torch.tensor([[-1.5, -2.0, -2.0, 0.0], [-2.0, -1.0, 0.0, 0.0], [-1.0, -1.0, -1.0, -1.0]])
    # row 0: EOS at index 2, score clipped 7 -> 5; row 1: EOS early at index 1; row 2 fills the buffer.
    action_mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]])
    scores = torch.tensor([7.0, -1.0, 0.25])
    rewards = kl_penalized_rewards(logprobs, ref_logprobs, scores, action_mask, kl_coef=0.1, score_clip=5.0)
    expected = torch.tensor([[-0.05, 0.0, 5.1, 0.0], [-0.1, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.25]])
    torch.testing.assert_close(rewards, expected)


def test_kl_penalized_rewards_without_clip_and_empty_response():
    rewards = kl_penalized_rewards(
        torch.zeros(2, 2), torch.zeros(2, 2), torch.tensor([9.0, 3.0]), torch.tensor([[1, 0], [0, 0]]), 0.05, None
    )
    torch.testing.assert_close(rewards, torch.tensor([[9.0, 0.0], [0.0, 0.0]]))


def test_gae_hand_derived():
    rewards = torch.tensor([[1.0, 0.0, 2.0], [1.0, 0.0, 9.0]])
    values = torch.tensor([[0.5, 1.0, 0.2], [0.5, 1.0, 7.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    advantages, returns = gae(rewards, values, mask, gamma=1.0, lam=0.5)
    torch.testing.assert_close(advantages, torch.tensor([[1.55, 0.1, 1.8], [1.0, -1.0, 0.0]]))
    torch.testing.assert_close(returns, torch.tensor([[2.05, 1.1, 2.0], [1.5, 0.0, 0.0]]))


def slow_gae(rewards, values, length, gamma, lam):
    advantages, running = [0.0] * length, 0.0
    for t in reversed(range(length)):
        next_value = values[t + 1] if t + 1 < length else 0.0
        running = rewards[t] + gamma * next_value - values[t] + gamma * lam * running
        advantages[t] = running
    return advantages


def test_gae_matches_slow_reference_on_random_batches():
    generator = torch.Generator().manual_seed(0)
    rewards, values = torch.randn(6, 9, generator=generator), torch.randn(6, 9, generator=generator)
    lengths = [9, 1, 4, 7, 0, 3]
    mask = torch.tensor([[1] * n + [0] * (9 - n) for n in lengths])
    advantages, returns = gae(rewards, values, mask, gamma=0.99, lam=0.95)
    for row, n in enumerate(lengths):
        expected = slow_gae(rewards[row].tolist(), values[row].tolist(), n, 0.99, 0.95)
        assert advantages[row, :n].tolist() == pytest.approx(expected, abs=1e-5)
        assert advantages[row, n:].abs().sum().item() == 0.0
        expected_returns = [a + v for a, v in zip(expected, values[row, :n].tolist(), strict=True)]
        assert returns[row, :n].tolist() == pytest.approx(expected_returns, abs=1e-5)


def test_policy_loss_hand_derived():
    old = torch.zeros(1, 3)
    new = torch.tensor([[math.log(1.5), math.log(0.5), 5.0]])
    advantages = torch.tensor([[1.0, -1.0, 100.0]])
    mask = torch.tensor([[1, 1, 0]])
    loss, stats = policy_loss(new, old, advantages, mask, clip_eps=0.2)
    # token 0: ratio 1.5, adv 1 -> max(-1.5, -1.2) = -1.2; token 1: ratio 0.5, adv -1 -> max(0.5, 0.8) = 0.8
    assert loss.item() == pytest.approx(-0.2, abs=1e-6)
    assert stats["clip_fraction"].item() == pytest.approx(1.0)
    assert stats["approx_kl"].item() == pytest.approx(0.25 * (math.log(1.5) ** 2 + math.log(0.5) ** 2), abs=1e-6)


def test_policy_loss_unclipped_inside_trust_region_is_the_plain_surrogate():
    new = torch.tensor([[0.1, -0.1]])
    loss, stats = policy_loss(new, torch.zeros(1, 2), torch.tensor([[2.0, 3.0]]), torch.ones(1, 2), clip_eps=0.2)
    assert loss.item() == pytest.approx(-(2 * math.exp(0.1) + 3 * math.exp(-0.1)) / 2, abs=1e-6)
    assert stats["clip_fraction"].item() == 0.0


def test_value_loss_hand_derived():
    values = torch.tensor([[2.0, 1.2, 9.0]])
    old_values = torch.tensor([[1.0, 1.0, 0.0]])
    returns = torch.tensor([[3.0, 1.0, 0.0]])
    mask = torch.tensor([[1, 1, 0]])
    loss, stats = value_loss(values, old_values, returns, mask, clip_range=0.5)
    # token 0: clipped v = 1.5 -> max(1, 2.25) = 2.25; token 1: inside the range -> 0.04
    assert loss.item() == pytest.approx(0.5 * (2.25 + 0.04) / 2, abs=1e-6)
    assert stats["value_clip_fraction"].item() == pytest.approx(0.5)


def test_losses_are_fp32_under_bf16_inputs():
    generator = torch.Generator().manual_seed(1)
    shape = (3, 5)
    tensors = [torch.randn(shape, generator=generator).to(torch.bfloat16) for _ in range(4)]
    mask = torch.ones(shape, dtype=torch.long)
    p_loss, _ = policy_loss(tensors[0], tensors[1], tensors[2], mask, 0.2)
    v_loss, _ = value_loss(tensors[0], tensors[1], tensors[3], mask, 0.2)
    rewards = kl_penalized_rewards(tensors[0], tensors[1], tensors[2][:, 0], mask, 0.05, 5.0)
    advantages, returns = gae(rewards, tensors[3], mask, 1.0, 0.95)
    for tensor in (p_loss, v_loss, rewards, advantages, returns):
        assert tensor.dtype == torch.float32


def test_token_logprobs_and_entropy_match_the_definition():
    logits = torch.tensor([[[0.0, math.log(3.0)], [0.0, 0.0]]], dtype=torch.bfloat16)
    tokens = torch.tensor([[1, 0]])
    logprobs = token_logprobs(logits, tokens)
    assert logprobs.dtype == torch.float32
    assert logprobs[0].tolist() == pytest.approx([math.log(0.75), math.log(0.5)], abs=1e-2)
    assert entropy_from_logits(logits)[0, 1].item() == pytest.approx(math.log(2), abs=1e-4)
