"""Model cards, generation configs and pushing to the Hub: the one renderer of every card in the project.

Every card (each trainer's output, the quantized variants, the release of a whole run) is a `ModelCard` written
by `write_model_card`. Recipes write theirs when they save (`xuanyuan.model_cards` says what each recipe's model
is); `recipes/release.py` renders richer ones from a finished run and pushes with `push_folder`, which uploads a
folder as it is with `huggingface_hub` (the token comes from `HF_TOKEN` or a stored login, never from here).
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


# What every card says about use: the run's card adds its own notes (e.g. that the tiny model's data is synthetic).
LIMITATIONS = (
    "Made to show and test a training recipe for Chinese finance text. Nothing it writes is financial, investment, "
    "tax or legal advice: do not base decisions on it.",
    "It states wrong facts, figures, dates and calculations as fluently as right ones; check every number against a "
    "primary source.",
    "It knows nothing after its training data and cannot look anything up.",
    "It was not red-teamed, and what safety training it had is limited to this run's preference data: it can write "
    "harmful, biased or inappropriate text. Filter its output before anyone relies on it.",
)
SMALL_MODEL_PARAMETERS = 100_000_000  # below this a card says the model is a demonstration, too small to rely on
PIPELINE_TAGS = {"chat": "text-generation", "completion": "text-generation", "reward": "text-classification"}
EXAMPLE_ANSWER = "市盈率是股价除以每股收益，衡量投资者为一元盈利支付的价格。"


@dataclass
class ModelCard:
    """What a card says: what the model is, where it came from, how it was made, how well it did, what not to use
    it for."""

    model_name: str
    base_model: str | list[str] | None  # enters the Hub metadata only when it is a Hub id, not a local folder
    stage: str  # e.g. "SFT (full fine-tuning)", "SFT (LoRA adapter)", "4-bit gptq quantization"
    made_with: str = "`recipes/sft.py` (a TRL `SFTTrainer` subclass)"
    summary: str = ""  # what the model is and is for, in a sentence or two
    task: str = "chat"  # how to use it: "chat", "completion" (a base model) or "reward" (a sequence classifier)
    parameters: int | None = None
    command: str | None = None  # the command line that made it
    datasets: list[str] = field(default_factory=list)
    data_notes: dict[str, str] = field(default_factory=dict)  # dataset -> e.g. "2,000 records, 1.2 MB"
    training: dict = field(default_factory=dict)  # settings, shown as a table
    metrics: dict = field(default_factory=dict)  # shown in the given order, nested keys dotted
    evaluations: dict[str, dict] = field(default_factory=dict)  # title (Markdown) -> {measure: value}
    sections: dict[str, str] = field(default_factory=dict)  # more Markdown sections, title -> body
    notes: str = ""  # said first under "Intended use and limits"
    limitations: list[str] = field(default_factory=lambda: list(LIMITATIONS))
    install: str | None = None  # what to pip install before loading it
    load_kwargs: str = "trust_remote_code=True"
    example_prompt: str = "什么是市盈率？"
    tags: list[str] = field(default_factory=lambda: ["xuanyuan", "finance", "chinese"])
    language: list[str] = field(default_factory=lambda: ["zh"])
    is_adapter: bool = False


def render_model_card(card: ModelCard, tokenizer: PreTrainedTokenizerBase | None = None) -> str:
    """The card as Markdown with YAML front matter (`base_model`, `tags`, `library_name`, `pipeline_tag`)."""
    bases = [card.base_model] if isinstance(card.base_model, str) else list(card.base_model or [])
    hub_bases = [base for base in bases if not Path(base).exists()]
    front = ["---", f"library_name: {'peft' if card.is_adapter else 'transformers'}"]
    front.append(f"pipeline_tag: {PIPELINE_TAGS[card.task]}")
    if len(hub_bases) == 1:
        front.append(f"base_model: {hub_bases[0]}")
    elif hub_bases:
        front += ["base_model:"] + [f"  - {base}" for base in hub_bases]
    front += ["tags:"] + [f"  - {tag}" for tag in card.tags]
    front += ["language:"] + [f"  - {language}" for language in card.language] + ["license: apache-2.0", "---", ""]
    origin = " and ".join(bases) or "a XuanYuan base model"
    body = [f"# {card.model_name}", "", f"{card.stage} of {origin}, made with xuanyuan-recipes' {card.made_with}.", ""]
    if card.summary or card.parameters:
        size = f"{card.parameters:,} parameters." if card.parameters else ""
        body += [" ".join(part for part in (card.summary, size) if part), ""]
    if card.command:
        body += ["```bash", card.command, "```", ""]
    for title, text in card.sections.items():
        body += [f"## {title}", "", text.rstrip(), ""]
    body += ["## Use", ""]
    if card.install:
        body += ["```bash", card.install, "```", ""]
    body += ["```python", *_usage(card), "```", ""]
    if card.task == "chat" and tokenizer is not None and tokenizer.chat_template:
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": card.example_prompt}], tokenize=False, add_generation_prompt=True
        )
        body += ["The chat template renders that conversation as:", "", "```", rendered, "```", ""]
    if card.datasets:
        notes = {name: f" ({note})" if note else "" for name, note in card.data_notes.items()}
        body += ["## Training data", ""] + [f"- `{name}`{notes.get(name, '')}" for name in card.datasets] + [""]
    if card.training:
        body += ["## Training", "", "| setting | value |", "|---|---|"]
        body += [f"| {key} | {_cell(value)} |" for key, value in card.training.items()] + [""]
    if card.metrics:
        body += ["## Results", "", "| metric | value |", "|---|---|"]
        body += [f"| {key} | {_cell(value)} |" for key, value in _flatten(card.metrics).items()] + [""]
    if card.evaluations:
        body += ["## Evaluation", ""]
        for title, values in card.evaluations.items():
            body += [title, "", "| measure | value |", "|---|---|"]
            body += [f"| {key} | {_cell(value)} |" for key, value in _flatten(values).items()] + [""]
    limits = list(card.limitations)
    if card.parameters and card.parameters < SMALL_MODEL_PARAMETERS:
        limits.insert(0, f"With {card.parameters / 1e6:,.1f} M parameters it is a demonstration model, far too small "
                      "to answer reliably: expect most answers to be wrong.")  # fmt: skip
    body += ["## Intended use and limits", ""] + ([card.notes.strip(), ""] if card.notes else [])
    body += [f"- {line}" for line in limits] + [""]
    return "\n".join(front + body)


def _usage(card: ModelCard) -> list[str]:
    """The Python lines of the card's "Use" example: chat, continue text, or score a conversation."""
    name = card.model_name
    # AutoTokenizer reads config.json first (transformers 5.23): without trust_remote_code it asks on the terminal
    tokenizer = f'tokenizer = AutoTokenizer.from_pretrained("{name}", trust_remote_code=True)'
    if card.task == "reward":
        messages = [{"role": "user", "content": card.example_prompt}, {"role": "assistant", "content": EXAMPLE_ANSWER}]
        return [
            "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
            "",
            tokenizer,
            f'model = AutoModelForSequenceClassification.from_pretrained("{name}", {card.load_kwargs})',
            f"messages = {json.dumps(messages, ensure_ascii=False)}",
            "inputs = tokenizer.apply_chat_template(messages, return_tensors='pt', return_dict=True)",
            "print(model(**inputs).logits[0, 0].item())  # the reward: higher means a better answer",
        ]
    model_class = "AutoPeftModelForCausalLM" if card.is_adapter else "AutoModelForCausalLM"
    lines = [
        *(["from peft import AutoPeftModelForCausalLM"] if card.is_adapter else []),
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        tokenizer,
        f'model = {model_class}.from_pretrained("{name}", {card.load_kwargs})',
    ]
    if card.task == "completion":
        return lines + [
            'inputs = tokenizer("市盈率是", return_tensors="pt")  # a base model continues text; it does not chat',
            "output = model.generate(**inputs, max_new_tokens=64)",
            "print(tokenizer.decode(output[0], skip_special_tokens=True))",
        ]
    return lines + [
        f'messages = [{{"role": "user", "content": "{card.example_prompt}"}}]',
        "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors='pt', "
        "return_dict=True)",
        "output = model.generate(**inputs)  # sampling settings come from generation_config.json",
        "print(tokenizer.decode(output[0, inputs['input_ids'].shape[1]:], skip_special_tokens=True))",
    ]


def write_model_card(folder: str | Path, card: ModelCard, tokenizer: PreTrainedTokenizerBase | None = None) -> Path:
    path = Path(folder, "README.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_model_card(card, tokenizer), encoding="utf-8")
    return path


def push_folder(folder: str | Path, repo_id: str, private: bool = False, message: str = "Upload model") -> str:
    """Create `repo_id` if needed (private or public) and upload `folder` as it is; returns the repo URL.
    `huggingface_hub` finds the token (`HF_TOKEN` or `hf auth login`) and the endpoint (`HF_ENDPOINT`) itself."""
    from huggingface_hub import HfApi

    api = HfApi()
    url = api.create_repo(repo_id, private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message=message)
    return str(url)


def _flatten(metrics: dict, prefix: str = "") -> dict:
    """Nested values as dotted keys, in order; lists of records by index (`rounds.0.kept`), lists of values kept."""
    flat = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            flat.update(_flatten({str(index): item for index, item in enumerate(value)}, f"{prefix}{key}."))
        elif isinstance(value, (int, float, str, bool, list)):
            flat[f"{prefix}{key}"] = value
    return flat


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)
    return text.replace("|", "\\|")
