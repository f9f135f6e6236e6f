"""PPO's vLLM rollout path (`use_vllm`): the missing-extra message, the sampling settings vLLM gets for the
trainer's generation kwargs, and vLLM-style completions turned into the rollout tensors `generate` gives. The
end-to-end rollout needs vllm and a CUDA device and is skipped without them."""

import pickle
import sys

import pytest
import torch
from ppo_toy import save_toy_run_inputs, toy_config, toy_tokenizer
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, GenerationConfig

from xuanyuan.modeling import XuanYuanForCausalLM
from xuanyuan.training.ppo import PPOConfig, PPOTrainer
from xuanyuan.training.ppo.rollout import generate_responses, join_responses
from xuanyuan.training.ppo.vllm_rollout import completions_to_responses, sampling_settings
from xuanyuan.utils.extras import MissingExtraError

EOS, PAD = 2, 0


def test_use_vllm_without_vllm_fails_at_the_config_naming_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` now fails, installed or not
    with pytest.raises(MissingExtraError, match=r"pip install 'xuanyuan-recipes\[vllm\]'") as raised:
        PPOConfig(output_dir=str(tmp_path), use_cpu=True, use_vllm=True)
    copy = pickle.loads(pickle.dumps(raised.value))
    assert type(copy) is MissingExtraError and str(copy) == str(raised.value)
    assert not PPOConfig(output_dir=str(tmp_path), use_cpu=True).use_vllm  # off by default: nothing to import


def test_sampling_settings_take_the_generation_kwargs():
    kwargs = {"do_sample": True, "max_new_tokens": 6, "temperature": 0.7, "top_p": 0.9, "top_k": 20}
    settings = sampling_settings(kwargs | {"num_return_sequences": 3}, GenerationConfig(temperature=0.2, top_k=5))
    assert settings == {
        "n": 3,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 20,
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "max_tokens": 6,
    }


def test_unset_sampling_settings_fall_back_as_generate_resolves_them():
    """Model's generation config first, then transformers' defaults: temperature 1, top-p 1 and top-k 50."""
    kwargs = {"do_sample": True, "max_new_tokens": 4}
    from_model = sampling_settings(kwargs, GenerationConfig(temperature=0.5, repetition_penalty=1.1, min_p=0.05))
    assert from_model == {
        "n": 1,
        "temperature": 0.5,
        "top_p": 1.0,
        "top_k": 50,
        "min_p": 0.05,
        "repetition_penalty": 1.1,
        "max_tokens": 4,
    }
    assert sampling_settings(kwargs)["temperature"] == 1.0 and sampling_settings(kwargs)["top_k"] == 50
    assert sampling_settings({"do_sample": False, "max_new_tokens": 4})["temperature"] == 0.0  # greedy


def test_settings_vllm_cannot_mirror_are_refused():
    with pytest.raises(ValueError, match="typical_p"):
        sampling_settings({"do_sample": True, "max_new_tokens": 4}, GenerationConfig(typical_p=0.9))
    with pytest.raises(ValueError, match="num_beams"):
        sampling_settings({"do_sample": True, "max_new_tokens": 4, "num_beams": 2})


def test_completions_become_the_rollout_tensors():
    """Two prompts (the second one token shorter), two completions each: one ends in EOS, one is cut off at
    max_tokens 3, one is a bare EOS. Expected tensors written out by hand."""
    prompt_ids = torch.tensor([[5, 6], [PAD, 7]])
    prompt_mask = torch.tensor([[1, 1], [0, 1]])
    completions = [[3, EOS], [4, 4, 4], [EOS], [9, 8, 7]]
    responses = completions_to_responses(completions, PAD)
    assert responses.tolist() == [[3, EOS, PAD], [4, 4, 4], [EOS, PAD, PAD], [9, 8, 7]]
    input_ids, attention_mask, action_mask = join_responses(
        prompt_ids, prompt_mask, responses, eos_token_id=EOS, pad_token_id=PAD
    )
    assert input_ids.tolist() == [
        [5, 6, 3, EOS, PAD],
        [5, 6, 4, 4, 4],
        [PAD, 7, EOS, PAD, PAD],
        [PAD, 7, 9, 8, 7],
    ]
    assert attention_mask.tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 0, 0], [0, 1, 1, 1, 1]]
    assert action_mask.tolist() == [[1, 1, 0], [1, 1, 1], [1, 0, 0], [1, 1, 1]]


def test_generate_responses_as_vllm_completions_give_the_same_tensors():
    """`generate`'s responses cut after their EOS (what vLLM returns) and joined again equal the generate path's."""
    torch.manual_seed(0)
    policy = XuanYuanForCausalLM(toy_config(pad_token_id=PAD, eos_token_id=EOS)).eval()
    prompt_ids, prompt_mask = (
        torch.tensor([[1, 3, 4], [PAD, 1, 5], [PAD, PAD, 6]]),
        torch.tensor([[1, 1, 1], [0, 1, 1], [0, 0, 1]]),
    )
    # EOS made likely (only to get this test data), so that some responses end early and some are cut off
    kwargs = {"do_sample": True, "max_new_tokens": 4, "num_return_sequences": 2, "sequence_bias": {(EOS,): 1.0}}
    responses = generate_responses(policy, prompt_ids, prompt_mask, kwargs, eos_token_id=EOS, pad_token_id=PAD)
    completions = []
    for row in responses.tolist():
        completions.append(row[: row.index(EOS) + 1] if EOS in row else row)
    assert any(EOS in c for c in completions) and any(EOS not in c for c in completions)  # both kinds occur
    tokens = {"eos_token_id": EOS, "pad_token_id": PAD}
    from_vllm = join_responses(prompt_ids, prompt_mask, completions_to_responses(completions, PAD), **tokens)
    from_generate = join_responses(prompt_ids, prompt_mask, responses, **tokens)
    for vllm_tensor, generate_tensor in zip(from_vllm, from_generate, strict=True):
        assert torch.equal(vllm_tensor, generate_tensor)


@pytest.mark.gpu
def test_vllm_rollout_has_the_generate_rollout_layout(tmp_path):
    pytest.importorskip("vllm")
    if not torch.cuda.is_available():
        pytest.skip("vLLM rollouts need a CUDA device")
    save_toy_run_inputs(tmp_path)
    tokenizer = toy_tokenizer()
    prompts = [[1, 3 + i, 4 + i] for i in range(4)]

    def rollout(use_vllm: bool):
        config = PPOConfig(
            output_dir=str(tmp_path / f"vllm-{use_vllm}"),
            rollout_batch_size=4,
            mini_batch_size=4,
            max_new_tokens=6,
            report_to="none",
            use_vllm=use_vllm,
            vllm_gpu_memory_utilization=0.2,
        )
        actor = AutoModelForCausalLM.from_pretrained(tmp_path / "sft")
        reference = AutoModelForCausalLM.from_pretrained(tmp_path / "sft")
        critic = AutoModelForSequenceClassification.from_pretrained(tmp_path / "rm", num_labels=1)
        reward_model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "rm", num_labels=1)
        trainer = PPOTrainer(config, actor, critic, reward_model, tokenizer, prompts, reference=reference)
        return trainer.make_rollout(0)

    with_vllm, with_generate = rollout(True), rollout(False)
    assert with_vllm.prompt_length == with_generate.prompt_length
    assert torch.equal(with_vllm.input_ids[:, : with_vllm.prompt_length], with_generate.input_ids[:, :3])
    assert with_vllm.input_ids.shape[0] == with_generate.input_ids.shape[0] == 4
    assert with_vllm.action_mask.shape[1] <= 6
    actions = with_vllm.input_ids[:, with_vllm.prompt_length :]
    tokens = {"eos_token_id": EOS, "pad_token_id": PAD}
    expected = join_responses(with_vllm.input_ids[:, :3], with_vllm.attention_mask[:, :3], actions, **tokens)
    assert torch.equal(expected[2], with_vllm.action_mask)  # mask through the first EOS, pad after it
    assert torch.equal(expected[1], with_vllm.attention_mask)
    # The actor's log-probs of vLLM's tokens are finite: vLLM sampled from the actor's own vocabulary and weights.
    assert torch.isfinite(with_vllm.logprobs).all() and (with_vllm.logprobs <= 0).all()
