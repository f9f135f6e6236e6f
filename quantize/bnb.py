"""Quantize a causal LM with bitsandbytes (8-bit LLM.int8, or 4-bit NF4/FP4) and report its quality.

python quantize/bnb.py --model outputs/tiny/sft --bits 4 --output_dir outputs/tiny/sft-4bit \
    --eval_data_files outputs/tiny/data/pretrain/heldout.jsonl --exam_dir outputs/tiny/data/exam
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used, so that `--help` answers without loading the quantization stack
    from xuanyuan.quantization import HubSettings, ReportSettings


@dataclass
class BnbQuantizeConfig:
    model: str = field(metadata={"help": "Model folder or Hub id to quantize."})
    output_dir: str = field(metadata={"help": "Where the quantized checkpoint, report and card are written."})
    bits: int = field(default=4, metadata={"help": "8 (LLM.int8) or 4 (NF4/FP4)."})
    quant_type: str = field(default="nf4", metadata={"help": "4-bit data type: nf4 or fp4."})
    double_quant: bool = field(default=False, metadata={"help": "4-bit: also quantize the scales."})
    compute_dtype: str = field(default="bfloat16", metadata={"help": "dtype of compute and unquantized weights."})


def main(config: BnbQuantizeConfig, report: ReportSettings, hub: HubSettings) -> dict:
    from xuanyuan.quantization import finish_checkpoint, quantize_bnb

    output_dir = Path(config.output_dir)
    quantize_bnb(config.model, output_dir, config.bits, config.quant_type, config.double_quant, config.compute_dtype)
    method = {"library": "bitsandbytes", "bits": config.bits, "compute_dtype": config.compute_dtype}
    if config.bits == 4:
        method.update(quant_type=config.quant_type, double_quant=config.double_quant)
    return finish_checkpoint(config, method, report, hub)


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    library = ["xuanyuan.quantization:ReportSettings", "xuanyuan.quantization:HubSettings"]
    main(*parse_recipe_args([BnbQuantizeConfig], library))
