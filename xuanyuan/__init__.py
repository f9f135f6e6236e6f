"""xuanyuan-recipes: the XuanYuan finance-LLM training pipeline on the Hugging Face stack.

Importing the package registers the XuanYuan model classes with transformers' Auto classes: at once when
transformers is already imported, otherwise as soon as it is, so tools that never load a model (the pipeline
runner, report scripts) do not pay seconds for torch and transformers. It first quiets third-party noise
(`xuanyuan.utils.quiet`, off with `XUANYUAN_VERBOSE=1`): some of it is printed while transformers imports.
"""

import importlib

from .utils.post_import import call_after_import
from .utils.quiet import quiet_third_party

quiet_third_party()


def _register_model_classes() -> None:
    importlib.import_module(".modeling", __name__)  # registers on import


call_after_import("transformers", _register_model_classes)

__version__ = "0.1.0"

_MODELING = ("PRESETS", "XuanYuanConfig", "XuanYuanForCausalLM", "XuanYuanForSequenceClassification", "XuanYuanModel")
__all__ = [*_MODELING, "__version__"]


def __getattr__(name: str):
    if name in _MODELING:
        return getattr(importlib.import_module(".modeling", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
