"""`PPOConfig`: every knob of the PPO trainer, TRL-style (a dataclass parsed by `TrlParser`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PPOConfig:
    """Defaults follow the XuanYuan-6B report (β 0.05, lr 5e-7 for actor and critic, save every 20
    steps) and DeepSpeed-Chat (γ 1, λ 0.95, ε 0.2, value clip 0.2, score clip 5)."""

    output_dir: str = field(metadata={"help": "Where checkpoints, metrics and the final actor go."})
    actor_learning_rate: float = 5e-7
    critic_learning_rate: float = 5e-7
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
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
    max_steps: int = 100
    max_prompt_length: int = 256
    max_new_tokens: int = 128
    temperature: float | None = field(default=None, metadata={"help": "None = the SFT model's generation_config."})
    top_p: float | None = None
    top_k: int | None = None
    ptx_coef: float = field(default=0.0, metadata={"help": "Weight of the pretraining LM loss (InstructGPT ptx)."})
    ptx_batch_size: int = 4
    ptx_max_length: int = 256
    save_steps: int = 20
    logging_steps: int = 1
    seed: int = 42
    bf16: bool = False
    use_cpu: bool = False
    ddp_backend: str | None = field(
        default=None,
        metadata={"help": "Process-group backend; 'gloo' runs DDP or DeepSpeed on CPU (with use_cpu false)."},
    )
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={"help": "A checkpoint-N folder, or true for the newest in output_dir (the Trainer's meaning)."},
    )
    guard_window: int = field(default=10, metadata={"help": "Steps the reward-hacking guard looks back over."})
    guard_max_reward_slope: float = field(
        default=0.5, metadata={"help": "Warn when the RM reward rises faster than this per step while KL grows."}
    )
    guard_min_length_ratio: float = field(
        default=0.3, metadata={"help": "Warn when responses shrink below this share of their initial length."}
    )
    guard_stop: bool = field(default=False, metadata={"help": "Stop training when the guard fires."})
