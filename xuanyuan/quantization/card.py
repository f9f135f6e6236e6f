"""The model card of a quantized checkpoint (how it was made, how good it is) and pushing it to the Hub."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .report import report_markdown

LOADING = {
    "bitsandbytes": "pip install 'bitsandbytes==0.50.2'",
    "gptq": "pip install 'gptqmodel==7.6.0' optimum",
}


def model_card(report: dict, base_model: str, command: str) -> str:
    """README.md text: Hub metadata, the recipe that made the checkpoint, its quality report, how to load it.

    `base_model` enters the Hub metadata only when it is a Hub id (not a local folder).
    """
    method = report["method"]
    backend = method["library"]
    metadata = {
        **({} if Path(base_model).exists() else {"base_model": base_model}),  # the Hub wants a repo id here
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["xuanyuan", "finance", "quantized", backend, f"{method['bits']}-bit"],
        "language": ["zh"],
    }
    settings = "\n".join(f"- `{key}`: `{value}`" for key, value in method.items())
    return (
        f"---\n{yaml.safe_dump(metadata, allow_unicode=True, sort_keys=False)}---\n\n"
        f"# {Path(report['quantized']['path']).name}: {method['bits']}-bit {backend} quantization of {base_model}\n\n"
        f"Made with xuanyuan-recipes:\n\n```bash\n{command}\n```\n\nSettings:\n\n{settings}\n\n"
        f"## Quality against the original\n\n{report_markdown(report)}\n"
        "Perplexity is per token on held-out documents (non-overlapping windows); KL and relative L2 compare "
        "next-token logits on fixed finance prompts; sizes count the weight files only.\n\n"
        f"## Use\n\n```bash\n{LOADING[backend]}\n```\n\n```python\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f'model = AutoModelForCausalLM.from_pretrained("<this repo>", device_map="auto", trust_remote_code=True)\n'
        'tokenizer = AutoTokenizer.from_pretrained("<this repo>")\n```\n\n'
        f"<details><summary>quantization_config</summary>\n\n```json\n"
        f"{json.dumps(report['quantized']['quantization_config'], indent=2, default=str)}\n```\n</details>\n"
    )


def write_model_card(output_dir: str | Path, report: dict, base_model: str, command: str) -> Path:
    path = Path(output_dir, "README.md")
    path.write_text(model_card(report, base_model, command), encoding="utf-8")
    return path


def push_folder(output_dir: str | Path, repo_id: str, private: bool = False) -> str:
    """Upload the checkpoint folder (weights, tokenizer, card, reports) to the Hub; returns the repo URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    url = api.create_repo(repo_id, private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=str(output_dir), commit_message="Upload quantized checkpoint")
    return str(url)
