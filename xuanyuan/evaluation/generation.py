"""Answer prompts with a chat model and score the answers against references.

Records (JSONL) are `{messages}` whose last message is the assistant's reference answer (the SFT format;
earlier turns are the prompt), or `{prompt, reference}` with a text prompt; `id` and `category` are optional.
Prompts are rendered with the chat template plus the generation prompt, left-padded and batched; decoding
is greedy by default so scores are reproducible.
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
from .generation_metrics import generation_metrics


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


@torch.no_grad()
def generate_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[list[dict]],
    max_new_tokens: int = 128,
    batch_size: int = 8,
    do_sample: bool = False,
) -> list[str]:
    """The model's reply to every conversation, decoded without special tokens."""
    model.eval()
    device = next(model.parameters()).device
    encoded = [
        list(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=False))
        for p in prompts
    ]
    answers = [""] * len(encoded)
    sampling = {"do_sample": True} if do_sample else {"do_sample": False, "temperature": None, "top_p": None}
    batches = list(longest_first([len(ids) for ids in encoded], batch_size))
    for rows in tqdm(batches, desc="generate", leave=False):
        # left padding: every prompt ends where generation starts
        input_ids, attention_mask = pad([encoded[i] for i in rows], tokenizer.pad_token_id, side="left")
        width = input_ids.shape[1]
        output = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **sampling,
        )
        for row, index in enumerate(rows):
            answers[index] = tokenizer.decode(output[row, width:], skip_special_tokens=True).strip()
    return answers


def score_answers(examples: list[GenerationExample], predictions: list[str], tokenizer: str = "jieba") -> dict:
    """Overall and per-category BLEU / ROUGE."""
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
