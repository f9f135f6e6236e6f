"""Trainers: pretraining (bucketed packing, domain mixture), SFT and reward (thin TRL subclasses), PPO (our own)."""

from .mixture import Mixture, MixtureSampler, RatioRule, rebalance_shares
from .sft import XuanYuanSFTConfig, XuanYuanSFTTrainer

__all__ = ["Mixture", "MixtureSampler", "RatioRule", "XuanYuanSFTConfig", "XuanYuanSFTTrainer", "rebalance_shares"]
