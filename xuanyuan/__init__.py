"""xuanyuan-recipes: the XuanYuan finance-LLM training pipeline on the Hugging Face stack.

Importing the package registers the XuanYuan model classes with transformers' Auto classes.
"""

from .modeling import (
    PRESETS,
    XuanYuanConfig,
    XuanYuanForCausalLM,
    XuanYuanForSequenceClassification,
    XuanYuanModel,
)

__version__ = "0.1.0"

__all__ = [
    "PRESETS",
    "XuanYuanConfig",
    "XuanYuanForCausalLM",
    "XuanYuanForSequenceClassification",
    "XuanYuanModel",
    "__version__",
]
