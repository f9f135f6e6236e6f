"""xuanyuan-recipes: the XuanYuan finance-LLM training pipeline on the Hugging Face stack.

Importing the package registers the XuanYuan model classes with transformers' Auto classes. It first quiets
third-party noise (`xuanyuan.utils.quiet`, off with `XUANYUAN_VERBOSE=1`): some of it is printed while
transformers imports.
"""

from .utils.quiet import quiet_third_party

quiet_third_party()

from .modeling import (  # noqa: E402  (after quieting: transformers' import logs torchao's messages)
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
