"""Pretraining-corpus processing blocks (datatrove pipeline steps) and the models they use."""
