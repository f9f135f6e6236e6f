"""The PPO loop on a toy task: tiny models over a 16-token vocabulary, and a reward model that
counts one preferred token, so the expected direction of learning is known."""

import copy
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
import torch
from peft import LoraConfig, TaskType, get_peft_model
from ppo_toy import RECIPE, save_toy_run_inputs, toy_config, toy_tokenizer
from safetensors.torch import load_file
from torch import nn

from xuanyuan.modeling import XuanYuanForCausalLM, XuanYuanForSequenceClassification
from xuanyuan.training.checkpoints import latest_checkpoint
from xuanyuan.training.ppo import PPOConfig, PPOTrainer
from xuanyuan.training.ppo.core import token_logprobs
from xuanyuan.training.ppo.rollout import response_action_mask, response_logits, sequence_scores

PREFERRED = 7  # token id the toy reward model likes


@dataclass
class CountOutput:
    token_scores: torch.Tensor


class PreferredTokenCounter(nn.Module):
    """Reward model: the value at each position is how many preferred tokens the sequence holds so far."""

    def forward(self, input_ids, attention_mask, position_ids=None):
        return CountOutput(token_scores=((input_ids == PREFERRED) & attention_mask.bool()).float().cumsum(dim=1))


def make_trainer(output_dir, max_steps=2, save_steps=100, resume=None, **overrides):
    torch.manual_seed(0)
    actor = XuanYuanForCausalLM(toy_config())
    reference = XuanYuanForCausalLM(toy_config())
    reference.load_state_dict(actor.state_dict())
    critic = XuanYuanForSequenceClassification(toy_config(num_labels=1))
    settings = {
        "learning_rate": 3e-3,
        "lr_scheduler_type": "constant",
        "critic_learning_rate": 3e-3,
        "kl_coef": 0.02,
        "score_clip": None,
        "rollout_batch_size": 8,
        "mini_batch_size": 4,
        "max_new_tokens": 6,
        "report_to": "none",
    }
    config = PPOConfig(
        output_dir=str(output_dir),
        max_steps=max_steps,
        save_steps=save_steps,
        use_cpu=True,
        resume_from_checkpoint=resume,
        **settings | overrides,
    )
    prompts = [[1, 3 + (i % 4), 4 + (i % 5)] for i in range(16)]  # no preferred token in any prompt
    return PPOTrainer(config, actor, critic, PreferredTokenCounter(), toy_tokenizer(), prompts, reference=reference)


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.state_dict().items()}


def test_action_mask_stops_after_first_eos():
    response = torch.tensor([[5, 2, 6, 2], [5, 6, 7, 8], [2, 0, 0, 0]])
    assert response_action_mask(response, eos_token_id=2).tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]


def test_sequence_score_is_read_at_the_last_real_token():
    input_ids = torch.tensor([[0, 1, 7, 7, 2, 0], [1, 7, 5, 7, 5, 2]])
    mask = torch.tensor([[0, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]])
    assert sequence_scores(PreferredTokenCounter(), input_ids, mask).tolist() == [2.0, 2.0]


def test_two_steps_update_actor_and_critic_only(tmp_path):
    trainer = make_trainer(tmp_path)
    actor_before, critic_before = snapshot(trainer.actor), snapshot(trainer.critic)
    reference_before = snapshot(trainer.reference)
    history = trainer.train()
    assert len(history) == 2
    changed = lambda before, module: any(  # noqa: E731
        not torch.equal(before[name], value) for name, value in module.state_dict().items()
    )
    assert changed(actor_before, trainer.actor)
    assert changed(critic_before, trainer.critic)
    assert not changed(reference_before, trainer.reference)
    for row in history:
        assert all(key in row for key in ("reward/score", "kl/ref", "loss/critic", "policy/entropy"))
    assert (tmp_path / "ppo_metrics.png").exists() and (tmp_path / "ppo_curves.png").exists()
    assert (tmp_path / "checkpoint-2" / "actor" / "model.safetensors").exists()


def test_reward_rises_on_toy_task_while_kl_stays_finite(tmp_path):
    history = make_trainer(tmp_path, max_steps=30).train()
    first, last = history[:5], history[-5:]
    mean = lambda rows, key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    assert mean(last, "reward/score") > mean(first, "reward/score") + 0.5
    assert all(torch.isfinite(torch.tensor(row["kl/ref"])) for row in history)


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    straight = make_trainer(tmp_path / "straight", max_steps=4)
    straight.train()
    first_half = make_trainer(tmp_path / "resumed", max_steps=2, save_steps=2)
    first_half.train()
    assert latest_checkpoint(tmp_path / "resumed").name == "checkpoint-2"
    # As a fresh process would: rebuild the models from their starting weights, then load the state.
    resumed = make_trainer(tmp_path / "resumed", max_steps=4, resume="true")
    resumed.train()
    assert [r["reward/score"] for r in resumed.history] == pytest.approx([r["reward/score"] for r in straight.history])
    for name, value in snapshot(straight.actor).items():
        torch.testing.assert_close(resumed.actor.state_dict()[name], value)


def test_warmup_and_decay_follow_the_schedule_from_a_first_step_that_changes_nothing(tmp_path):
    """Linear schedule, 2 warmup steps of 4: learning rates 0, ½, 1, ½ × peak, the critic's from its own peak;
    the step at learning rate 0 leaves both trained models as they were."""
    trainer = make_trainer(
        tmp_path, max_steps=4, save_steps=1, lr_scheduler_type="linear", warmup_steps=2, critic_learning_rate=1e-3
    )
    actor_before, critic_before = snapshot(trainer.actor), snapshot(trainer.critic)
    history = trainer.train()
    assert [row["learning_rate/actor"] for row in history] == pytest.approx([0.0, 1.5e-3, 3e-3, 1.5e-3])
    assert [row["learning_rate/critic"] for row in history] == pytest.approx([0.0, 0.5e-3, 1e-3, 0.5e-3])
    assert trainer.actor_optimizer.param_groups[0]["lr"] == 0.0  # the schedule's end, reached by the optimizer
    after_first = load_file(tmp_path / "checkpoint-1" / "actor" / "model.safetensors")
    assert all(torch.equal(after_first[name], actor_before[name]) for name in after_first)
    assert any(not torch.equal(value, critic_before[name]) for name, value in snapshot(trainer.critic).items())


def test_resume_restores_the_learning_rate_schedule(tmp_path):
    """Resumed from the middle of a warmup-then-decay run, the rest follows the same learning rates and weights."""
    schedule = {"max_steps": 4, "lr_scheduler_type": "linear", "warmup_steps": 2}
    straight = make_trainer(tmp_path / "straight", save_steps=2, **schedule)
    straight.train()
    resumed = make_trainer(tmp_path / "resumed", resume=str(tmp_path / "straight" / "checkpoint-2"), **schedule)
    resumed.train()
    for key in ("learning_rate/actor", "reward/score"):
        assert [r[key] for r in resumed.history] == pytest.approx([r[key] for r in straight.history])
    for name, value in snapshot(straight.actor).items():
        torch.testing.assert_close(resumed.actor.state_dict()[name], value)


def test_metrics_reach_tensorboard_every_logging_step(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer = make_trainer(tmp_path, max_steps=4, report_to="tensorboard", logging_steps=2)
    history = trainer.train()
    trainer.close()
    (run,) = (tmp_path / "runs").iterdir()
    events = EventAccumulator(str(run)).Reload()
    for tag in ("reward/score", "kl/ref", "loss/critic", "learning_rate/actor"):
        logged = [(event.step, event.value) for event in events.Scalars(tag)]
        assert logged == [(step, pytest.approx(history[step - 1][tag], rel=1e-6)) for step in (2, 4)]


def test_config_refuses_what_ppo_does_not_do(tmp_path):
    with pytest.raises(ValueError, match="mini_batch_size, not gradient_accumulation_steps"):
        PPOConfig(output_dir=str(tmp_path), use_cpu=True, gradient_accumulation_steps=2)
    with pytest.raises(ValueError, match="max_steps must be positive"):
        PPOConfig(output_dir=str(tmp_path), use_cpu=True, max_steps=-1)
    with pytest.raises(ValueError, match=r"report_to \['azure_ml'\]: PPO logs through accelerate's trackers"):
        make_trainer(tmp_path, report_to="azure_ml")


def test_optimizer_is_the_one_the_trainer_arguments_name(tmp_path):
    trainer = make_trainer(
        tmp_path, optim="adamw_torch_fused", adam_beta2=0.95, weight_decay=0.1, critic_learning_rate=1e-3
    )
    for optimizer, peak in ((trainer.actor_optimizer, 3e-3), (trainer.critic_optimizer, 1e-3)):
        settings = optimizer.optimizer.defaults  # accelerate's wrapper holds the torch optimizer
        assert isinstance(optimizer.optimizer, torch.optim.AdamW) and settings["fused"]
        assert (settings["lr"], settings["betas"], settings["weight_decay"]) == (peak, (0.9, 0.95), 0.1)


def test_activation_checkpointing_recomputes_without_changing_the_step(tmp_path):
    """Checkpointed actor and critic take the same first step as plain ones: same metrics, same weights."""
    plain = make_trainer(tmp_path / "plain", max_steps=1)  # each trainer seeds the run: build, then train
    (row_plain,) = plain.train()
    checkpointed = make_trainer(tmp_path / "checkpointed", max_steps=1, activation_checkpointing=True)
    (row_checkpointed,) = checkpointed.train()
    assert checkpointed.actor.is_activation_checkpointing and checkpointed.critic.is_activation_checkpointing
    assert not plain.actor.is_activation_checkpointing
    for key in ("reward/score", "kl/ref", "loss/actor", "loss/critic", "policy/entropy"):
        assert row_checkpointed[key] == pytest.approx(row_plain[key], rel=1e-5, abs=1e-6)
    for name, value in snapshot(plain.actor).items():
        torch.testing.assert_close(checkpointed.actor.state_dict()[name], value)


def test_recipe_lora_follows_the_model_config_and_trains_the_value_head():
    from trl import ModelConfig

    from xuanyuan.training.adapters import lora_config as lora

    settings = ModelConfig(use_peft=True, lora_r=4, lora_alpha=8, use_rslora=True)
    critic = get_peft_model(XuanYuanForSequenceClassification(toy_config(num_labels=1)), lora(settings, "SEQ_CLS"))
    trainable = {name for name, p in critic.named_parameters() if p.requires_grad}
    assert any("score" in name and "lora" not in name for name in trainable)  # the value head, in full
    linear = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}  # "all-linear"
    assert {name.split(".lora_A")[0].rsplit(".", 1)[-1] for name in trainable if ".lora_A" in name} == linear
    named = lora(ModelConfig(use_peft=True, lora_target_modules=["q_proj", "v_proj"]), "CAUSAL_LM")
    actor = get_peft_model(XuanYuanForCausalLM(toy_config()), named)
    adapted = {name.split(".lora_A")[0] for name, _ in actor.named_parameters() if ".lora_A" in name}
    assert sorted(name.rsplit(".", 1)[-1] for name in adapted) == ["q_proj", "v_proj"]
    assert hasattr(actor, "generate") and lora(settings, "CAUSAL_LM").use_rslora


ENVIRONMENT = {**os.environ, "PYTHONPATH": str(RECIPE.parents[1]), "OMP_NUM_THREADS": "1"}
SMALL_RUN = ["--use_cpu", "true", "--rollout_batch_size", "2", "--mini_batch_size", "2", "--max_new_tokens", "3"]
SMALL_RUN += ["--system_prompt", "", "--learning_rate", "1e-3", "--critic_learning_rate", "1e-3"]


def test_recipe_resumes_after_sigkill_as_if_never_stopped(tmp_path):
    """Kill recipes/ppo.py once a checkpoint exists, rerun with --resume_from_checkpoint true: the final
    actor and metric history equal those of a run that was never interrupted."""
    inputs = save_toy_run_inputs(tmp_path)
    run = [sys.executable, str(RECIPE), *inputs, *SMALL_RUN, "--max_steps", "12", "--save_steps", "2"]
    straight = subprocess.run([*run, "--output_dir", str(tmp_path / "straight")], env=ENVIRONMENT, timeout=600)
    assert straight.returncode == 0

    killed_dir = tmp_path / "killed"
    process = subprocess.Popen([*run, "--output_dir", str(killed_dir)], env=ENVIRONMENT)
    deadline = time.monotonic() + 600
    while not (killed_dir / "checkpoint-2" / "ppo_state.json").exists() and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed_dir / "checkpoint-12").exists(), "the run finished before it could be killed"
    resumed = subprocess.run(
        [*run, "--output_dir", str(killed_dir), "--resume_from_checkpoint", "true"], env=ENVIRONMENT, timeout=600
    )
    assert resumed.returncode == 0

    def final(folder):
        state = json.loads((folder / "checkpoint-12" / "ppo_state.json").read_text())
        return state["history"], load_file(folder / "model.safetensors")

    (straight_history, straight_weights), (resumed_history, resumed_weights) = (
        final(tmp_path / "straight"),
        final(killed_dir),
    )
    assert [r["reward/score"] for r in resumed_history] == pytest.approx([r["reward/score"] for r in straight_history])
    for name, tensor in straight_weights.items():
        torch.testing.assert_close(resumed_weights[name], tensor)


def test_ptx_loss_is_the_mean_token_cross_entropy_of_its_texts(tmp_path):
    torch.manual_seed(0)
    actor, critic = XuanYuanForCausalLM(toy_config()), XuanYuanForSequenceClassification(toy_config(num_labels=1))
    texts = [[1, 5, 6, 7, 2], [1, 8, 9, 2], [1, 3, 2]]
    config = PPOConfig(output_dir=str(tmp_path), ptx_coef=0.5, ptx_batch_size=2, use_cpu=True, max_steps=1)
    reference = XuanYuanForCausalLM(toy_config())
    trainer = PPOTrainer(
        config, actor, critic, PreferredTokenCounter(), toy_tokenizer(), [[1, 3]], reference=reference, ptx_texts=texts
    )
    step_texts = [texts[i] for i in trainer.ptx_schedule.indices(0)]
    total, count = 0.0, 0
    for ids in step_texts:  # one text at a time, no padding: the reference
        logits = trainer.actor(input_ids=torch.tensor([ids])).logits[0, :-1]
        total += torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:]), reduction="sum").item()
        count += len(ids) - 1
    assert trainer.ptx_loss(0).item() == pytest.approx(total / count, rel=1e-5)
    assert "loss/ptx" in trainer.train()[0]


def test_missing_reference_needs_a_peft_actor(tmp_path):
    config = PPOConfig(output_dir=str(tmp_path), use_cpu=True)
    actor, critic = XuanYuanForCausalLM(toy_config()), XuanYuanForSequenceClassification(toy_config(num_labels=1))
    with pytest.raises(ValueError, match="reference"):
        PPOTrainer(config, actor, critic, PreferredTokenCounter(), toy_tokenizer(), [[1, 3]])


def test_lora_actor_samples_with_its_adapters_and_is_the_reference_without(tmp_path):
    """With a LoRA actor the reference is the actor with adapters disabled, for the reference pass only:
    the recorded actor log-probs are those of the adapted model, the reference's those of the base model."""
    torch.manual_seed(0)
    base = XuanYuanForCausalLM(toy_config())
    base_copy = copy.deepcopy(base)
    actor = get_peft_model(base, LoraConfig(task_type=TaskType.CAUSAL_LM, r=4, target_modules="all-linear"))
    with torch.no_grad():  # LoRA B starts at zero: move it so the adapted policy differs from the base one
        for name, parameter in actor.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.5)
    critic = XuanYuanForSequenceClassification(toy_config(num_labels=1))
    config = PPOConfig(output_dir=str(tmp_path), use_cpu=True, rollout_batch_size=4, mini_batch_size=4)
    prompts = [[1, 3 + i, 4 + i] for i in range(4)]
    trainer = PPOTrainer(config, actor, critic, PreferredTokenCounter(), toy_tokenizer(), prompts)
    rollout = trainer.make_rollout(0)
    args = (rollout.input_ids, rollout.attention_mask, rollout.prompt_length)
    actions, mask = rollout.input_ids[:, rollout.prompt_length :], rollout.action_mask
    with torch.no_grad():
        adapted = token_logprobs(response_logits(actor, *args), actions) * mask
        plain = token_logprobs(response_logits(base_copy, *args), actions) * mask
    assert not torch.allclose(adapted, plain, atol=1e-3)  # the check below can tell the two apart
    torch.testing.assert_close(rollout.logprobs, adapted)
    torch.testing.assert_close(rollout.ref_logprobs, plain)
