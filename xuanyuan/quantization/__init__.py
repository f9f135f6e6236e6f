"""Quantized checkpoints: bitsandbytes 8/4-bit and GPTQ 4-bit, with a quality report and model card."""

from .agreement import logit_agreement
from .bnb import bnb_config, quantize_bnb
from .calibration import load_calibration
from .finish import HubSettings, finish_checkpoint
from .gptq import GPTQSettings, quantize_gptq
from .report import ReportSettings, quality_report, weights_bytes, write_report
from .shapes import QuantizationShapeError, ShapeRule, bnb_rule, check_linear_shapes, gptq_rule

__all__ = [
    "GPTQSettings",
    "HubSettings",
    "QuantizationShapeError",
    "ReportSettings",
    "ShapeRule",
    "bnb_config",
    "bnb_rule",
    "check_linear_shapes",
    "finish_checkpoint",
    "gptq_rule",
    "load_calibration",
    "logit_agreement",
    "quality_report",
    "quantize_bnb",
    "quantize_gptq",
    "weights_bytes",
    "write_report",
]
