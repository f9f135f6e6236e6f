"""Quantize a causal LM to GPTQ (standard checkpoint format, via GPTQModel) and report its quality.

python quantize/gptq.py --model outputs/tiny/sft --bits 4 --group_size 128 \
    --calibration outputs/tiny/data/sft/train.jsonl --output_dir outputs/tiny/sft-gptq-4bit \
    --eval_data_files outputs/tiny/data/pretrain/heldout.jsonl --exam_dir outputs/tiny/data/exam

Needs the `gptq` extra (gptqmodel, optimum). `--calibration` holds `text` or `messages` records: a file, a
glob, a URL or a Hub dataset `name[:config]:split`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used, so that `--help` answers without loading the quantization stack
    from xuanyuan.quantization import HubSettings, ReportSettings


@dataclass
class GPTQQuantizeConfig:
    model: str = field(metadata={"help": "Model folder or Hub id to quantize."})
    output_dir: str = field(metadata={"help": "Where the quantized checkpoint, report and card are written."})
    calibration: str = field(
        metadata={"help": "Calibration records (`text` or `messages`): file, glob, URL or Hub `name[:config]:split`."}
    )
    bits: int = field(default=4, metadata={"help": "Weight bits (4 is the standard)."})
    group_size: int = field(default=128, metadata={"help": "Input features sharing one scale (-1: per row)."})
    sym: bool = field(default=True, metadata={"help": "Symmetric quantization."})
    desc_act: bool = field(default=False, metadata={"help": "Quantize columns by decreasing activation."})
    damp_percent: float = field(default=0.05, metadata={"help": "Hessian dampening, fraction of its mean diagonal."})
    num_calibration_samples: int = field(default=128, metadata={"help": "Calibration examples to use."})
    calibration_max_length: int = field(default=512, metadata={"help": "Tokens per calibration example."})


def main(config: GPTQQuantizeConfig, report: ReportSettings, hub: HubSettings) -> dict:
    from xuanyuan.quantization import GPTQSettings, finish_checkpoint, load_calibration, quantize_gptq
    from xuanyuan.tokenization import load_tokenizer

    output_dir = Path(config.output_dir)
    calibration = load_calibration(
        config.calibration,
        load_tokenizer(config.model),
        num_samples=config.num_calibration_samples,
        max_length=config.calibration_max_length,
    )
    settings = GPTQSettings(config.bits, config.group_size, config.sym, config.desc_act, config.damp_percent)
    quantize_gptq(config.model, output_dir, calibration, settings)
    method = {
        "library": "gptq",
        "implementation": "gptqmodel",
        **asdict(settings),
        "calibration": config.calibration,
        "num_calibration_samples": len(calibration),
        "calibration_max_length": config.calibration_max_length,
    }
    return finish_checkpoint(config, method, report, hub)


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    library = ["xuanyuan.quantization:ReportSettings", "xuanyuan.quantization:HubSettings"]
    main(*parse_recipe_args([GPTQQuantizeConfig], library))
