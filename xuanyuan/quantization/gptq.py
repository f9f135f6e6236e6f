"""GPTQ 4-bit checkpoints through GPTQModel's own API (the maintained GPTQ implementation).

auto-gptq no longer imports under transformers 5 and cannot quantize without CUDA; transformers'
`GPTQConfig` path with its default backend writes a checkpoint that does not reload. GPTQModel
quantizes on CPU or GPU and saves the standard GPTQ layout (`quant_method: gptq`, int32-packed
`qweight`/`qzeros`, `scales`, `g_idx`) that transformers (with optimum + gptqmodel) and vLLM load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from transformers import AutoConfig, LlamaConfig

from ..tokenization import load_tokenizer
from ..utils.extras import require
from ..utils.quiet import quiet_third_party, silenced_stdout
from .shapes import check_linear_shapes, gptq_rule


@dataclass(frozen=True)
class GPTQSettings:
    bits: int = 4
    group_size: int = 128
    sym: bool = True
    desc_act: bool = False
    damp_percent: float = 0.05
    batch_size: int = 1


def register_llama_family(model_path: str) -> None:
    """Let GPTQModel treat a Llama subclass with its own `model_type` (e.g. `xuanyuan`) as Llama.

    GPTQModel picks its layer map by `model_type`; an unknown type falls back to guessing the module
    tree. A config that *is* a `LlamaConfig` has exactly Llama's modules, so map it explicitly.
    """
    from gptqmodel.models import auto
    from gptqmodel.models.definitions.llama import LlamaQModel

    config = AutoConfig.from_pretrained(model_path)
    if config.model_type not in auto.MODEL_MAP and isinstance(config, LlamaConfig):
        auto.MODEL_MAP[config.model_type] = LlamaQModel
        auto.SUPPORTED_MODELS.append(config.model_type)


def _keep_layer_logs_in(folder: Path) -> None:
    """gptqmodel writes its per-module log (loss, time, memory) to `./logs` of the working directory, with no
    option; put it beside the checkpoint it describes."""
    from gptqmodel.looper import loop_processor

    if hasattr(loop_processor, "_PROJECT_LOG_DIR"):
        loop_processor._PROJECT_LOG_DIR = folder


def quantize_gptq(
    model_path: str,
    output_dir: str | Path,
    calibration: list[dict[str, list[int]]],
    settings: GPTQSettings = GPTQSettings(),
) -> Path:
    """Quantize `model_path` with GPTQ on `calibration` examples; save the checkpoint and tokenizer."""
    if settings.bits not in (2, 3, 4, 8):
        raise ValueError(f"GPTQ bits must be 2, 3, 4 or 8, got {settings.bits}.")
    check_linear_shapes(model_path, gptq_rule(settings.group_size))
    os.environ.setdefault("GPTQMODEL_CPU_WORKERS", str(min(os.cpu_count() or 1, 2)))
    gptqmodel = require("gptqmodel")
    quiet_third_party()  # gptqmodel's logger exists only now
    register_llama_family(model_path)
    quantize_config = gptqmodel.QuantizeConfig(
        bits=settings.bits,
        group_size=settings.group_size,
        sym=settings.sym,
        desc_act=settings.desc_act,
        act_group_aware=False,  # keep g_idx the plain group index: the layout every GPTQ loader expects
        damp_percent=settings.damp_percent,
    )
    model = gptqmodel.GPTQModel.load(model_path, quantize_config)
    _keep_layer_logs_in(Path(output_dir) / "gptq_logs")
    model.quantize(calibration, batch_size=settings.batch_size)
    with silenced_stdout():  # gptqmodel 7.6 prints the files it saved and both configs, with no switch
        model.save(str(output_dir))
    load_tokenizer(model_path).save_pretrained(output_dir)
    return Path(output_dir)
