"""Optional heavy dependencies (DeepSpeed, quantization backends, Liger kernels, vLLM) and the message when one is
missing."""

from __future__ import annotations

import importlib
from types import ModuleType

# import name -> (pyproject extra, what it is for)
OPTIONAL_PACKAGES: dict[str, tuple[str, str]] = {
    "deepspeed": ("deepspeed", "DeepSpeed ZeRO training"),
    "bitsandbytes": ("bnb", "8-bit and 4-bit bitsandbytes quantization and QLoRA"),
    "gptqmodel": ("gptq", "GPTQ 4-bit quantization"),
    "optimum": ("gptq", "loading GPTQ checkpoints through transformers"),
    "vllm": ("vllm", "fast generation with vLLM"),
    "liger_kernel": ("liger", "Liger's Triton kernels (use_liger_kernel)"),
    "kenlm": ("kenlm", "KenLM perplexity scoring in the data pipeline's perplexity filter"),
    "fasttext": ("fasttext", "the fastText safety classifier of the data pipeline"),
    "ray": ("ray", "running the data pipeline on Ray (executor: ray)"),
    "fastapi": ("serve", "the OpenAI-compatible server (python -m xuanyuan.serve)"),
    "uvicorn": ("serve", "the OpenAI-compatible server (python -m xuanyuan.serve)"),
    "gradio": ("web", "the web chat page (python -m xuanyuan.chat MODEL --web)"),
}


class MissingExtraError(ImportError):
    pass


def require(module: str) -> ModuleType:
    """Import an optional package, or raise `MissingExtraError` saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        extra, purpose = OPTIONAL_PACKAGES.get(module, (None, None))
        hint = f"pip install 'xuanyuan-recipes[{extra}]'" if extra else f"pip install {module}"
        message = f"{module} is needed for {purpose or 'this feature'} but is not installed: {hint}"
        raise MissingExtraError(message) from error
