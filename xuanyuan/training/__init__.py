"""Trainers: pretraining (bucketed packing, domain mixture), SFT and reward (thin TRL subclasses), PPO (our own).

The names below load on first use, so that the light modules of the package (e.g. the configs that recipes
subclass) import without TRL.
"""

import importlib

_SOURCES = {
    "Mixture": "mixture",
    "MixtureSampler": "mixture",
    "RatioRule": "mixture",
    "rebalance_shares": "mixture",
    "XuanYuanSFTConfig": "sft",
    "XuanYuanSFTTrainer": "sft",
}
__all__ = list(_SOURCES)


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_SOURCES[name]}", __name__), name)
