"""Trainers: pretraining (bucketed packing, domain mixture), SFT and reward (thin TRL subclasses), PPO (our own);
GRPO/RLOO on TRL's trainers with the project's reward functions (`grpo`, `reward_functions`).

The names below load on first use, so that the light modules of the package (e.g. the configs that recipes
subclass) import without TRL.
"""

from ..utils.lazy import lazy_exports

_SOURCES = {
    "XuanYuanSFTConfig": "sft",
    "XuanYuanSFTTrainer": "sft",
}
__all__ = list(_SOURCES)

__getattr__ = lazy_exports(__name__, _SOURCES)
