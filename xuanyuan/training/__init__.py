"""Trainers: SFT (a TRL `SFTTrainer` subclass with mixed fine-tuning), the data mix, adapter merging."""

from .mixture import Mixture, MixtureSampler, RatioRule, rebalance_shares
from .sft import XuanYuanSFTConfig, XuanYuanSFTTrainer

__all__ = ["Mixture", "MixtureSampler", "RatioRule", "XuanYuanSFTConfig", "XuanYuanSFTTrainer", "rebalance_shares"]
