"""Load a model to talk to: a full checkpoint, a LoRA adapter folder, or a bitsandbytes / GPTQ variant.

`load_chat_model` is what every front end that answers people (terminal, web page, HTTP server) calls.
- A folder with `adapter_config.json` is a LoRA adapter: merged into its base (`merge_adapter`, the owner
  of merging) so replies cost no adapter overhead.
- A checkpoint whose config carries a `quantization_config` (quantize/bnb.py, quantize/gptq.py) loads as
  saved, on `device`; its optional backend is checked first so that a missing one names its extra.
- Anything else loads in `dtype`; `auto` means what `bf16: auto` means for training
  (`xuanyuan.utils.precision`): bf16 where the hardware runs it natively, else fp16 on CUDA, else fp32.
A tokenizer without a chat template gets XuanYuan's, the format the XuanYuan-Chat models were trained on.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from ..chat_format import XUANYUAN_CHAT_TEMPLATE
from ..quantization.bnb import default_device
from ..tokenization import load_tokenizer
from ..utils.extras import require
from ..utils.precision import AUTO, detect_machine, resolve_precision
from ..utils.quiet import quiet_third_party, silenced_stdout

logger = logging.getLogger(__name__)

DTYPES = (AUTO, "float32", "bfloat16", "float16")
# quant_method in a checkpoint's quantization_config -> the optional packages that load it
QUANTIZATION_BACKENDS = {"bitsandbytes": ("bitsandbytes",), "gptq": ("gptqmodel", "optimum")}


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """`dtype` as a torch dtype; `auto` picks bf16, fp16 or fp32 for `device` (see the module docstring)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if dtype != AUTO:
        return getattr(torch, dtype)
    choice = resolve_precision(AUTO, AUTO, detect_machine(use_cpu=not device.startswith("cuda")))
    return torch.bfloat16 if choice.bf16 else torch.float16 if choice.fp16 else torch.float32


def is_adapter(path: str | Path) -> bool:
    return Path(path, "adapter_config.json").is_file()


def quantization_method(path: str | Path) -> str | None:
    """The checkpoint's `quant_method` (`bitsandbytes`, `gptq`, ...), or None for an unquantized one."""
    config = getattr(AutoConfig.from_pretrained(str(path)), "quantization_config", None)  # as saved: a dict
    return config["quant_method"] if config else None


def load_chat_model(
    path: str | Path, device: str | None = None, dtype: str = AUTO, base_model: str | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The model at `path` (folder or Hub id) in eval mode on `device` (default: CUDA when there is one), and
    its tokenizer. `base_model` overrides the base an adapter folder names."""
    path, device = str(path), device or default_device()
    if is_adapter(path):
        from peft import PeftConfig

        from ..training.adapters import merge_adapter

        base = base_model or PeftConfig.from_pretrained(path).base_model_name_or_path
        model = merge_adapter(path, base_model=base, dtype=resolve_dtype(dtype, device)).to(device)
        tokenizer = load_tokenizer(path if Path(path, "tokenizer_config.json").is_file() else base)
    elif method := quantization_method(path):
        with silenced_stdout():  # gptqmodel prints a banner and its kernel choice to stdout, the replies' stream
            for package in QUANTIZATION_BACKENDS.get(method, ()):
                require(package)
            quiet_third_party()  # again: gptqmodel's logger exists only once it is imported
            model = AutoModelForCausalLM.from_pretrained(path, device_map=device)
        tokenizer = load_tokenizer(path)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=resolve_dtype(dtype, device)).to(device)
        tokenizer = load_tokenizer(path)
    if not tokenizer.chat_template:
        logger.warning("%s: the tokenizer has no chat template; using XuanYuan's", path)
        tokenizer.chat_template = XUANYUAN_CHAT_TEMPLATE
    return model.eval(), tokenizer
