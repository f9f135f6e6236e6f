"""Trainers: pretraining (bucketed packing, domain mixture), SFT and reward (thin TRL subclasses), PPO (our own)."""
