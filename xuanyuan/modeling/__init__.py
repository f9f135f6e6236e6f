"""XuanYuan model classes, registered with the transformers Auto classes on import."""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification

from .configuration_xuanyuan import PRESETS, XUANYUAN_AUTO_MAP, XuanYuanConfig
from .modeling_xuanyuan import (
    XuanYuanForCausalLM,
    XuanYuanForSequenceClassification,
    XuanYuanModel,
    XuanYuanPreTrainedModel,
    XuanYuanSequenceClassifierOutput,
)

AutoConfig.register(XuanYuanConfig.model_type, XuanYuanConfig, exist_ok=True)
for _auto, _model in (
    (AutoModel, XuanYuanModel),
    (AutoModelForCausalLM, XuanYuanForCausalLM),
    (AutoModelForSequenceClassification, XuanYuanForSequenceClassification),
):
    _auto.register(XuanYuanConfig, _model, exist_ok=True)
    # `save_pretrained` then writes the modeling files beside the weights.
    _model.register_for_auto_class(_auto.__name__)
XuanYuanConfig.register_for_auto_class()

__all__ = [
    "PRESETS",
    "XUANYUAN_AUTO_MAP",
    "XuanYuanConfig",
    "XuanYuanForCausalLM",
    "XuanYuanForSequenceClassification",
    "XuanYuanModel",
    "XuanYuanPreTrainedModel",
    "XuanYuanSequenceClassifierOutput",
]
