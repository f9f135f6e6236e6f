"""The model card of a quantized checkpoint: how it was made, how good it is, how to load it."""

from __future__ import annotations

import json
from pathlib import Path

from ..hub import ModelCard
from .report import report_markdown

LOADING = {
    "bitsandbytes": "pip install 'bitsandbytes==0.50.2'",
    "gptq": "pip install 'gptqmodel==7.6.0' optimum",
}


def quantized_model_card(report: dict, base_model: str, command: str, model_name: str | None = None) -> ModelCard:
    """The card of a quantized checkpoint (`model_name`: its Hub id; default the folder's name): the recipe
    that made it, its quality report, how to load it."""
    method = report["method"]
    backend = method["library"]
    config = json.dumps(report["quantized"]["quantization_config"], indent=2, default=str)
    quality = (
        f"{report_markdown(report)}\n"
        "Perplexity is per token on held-out documents (non-overlapping windows); KL and relative L2 compare "
        "next-token logits on fixed finance prompts; sizes count the weight files only."
    )
    return ModelCard(
        model_name=model_name or Path(report["quantized"]["path"]).name,
        base_model=base_model,
        stage=f"{method['bits']}-bit {backend} quantization",
        made_with=f"`quantize/{'gptq' if backend == 'gptq' else 'bnb'}.py`",
        command=command,
        sections={
            "Settings": "\n".join(f"- `{key}`: `{value}`" for key, value in method.items()),
            "Quality against the original": quality,
            "quantization_config": f"```json\n{config}\n```",
        },
        install=LOADING[backend],
        load_kwargs='device_map="auto", trust_remote_code=True',
        tags=["xuanyuan", "finance", "quantized", backend, f"{method['bits']}-bit"],
    )
