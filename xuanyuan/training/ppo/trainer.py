"""The PPO loop: rollout → PPO epochs over mini-batches → log → checkpoint. Thin by design: the math
lives in `core.py`, experience collection in `rollout.py`, the guard and plots in `monitoring.py`.

Four models (XuanYuan-6B report, after DeepSpeed-Chat): the actor and the frozen reference start from
the SFT model; the critic and the frozen reward model from the trained reward model. Actor and critic
have separate optimizers and learning rates. With a LoRA actor the reference is the actor with its
adapters disabled (pass `reference=None`). How the models are wrapped (DDP, DeepSpeed ZeRO 1-3) lives in
`distributed.py`.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import set_seed
from transformers import Trainer, get_scheduler

from ...utils.padding import pad
from ..checkpoints import resolve_resume
from ..kernels import apply_liger_kernel
from . import distributed
from .config import PPOConfig
from .core import entropy_from_logits, masked_mean, masked_whiten, policy_loss, token_logprobs, value_loss
from .monitoring import CURVES, plot_metrics, reward_hacking_warnings
from .rollout import Rollout, collect_rollout, generate_responses, response_logits, score_responses, token_values

STATE_FILE = "ppo_state.json"


class PromptSchedule:
    """Deterministic prompt order: a fresh seeded permutation per pass over the prompts, split
    across processes. Step `s` always maps to the same prompts, so a resumed run replays the order."""

    def __init__(self, num_prompts: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        self.num_prompts, self.batch_size, self.seed = num_prompts, batch_size, seed
        self.rank, self.world_size = rank, world_size

    def indices(self, step: int) -> list[int]:
        global_batch = self.batch_size * self.world_size
        start = step * global_batch + self.rank * self.batch_size
        return [self._at(position) for position in range(start, start + self.batch_size)]

    def _at(self, position: int) -> int:
        epoch, offset = divmod(position, self.num_prompts)
        generator = torch.Generator().manual_seed(self.seed + epoch)
        return int(torch.randperm(self.num_prompts, generator=generator)[offset])


class PPOTrainer:
    def __init__(
        self,
        config: PPOConfig,
        actor,
        critic,
        reward_model,
        tokenizer,
        prompts: list[list[int]],
        reference=None,
        ptx_texts: list[list[int]] | None = None,
        generation_config=None,
        accelerator: Accelerator | None = None,
    ):
        """`accelerator`: from `distributed.make_accelerator(config)`, made before loading the models so
        that ZeRO-3 loads them partitioned; made here when not given."""
        self.config = config
        self.accelerator = accelerator or distributed.make_accelerator(config)
        distributed.check_supported(self.accelerator, actor, critic)
        set_seed(config.seed)
        self.tokenizer = tokenizer
        self.pad_token_id, self.eos_token_id = tokenizer.pad_token_id, tokenizer.eos_token_id
        if self.pad_token_id is None or self.pad_token_id == self.eos_token_id:
            raise ValueError("PPO needs a pad token distinct from EOS: the reward is read at the EOS.")
        self.prompts, self.ptx_texts = prompts, ptx_texts or []
        if config.ptx_coef > 0 and not self.ptx_texts:
            raise ValueError("ptx_coef > 0 needs pretraining texts (ptx_texts).")
        if reference is None and not hasattr(actor, "disable_adapter"):
            raise ValueError("Pass a reference model, or a PEFT actor (its adapters disabled act as the reference).")
        if config.rollout_batch_size % config.mini_batch_size:
            raise ValueError("rollout_batch_size must be a multiple of mini_batch_size.")

        for model in (actor, critic, reference, reward_model):  # the same kernels everywhere: KL starts at 0
            if model is not None:
                apply_liger_kernel(model, config)
        if config.activation_checkpointing:
            for model in (actor, critic):
                self._checkpoint_activations(model)
        actor_optimizer = self._optimizer(actor, config.learning_rate)
        critic_optimizer = self._optimizer(critic, config.critic_learning_rate)
        # Stepped by the trainer once per PPO step (not handed to `prepare`, whose DeepSpeed engine would step
        # them per mini-batch) and saved with the checkpoint state.
        self.schedulers = {"actor": self._scheduler(actor_optimizer), "critic": self._scheduler(critic_optimizer)}
        self.accelerator.register_for_checkpointing(*self.schedulers.values())
        self.actor, self.actor_optimizer, self.critic, self.critic_optimizer = distributed.prepare_trained(
            self.accelerator, actor, actor_optimizer, critic, critic_optimizer
        )
        self.reference = distributed.prepare_frozen(self.accelerator, reference) if reference is not None else None
        self.reward_model = distributed.prepare_frozen(self.accelerator, reward_model)

        self.generation_kwargs = self._generation_kwargs(generation_config)
        self.vllm = None
        if config.use_vllm:
            from .vllm_rollout import VLLMSampler

            bare_actor = self.accelerator.unwrap_model(self.actor, keep_torch_compile=False)
            self.vllm = VLLMSampler(
                config, bare_actor, self.accelerator, tokenizer, self.generation_kwargs, self.eos_token_id
            )
        world = self.accelerator.num_processes
        rank = self.accelerator.process_index
        self.prompt_schedule = PromptSchedule(len(prompts), config.rollout_batch_size, config.seed, rank, world)
        self.ptx_schedule = PromptSchedule(
            max(len(self.ptx_texts), 1), config.ptx_batch_size, config.seed + 1, rank, world
        )
        self.step, self.history = 0, []
        self.output_dir = Path(config.output_dir)

    # ---------------------------------------------------------------- setup helpers
    def _optimizer(self, model, learning_rate: float) -> torch.optim.Optimizer:
        """The optimizer `optim` names, as the Trainer builds it (fused AdamW by default, `adam_beta1/2`,
        `adam_epsilon`, `optim_args`); `weight_decay` applies to every trainable parameter."""
        optimizer_class, settings = Trainer.get_optimizer_cls_and_kwargs(self.config, model)
        trainable = [p for p in model.parameters() if p.requires_grad]
        settings |= {"lr": learning_rate, "weight_decay": self.config.weight_decay}
        return optimizer_class(trainable, **settings)

    def _checkpoint_activations(self, model) -> None:
        """The Trainer's `activation_checkpointing` for a trained model: `every_n_layers` and `offload` from
        `activation_checkpointing_kwargs`, the rest passed on to torch's checkpoint."""
        settings = dict(self.config.activation_checkpointing_kwargs or {})
        model.activation_checkpointing_enable(
            every_n_layers=settings.pop("every_n_layers", 1),
            offload=settings.pop("offload", False),
            activation_checkpointing_kwargs=settings or None,
        )

    def _scheduler(self, optimizer: torch.optim.Optimizer):
        return get_scheduler(
            self.config.lr_scheduler_type,
            optimizer,
            num_warmup_steps=self.config.get_warmup_steps(self.config.max_steps),
            num_training_steps=self.config.max_steps,
            scheduler_specific_kwargs=self.config.lr_scheduler_kwargs,
        )

    def _every(self, steps_or_ratio: float) -> int:
        """`save_steps`/`logging_steps` as the Trainer reads them: below 1, a share of `max_steps`."""
        return math.ceil(self.config.max_steps * steps_or_ratio) if steps_or_ratio < 1 else int(steps_or_ratio)

    def _generation_kwargs(self, generation_config) -> dict:
        """Sample with the SFT model's own sampling parameters unless the config overrides them."""
        kwargs = {"do_sample": True, "max_new_tokens": self.config.max_new_tokens}
        for name in ("temperature", "top_p", "top_k"):
            value = getattr(self.config, name)
            if value is None and generation_config is not None:
                value = getattr(generation_config, name, None)
            if value is not None:
                kwargs[name] = value
        return kwargs

    # ---------------------------------------------------------------- one PPO step
    def make_rollout(self, step: int) -> Rollout:
        prompts = [self.prompts[i] for i in self.prompt_schedule.indices(step)]
        prompt_ids, prompt_mask = pad(prompts, self.pad_token_id, side="left")
        device = self.accelerator.device
        prompt_ids, prompt_mask = prompt_ids.to(device), prompt_mask.to(device)
        tokens = {"eos_token_id": self.eos_token_id, "pad_token_id": self.pad_token_id}
        self.actor.eval()
        self.critic.eval()
        responses = self.vllm.responses(prompts).to(device) if self.vllm is not None else None
        with distributed.generation_model(self.accelerator, self.actor) as actor:
            if responses is None:
                responses = generate_responses(actor, prompt_ids, prompt_mask, self.generation_kwargs, **tokens)
            samples = score_responses(self.reward_model, prompt_ids, prompt_mask, responses, **tokens)
            rollout = collect_rollout(
                actor,
                self.reference,
                self.critic,
                samples,
                eos_token_id=self.eos_token_id,
                kl_coef=self.config.kl_coef,
                score_clip=self.config.score_clip,
                gamma=self.config.gamma,
                lam=self.config.lam,
                missing_eos_penalty=self.config.missing_eos_penalty,
            )
        if self.config.whiten_advantages:
            rollout.advantages = masked_whiten(rollout.advantages, rollout.action_mask)
        return rollout

    def ptx_loss(self, step: int) -> torch.Tensor:
        texts = [self.ptx_texts[i][: self.config.ptx_max_length] for i in self.ptx_schedule.indices(step)]
        input_ids, mask = pad(texts, self.pad_token_id)
        input_ids, mask = input_ids.to(self.accelerator.device), mask.to(self.accelerator.device)
        logits = self.actor(input_ids=input_ids, attention_mask=mask).logits[:, :-1].float()
        targets = input_ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)

    def train_on_rollout(self, rollout: Rollout, step: int) -> dict[str, float]:
        self.actor.train()
        self.critic.train()
        stats: dict[str, list[float]] = {}
        batch = rollout.input_ids.shape[0]
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + step)
        for _ in range(self.config.ppo_epochs):
            order = torch.randperm(batch, generator=generator).to(rollout.input_ids.device)
            for start in range(0, batch, self.config.mini_batch_size):
                mini = rollout.select(order[start : start + self.config.mini_batch_size])
                for name, value in self._ppo_update(mini, step).items():
                    stats.setdefault(name, []).append(value)
        return {name: float(np.mean(values)) for name, values in stats.items()}

    def _ppo_update(self, mini: Rollout, step: int) -> dict[str, float]:
        actions = mini.input_ids[:, mini.prompt_length :]
        logits = response_logits(self.actor, mini.input_ids, mini.attention_mask, mini.prompt_length)
        logprobs = token_logprobs(logits, actions)
        actor_loss, policy_stats = policy_loss(
            logprobs, mini.logprobs, mini.advantages, mini.action_mask, self.config.clip_eps
        )
        entropy = masked_mean(entropy_from_logits(logits.detach()), mini.action_mask)
        total_actor_loss = actor_loss
        ptx = None
        if self.config.ptx_coef > 0:
            ptx = self.ptx_loss(step)
            total_actor_loss = actor_loss + self.config.ptx_coef * ptx
        distributed.backward_and_step(
            self.accelerator, self.actor, self.actor_optimizer, total_actor_loss, self.config.max_grad_norm
        )

        values = token_values(self.critic, mini.input_ids, mini.attention_mask)[:, mini.prompt_length - 1 : -1]
        critic_loss, value_stats = value_loss(
            values, mini.values, mini.returns, mini.action_mask, self.config.value_clip
        )
        distributed.backward_and_step(
            self.accelerator, self.critic, self.critic_optimizer, critic_loss, self.config.max_grad_norm
        )
        stats = {
            "loss/actor": actor_loss.item(),
            "loss/critic": critic_loss.item(),
            "policy/entropy": entropy.item(),
            **{f"policy/{k}": v.item() for k, v in policy_stats.items()},
            **{f"critic/{k}": v.item() for k, v in value_stats.items()},
        }
        if ptx is not None:
            stats["loss/ptx"] = ptx.item()
        return stats

    def rollout_metrics(self, rollout: Rollout) -> dict[str, float]:
        """Monitoring numbers of one rollout, averaged over all processes."""
        mask = rollout.action_mask
        per_sequence_kl = ((rollout.logprobs - rollout.ref_logprobs) * mask).sum(dim=1)
        local = torch.stack(
            [
                rollout.scores.mean(),
                per_sequence_kl.mean(),
                rollout.response_lengths.float().mean(),
                masked_mean(rollout.advantages, mask),
                masked_mean(rollout.returns, mask),
                masked_mean(rollout.values, mask),
            ]
        )
        merged = self.accelerator.reduce(local, reduction="mean")
        names = ("reward/score", "kl/ref", "response/length", "advantage/mean", "return/mean", "value/mean")
        return dict(zip(names, merged.tolist(), strict=True))

    # ---------------------------------------------------------------- loop and checkpoints
    def train(self) -> list[dict[str, float]]:
        checkpoint = resolve_resume(self.config.resume_from_checkpoint, self.output_dir, STATE_FILE)
        if checkpoint is not None:
            self.load_checkpoint(checkpoint)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        metrics_log = self.output_dir / "ppo_metrics.jsonl"
        self.accelerator.init_trackers(self.config.run_name or "ppo", self.config.to_sanitized_dict())
        save_every, log_every = self._every(self.config.save_steps), self._every(self.config.logging_steps)
        while self.step < self.config.max_steps:
            started = time.perf_counter()
            rollout = self.make_rollout(self.step)
            row = {"step": self.step + 1, **self.rollout_metrics(rollout), **self.train_on_rollout(rollout, self.step)}
            for name, scheduler in self.schedulers.items():
                row[f"learning_rate/{name}"] = scheduler.get_last_lr()[0]
                scheduler.step()
            row["time/step_seconds"] = time.perf_counter() - started
            self.step += 1
            self.history.append(row)
            warnings = reward_hacking_warnings(
                self.history,
                self.config.guard_window,
                self.config.guard_max_reward_slope,
                self.config.guard_min_length_ratio,
            )
            row["guard/warnings"] = len(warnings)
            if self.accelerator.is_main_process:
                with open(metrics_log, "a", encoding="utf-8") as log:
                    log.write(json.dumps(row, ensure_ascii=False) + "\n")
                if self.step % log_every == 0:
                    print(self._format(row), flush=True)
                    self.accelerator.log({k: v for k, v in row.items() if k != "step"}, step=self.step)
                for warning in warnings:
                    print(f"[reward-hacking guard] step {self.step}: {warning}", flush=True)
            if self.step % save_every == 0 or self.step == self.config.max_steps:
                self.save_checkpoint()
            if warnings and self.config.guard_stop:
                print(f"[reward-hacking guard] stopping at step {self.step} (guard_stop is set)", flush=True)
                break
        if self.accelerator.is_main_process and self.history:
            plot_metrics(self.history, self.output_dir / "ppo_metrics.png")
            plot_metrics(self.history, self.output_dir / "ppo_curves.png", CURVES)
        return self.history

    @staticmethod
    def _format(row: dict[str, float]) -> str:
        keys = ("reward/score", "kl/ref", "loss/actor", "loss/critic", "response/length", "policy/clip_fraction")
        return f"step {row['step']}: " + ", ".join(f"{k}={row[k]:.4g}" for k in keys if k in row)

    def save_checkpoint(self) -> Path:
        """Actor + critic + both optimizers + RNG states (accelerate), the metric history, and the
        actor alone as a loadable model in `actor/` for release or evaluation."""
        checkpoint = self.output_dir / f"checkpoint-{self.step}"
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(str(checkpoint / "state"))
        distributed.save_model(self.accelerator, self.actor, checkpoint / "actor")
        if self.accelerator.is_main_process:
            self.tokenizer.save_pretrained(checkpoint / "actor")
            state = {"step": self.step, "history": self.history}
            (checkpoint / STATE_FILE).write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
        self.accelerator.wait_for_everyone()
        return checkpoint

    def load_checkpoint(self, path: str | Path) -> None:
        checkpoint = Path(path)
        self.accelerator.load_state(str(checkpoint / "state"))
        state = json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
        self.step, self.history = state["step"], state["history"]

    def close(self) -> None:
        """Release the engines and close the process group; call it on every process once training and
        saving are done."""
        distributed.close(self.accelerator, self.actor, self.critic, self.reference, self.reward_model)

    def save_actor(self, path: str | Path) -> None:
        """The actor as a `from_pretrained` folder (LoRA adapters merged). Call it on every process."""
        self.accelerator.wait_for_everyone()
        distributed.save_model(self.accelerator, self.actor, path, merge_adapters=True)
        if self.accelerator.is_main_process:
            self.tokenizer.save_pretrained(path)
