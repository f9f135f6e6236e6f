"""Trainers: continued pretraining (bucketed packing, domain mixture); later SFT, reward, PPO."""
