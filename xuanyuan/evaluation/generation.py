"""Answer prompts with a chat model and score the answers against references.

Records (JSONL) are `{messages}` whose last message is the assistant's reference answer (the SFT format;
earlier turns are the prompt), or `{prompt, reference}` with a text prompt; `id` and `category` are optional.
Prompts are rendered with the chat template plus the generation prompt, left-padded and batched; decoding
is greedy by default so scores are reproducible. `complete_chats` (settings in `Sampling`) is the one batched
chat generation: the evaluation here and the synthesis steps' local backend both use it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..data.conversations import check_messages
from ..data.records import RecordError, check_unique_id, iter_records, require_text, resolve_sources
from ..utils.padding import longest_first, pad


@dataclass(frozen=True)
class GenerationExample:
    id: str
    prompt: list[dict]
    reference: str
    category: str | None = None


def load_generation_examples(paths: list[str | Path]) -> list[GenerationExample]:
    """Every record as an example; ids must be unique (eval/compare.py matches two models' answers by id)."""
    examples, seen = [], {}
    for path in resolve_sources(paths):
        for record in iter_records(path):
            data = record.data
            record_id = str(data.get("id", f"{Path(path).name}:{record.line}"))
            check_unique_id(seen, record, record_id)
            if "messages" in data:
                messages = check_messages(record, data["messages"], "messages", last_role="assistant")
                if len(messages) < 2 or messages[-2]["role"] != "user":
                    problem = "expected a user turn before the assistant's reference"
                    raise RecordError(path, record.line, "messages", problem)
                prompt, reference = [dict(m) for m in messages[:-1]], messages[-1]["content"]
            else:
                prompt = [{"role": "user", "content": require_text(record, "prompt")}]
                reference = require_text(record, "reference")
            examples.append(GenerationExample(record_id, prompt, reference, data.get("category")))
    return examples


@dataclass(frozen=True)
class Sampling:
    """Decoding settings. `temperature` 0 is greedy (then `top_p` is unused); `num_samples` replies per prompt."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    num_samples: int = 1
    repetition_penalty: float = 1.0

    def __post_init__(self):
        if self.max_new_tokens < 1 or self.num_samples < 1 or self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"invalid sampling settings {self}")
        if self.temperature == 0 and self.num_samples > 1:  # every backend would return the same reply n times
            raise ValueError(f"greedy decoding (temperature 0) gives one reply; num_samples={self.num_samples} "
                             "needs a temperature above 0")  # fmt: skip

    def generate_kwargs(self) -> dict:
        if self.temperature == 0:
            kwargs = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        else:
            kwargs = {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": None}
        return {**kwargs, "max_new_tokens": self.max_new_tokens, "num_return_sequences": self.num_samples,
                "repetition_penalty": self.repetition_penalty}  # fmt: skip


@dataclass
class Completions:
    texts: list[list[str]]  # per prompt, `num_samples` replies decoded without special tokens
    generated_tokens: int  # tokens generated, up to and including each reply's EOS


@torch.no_grad()
def complete_chats(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[list[dict]],
    sampling: Sampling = Sampling(),
    batch_size: int = 8,
    progress: bool = True,
) -> Completions:
    """The model's replies to every conversation: chat template with the generation prompt, batched longest
    first, left-padded (every prompt ends where generation starts), with the KV cache."""
    model.eval()
    device = next(model.parameters()).device
    encoded = [
        list(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=False))
        for p in prompts
    ]
    texts: list[list[str]] = [[] for _ in encoded]
    generated = 0
    batches = list(longest_first([len(ids) for ids in encoded], batch_size))
    for rows in tqdm(batches, desc="generate", leave=False, disable=not progress):
        input_ids, attention_mask = pad([encoded[i] for i in rows], tokenizer.pad_token_id, side="left")
        width = input_ids.shape[1]
        output = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **sampling.generate_kwargs(),
        )[:, width:].cpu()
        ended = output == tokenizer.eos_token_id
        lengths = torch.where(ended.any(dim=1), ended.int().argmax(dim=1) + 1, output.shape[1])
        generated += int(lengths.sum())
        for row, reply in enumerate(output):  # rows come as num_samples consecutive replies per prompt
            texts[rows[row // sampling.num_samples]].append(tokenizer.decode(reply, skip_special_tokens=True).strip())
    return Completions(texts, generated)


def score_answers(examples: list[GenerationExample], predictions: list[str], tokenizer: str = "jieba") -> dict:
    """Overall and per-category BLEU / ROUGE."""
    from .generation_metrics import generation_metrics  # here: its rouge-score import (nltk, scipy) takes seconds

    report = generation_metrics(predictions, [e.reference for e in examples], tokenizer)
    groups = defaultdict(list)
    for index, example in enumerate(examples):
        if example.category is not None:
            groups[example.category].append(index)
    report["per_category"] = {
        name: generation_metrics([predictions[i] for i in rows], [examples[i].reference for i in rows], tokenizer)
        for name, rows in sorted(groups.items())
    }
    return report


def generation_report_markdown(report: dict, title: str) -> str:
    lines = [
        f"# {title}",
        "",
        "| subset | examples | BLEU | ROUGE-1 | ROUGE-2 | ROUGE-L |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in [("all", report), *report["per_category"].items()]:
        cells = [f"{row['bleu']:.2f}", *(f"{row[k]:.4f}" for k in ("rouge1", "rouge2", "rougeL"))]
        lines.append(f"| {name} | {row['num_examples']} | " + " | ".join(cells) + " |")
    if "ranking" in report:
        ranking = report["ranking"]
        lines += [
            "",
            f"Ranking over {ranking['num_queries']} queries: MRR {ranking['mrr']:.4f}, MAP {ranking['map']:.4f}",
        ]
    return "\n".join(lines) + "\n"
