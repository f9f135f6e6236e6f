"""The project's own PPO (XuanYuan-6B report, after DeepSpeed-Chat): pure RL math in `core`, experience
collection in `rollout`, the loop in `trainer`, prompt selection in `prompt_filter`.

The names below load on first use, so that `pei` and `prompt_filter` import without the trainer's stack.
"""

from ...utils.lazy import lazy_exports

_SOURCES = {
    "PPOConfig": "config",
    "PPOTrainer": "trainer",
    "gae": "core",
    "kl_penalized_rewards": "core",
    "masked_mean": "core",
    "policy_loss": "core",
    "value_loss": "core",
}
__all__ = list(_SOURCES)

__getattr__ = lazy_exports(__name__, _SOURCES)
