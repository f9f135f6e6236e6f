"""Model cards and generation configs for released checkpoints.

Every card (SFT, quantized variants) is a `ModelCard` written by `write_model_card`. Trainers call it from
their `create_model_card`, so `Trainer.push_to_hub` uploads the card together with the weights, the
tokenizer (with its chat template) and `generation_config.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from transformers import GenerationConfig, PreTrainedTokenizerBase

# XuanYuan-Chat's published sampling settings (the XuanYuan repository's inference example).
CHAT_SAMPLING = dict(do_sample=True, temperature=0.7, top_p=0.95, repetition_penalty=1.1, max_new_tokens=256)


def chat_generation_config(tokenizer: PreTrainedTokenizerBase, **overrides) -> GenerationConfig:
    """Generation settings for a chat model: stop at the tokenizer's EOS, pad with its pad token."""
    settings = {
        **CHAT_SAMPLING,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        **overrides,
    }
    return GenerationConfig(**settings)


@dataclass
class ModelCard:
    """What a card says: where the model came from, how it was made, and how well it did."""

    model_name: str
    base_model: str | None  # enters the Hub metadata only when it is a Hub id, not a local folder
    stage: str  # e.g. "SFT (full fine-tuning)", "SFT (LoRA adapter)", "4-bit gptq quantization"
    made_with: str = "`recipes/sft.py` (a TRL `SFTTrainer` subclass)"
    command: str | None = None  # the command line that made it
    datasets: list[str] = field(default_factory=list)
    training: dict = field(default_factory=dict)  # settings, shown as a table
    metrics: dict = field(default_factory=dict)
    sections: dict[str, str] = field(default_factory=dict)  # more Markdown sections, title -> body
    install: str | None = None  # what to pip install before loading it
    load_kwargs: str = "trust_remote_code=True"
    example_prompt: str = "什么是市盈率？"
    tags: list[str] = field(default_factory=lambda: ["xuanyuan", "finance", "chinese"])
    language: list[str] = field(default_factory=lambda: ["zh"])
    is_adapter: bool = False


def render_model_card(card: ModelCard, tokenizer: PreTrainedTokenizerBase | None = None) -> str:
    """The card as Markdown with YAML front matter (`base_model`, `tags`, `library_name`, `pipeline_tag`)."""
    front = ["---", f"library_name: {'peft' if card.is_adapter else 'transformers'}", "pipeline_tag: text-generation"]
    if card.base_model and not Path(card.base_model).exists():
        front.append(f"base_model: {card.base_model}")
    front += ["tags:"] + [f"  - {tag}" for tag in card.tags]
    front += ["language:"] + [f"  - {language}" for language in card.language] + ["license: apache-2.0", "---", ""]
    model_class = "AutoPeftModelForCausalLM" if card.is_adapter else "AutoModelForCausalLM"
    body = [
        f"# {card.model_name}",
        "",
        f"{card.stage} of {card.base_model or 'a XuanYuan base model'}, made with xuanyuan-recipes' {card.made_with}.",
        "",
    ]
    if card.command:
        body += ["```bash", card.command, "```", ""]
    for title, text in card.sections.items():
        body += [f"## {title}", "", text.rstrip(), ""]
    body += ["## Use", ""]
    if card.install:
        body += ["```bash", card.install, "```", ""]
    body += [
        "```python",
        *(["from peft import AutoPeftModelForCausalLM"] if card.is_adapter else []),
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f'tokenizer = AutoTokenizer.from_pretrained("{card.model_name}")',
        f'model = {model_class}.from_pretrained("{card.model_name}", {card.load_kwargs})',
        f'messages = [{{"role": "user", "content": "{card.example_prompt}"}}]',
        "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors='pt', "
        "return_dict=True)",
        "output = model.generate(**inputs)  # sampling settings come from generation_config.json",
        "print(tokenizer.decode(output[0, inputs['input_ids'].shape[1]:], skip_special_tokens=True))",
        "```",
        "",
    ]
    if tokenizer is not None and tokenizer.chat_template:
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": card.example_prompt}], tokenize=False, add_generation_prompt=True
        )
        body += ["The chat template renders that conversation as:", "", "```", rendered, "```", ""]
    if card.datasets:
        body += ["## Training data", ""] + [f"- `{name}`" for name in card.datasets] + [""]
    if card.training:
        body += ["## Training", "", "| setting | value |", "|---|---|"]
        body += [f"| {key} | {_cell(value)} |" for key, value in card.training.items()] + [""]
    if card.metrics:
        body += ["## Results", "", "| metric | value |", "|---|---|"]
        body += [f"| {key} | {_cell(value)} |" for key, value in sorted(_flatten(card.metrics).items())] + [""]
    return "\n".join(front + body)


def write_model_card(folder: str | Path, card: ModelCard, tokenizer: PreTrainedTokenizerBase | None = None) -> Path:
    path = Path(folder, "README.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_model_card(card, tokenizer), encoding="utf-8")
    return path


def _flatten(metrics: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float, str, bool)):
            flat[f"{prefix}{key}"] = value
    return flat


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)
