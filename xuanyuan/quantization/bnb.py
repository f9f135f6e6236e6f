"""bitsandbytes 8-bit (LLM.int8) and 4-bit (NF4 / FP4, optional double quantization) checkpoints.

transformers quantizes while loading; the model is saved straight away, before any forward pass:
on CPUs with AVX512-BF16 a 4-bit forward repacks the weights in place and the scales saved after it
are wrong (verified with bitsandbytes 0.50.2). Evaluate the reloaded checkpoint, never the in-memory one.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

from ..tokenization import load_tokenizer
from ..utils.extras import require
from .shapes import bnb_rule, check_linear_shapes

QUANT_TYPES = ("nf4", "fp4")


def bnb_config(
    bits: int,
    quant_type: str = "nf4",
    double_quant: bool = False,
    compute_dtype: str = "bfloat16",
    skip_modules: tuple[str, ...] = ("lm_head",),
) -> BitsAndBytesConfig:
    """The `BitsAndBytesConfig` for `bits` = 8 or 4 (`quant_type` and `double_quant` apply to 4-bit)."""
    if bits not in (4, 8):
        raise ValueError(f"bitsandbytes quantizes to 8 or 4 bits, got {bits}.")
    if quant_type not in QUANT_TYPES:
        raise ValueError(f"quant_type must be one of {QUANT_TYPES}, got {quant_type!r}.")
    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=list(skip_modules))
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant_type,
        bnb_4bit_use_double_quant=double_quant,
        bnb_4bit_compute_dtype=getattr(torch, compute_dtype),
        llm_int8_skip_modules=list(skip_modules),
    )


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def quantize_bnb(
    model_path: str,
    output_dir: str | Path,
    bits: int,
    quant_type: str = "nf4",
    double_quant: bool = False,
    compute_dtype: str = "bfloat16",
    skip_modules: tuple[str, ...] = ("lm_head",),
) -> Path:
    """Quantize `model_path` with bitsandbytes and save it (with its tokenizer) to `output_dir`.

    Unquantized parts (embeddings, norms, `skip_modules`) are stored in `compute_dtype`.
    """
    require("bitsandbytes")
    check_linear_shapes(model_path, bnb_rule(bits), skip_modules)
    config = bnb_config(bits, quant_type, double_quant, compute_dtype, skip_modules)
    model = AutoModelForCausalLM.from_pretrained(
        model_path, quantization_config=config, dtype=getattr(torch, compute_dtype), device_map=default_device()
    )
    model.save_pretrained(output_dir)  # before any forward pass: see the module docstring
    load_tokenizer(model_path).save_pretrained(output_dir)
    return Path(output_dir)
