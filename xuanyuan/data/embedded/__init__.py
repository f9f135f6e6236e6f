"""The embedded default data set: a small, deterministic synthetic finance world (companies, concepts) and
everything the XuanYuan recipe trains and evaluates on, generated from one seed.

`generate_embedded_data(EmbeddedDataConfig(...))` writes the KB, pretraining corpus with planted defects,
held-out documents, SFT, preference and RL data and a C-Eval-format exam, and returns the manifest.
"""

from .generate import EmbeddedDataConfig, generate_embedded_data

__all__ = ["EmbeddedDataConfig", "generate_embedded_data"]
