"""`PPOConfig`: the PPO trainer's knobs on top of `transformers.TrainingArguments`, as TRL's PPOConfig was.

From `TrainingArguments` the trainer takes what it means there: `output_dir`, `learning_rate` (the actor's),
`lr_scheduler_type`/`lr_scheduler_kwargs`/`warmup_steps` (one scheduler per optimizer, stepped once per
PPO step), `weight_decay`, `max_grad_norm`, `max_steps`, `save_steps`, `logging_steps`, `report_to`,
`run_name`, `seed`, `bf16`, `use_cpu`, `ddp_backend`, `resume_from_checkpoint`, the optimizer (`optim`,
fused AdamW by default; `adam_beta1/2`, `adam_epsilon`), `activation_checkpointing` (actor and critic),
`torch_compile` (actor and critic) and `use_liger_kernel` (all four models).
Batch sizes and epochs are PPO's own (`rollout_batch_size`, `mini_batch_size`, `ppo_epochs`): the Trainer's
batch, epoch and accumulation fields do not apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from ...utils.extras import require


@dataclass
class PPOConfig(TrainingArguments):
    """Defaults follow the XuanYuan-6B report (β 0.05, lr 5e-7 for actor and critic, save every 20
    steps) and DeepSpeed-Chat (γ 1, λ 0.95, ε 0.2, value clip 0.2, score clip 5)."""

    learning_rate: float = field(default=5e-7, metadata={"help": "The actor's peak learning rate."})
    critic_learning_rate: float | None = field(
        default=None, metadata={"help": "The critic's peak learning rate; None = learning_rate."}
    )
    max_steps: int = field(default=100, metadata={"help": "PPO steps (one rollout batch and its updates each)."})
    save_steps: float = 20
    logging_steps: float = 1
    report_to: None | str | list[str] = field(
        default="tensorboard",
        metadata={"help": "Experiment trackers (accelerate's: tensorboard, wandb, mlflow, ...); 'none' = off."},
    )
    kl_coef: float = field(default=0.05, metadata={"help": "β of the per-token KL penalty."})
    score_clip: float | None = field(default=5.0, metadata={"help": "Clip the RM score to ±this; None = off."})
    missing_eos_penalty: float | None = field(
        default=None, metadata={"help": "Subtract this from the score of responses cut off before their EOS."}
    )
    gamma: float = 1.0
    lam: float = 0.95
    clip_eps: float = 0.2
    value_clip: float = 0.2
    whiten_advantages: bool = False
    ppo_epochs: int = field(default=1, metadata={"help": "Passes over each rollout batch."})
    rollout_batch_size: int = field(default=8, metadata={"help": "Prompts per PPO step, per process."})
    mini_batch_size: int = 4
    max_prompt_length: int = 256
    max_new_tokens: int = 128
    temperature: float | None = field(default=None, metadata={"help": "None = the SFT model's generation_config."})
    top_p: float | None = None
    top_k: int | None = None
    # vLLM rollouts: TRL's GRPOConfig names and defaults, colocate mode only.
    use_vllm: bool = field(
        default=False,
        metadata={"help": "Sample rollouts with an in-process vLLM engine instead of generate() (the vllm extra)."},
    )
    vllm_gpu_memory_utilization: float = field(
        default=0.3, metadata={"help": "Share of each GPU's memory vLLM takes for its weights and KV cache."}
    )
    vllm_tensor_parallel_size: int = field(
        default=1, metadata={"help": "GPUs one vLLM engine spans; must divide the number of processes."}
    )
    vllm_max_model_length: int | None = field(
        default=None, metadata={"help": "vLLM's context window; None = the model config's."}
    )
    vllm_enable_sleep_mode: bool = field(
        default=False, metadata={"help": "Free vLLM's weights and KV cache between rollouts (slower to wake)."}
    )
    ptx_coef: float = field(default=0.0, metadata={"help": "Weight of the pretraining LM loss (InstructGPT ptx)."})
    ptx_batch_size: int = 4
    ptx_max_length: int = 256
    guard_window: int = field(default=10, metadata={"help": "Steps the reward-hacking guard looks back over."})
    guard_max_reward_slope: float = field(
        default=0.5, metadata={"help": "Warn when the RM reward rises faster than this per step while KL grows."}
    )
    guard_min_length_ratio: float = field(
        default=0.3, metadata={"help": "Warn when responses shrink below this share of their initial length."}
    )
    guard_stop: bool = field(default=False, metadata={"help": "Stop training when the guard fires."})

    def __post_init__(self):
        super().__post_init__()
        if self.max_steps <= 0:
            raise ValueError(f"max_steps must be positive (PPO steps to run), got {self.max_steps}")
        if self.gradient_accumulation_steps != 1:
            raise ValueError(
                "PPO steps each optimizer once per mini-batch: set mini_batch_size, not gradient_accumulation_steps"
            )
        if self.critic_learning_rate is None:
            self.critic_learning_rate = self.learning_rate
        if self.use_vllm:
            require("vllm")
