"""The project's own PPO (XuanYuan-6B report, after DeepSpeed-Chat): pure RL math in `core`, experience
collection in `rollout`, the loop in `trainer`, prompt selection in `prompt_filter`."""

from .config import PPOConfig
from .core import gae, kl_penalized_rewards, masked_mean, policy_loss, value_loss
from .trainer import PPOTrainer, latest_checkpoint

__all__ = [
    "PPOConfig",
    "PPOTrainer",
    "gae",
    "kl_penalized_rewards",
    "latest_checkpoint",
    "masked_mean",
    "policy_loss",
    "value_loss",
]
