"""PPO inputs: RL prompts (mixed by source at a configured ratio) and pretraining text for the ptx term.

Prompt records are `{"prompt": str}` or `{"messages": [...]}` (ending with a user turn), with an
optional `source` (the report mixes prompts taken from the preference data with new ones, 1:1) and
`category` (the finance sub-domain, used by the prompt filter and PEI). Prompt files are checked before any
model loads: bad records stop the run (or, with `on_bad_record="skip"`, are written aside), and too few usable
prompts is an error naming the files.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from xuanyuan.data.records import (
    Record,
    RecordError,
    check_unique_id,
    iter_jsonl,
    reject_row,
    require_text,
    skips_bad_records,
    write_rejects,
)


@dataclass(frozen=True)
class PromptRecord:
    id: str
    messages: list[dict]
    source: str
    category: str


def prompt_messages(record: Record) -> list[dict]:
    """The conversation to continue: `messages` as given (last turn from the user) or one user turn."""
    if "messages" in record.data:
        messages = record.data["messages"]
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise RecordError(record.path, record.line, "messages", "expected a non-empty list of turns")
        if messages[-1].get("role") != "user":
            raise RecordError(record.path, record.line, "messages", "the last turn must be the user's")
        return messages
    return [{"role": "user", "content": require_text(record, "prompt")}]


def load_prompts(
    paths: list[str], on_bad_record: str = "error", rejected_path: str | Path | None = None, unique_ids: bool = False
) -> list[PromptRecord]:
    """Every valid prompt record; `unique_ids` for callers that key prompts by id (a repeat is an error)."""
    skip = skips_bad_records(on_bad_record)
    prompts, rejected, seen = [], [], {}
    for path in paths:
        for record in iter_jsonl(path, rejected if skip else None):
            try:
                prompt = PromptRecord(
                    id=str(record.data.get("id", f"{path}:{record.line}")),
                    messages=prompt_messages(record),
                    source=str(record.data.get("source", "new")),
                    category=str(record.data.get("category", "general")),
                )
                if unique_ids:
                    check_unique_id(seen, record, prompt.id)
            except RecordError as error:
                if not skip:
                    raise
                rejected.append(reject_row(error, record.data))
                continue
            prompts.append(prompt)
    if skip and rejected_path is not None:
        write_rejects(rejected_path, rejected)
    return prompts


def require_prompts(prompts: list, paths: list[str], needed: int, purpose: str) -> None:
    """Raise `ValueError` naming the prompt files when fewer than `needed` prompts are usable for `purpose`."""
    if len(prompts) < needed:
        files = ", ".join(map(str, paths))
        raise ValueError(f"{files}: {len(prompts)} usable prompt(s); {purpose} needs at least {needed}")


def mix_by_source(prompts: list[PromptRecord], new_share: float, seed: int) -> list[PromptRecord]:
    """Keep every prompt of the scarcer side and subsample the other so that prompts whose `source`
    is not "preference" make up `new_share` of the result (the report: 0.5). Deterministic.
    A negative `new_share` keeps the prompts as given (for a set already drawn to a mix)."""
    if new_share < 0:
        return prompts
    if new_share > 1.0:
        raise ValueError(f"new_share must be at most 1, got {new_share}")
    preference = [p for p in prompts if p.source == "preference"]
    new = [p for p in prompts if p.source != "preference"]
    if new_share in (0.0, 1.0) or not preference or not new:
        return new if new_share == 1.0 else preference if new_share == 0.0 else prompts
    total = min(len(new) / new_share, len(preference) / (1.0 - new_share))
    rng = random.Random(seed)
    keep_new = sorted(rng.sample(range(len(new)), round(total * new_share)))
    keep_preference = sorted(rng.sample(range(len(preference)), round(total * (1.0 - new_share))))
    return [preference[i] for i in keep_preference] + [new[i] for i in keep_new]


def tokenize_prompts(
    prompts: list[PromptRecord], tokenizer, system_prompt: str | None, max_length: int
) -> tuple[list[list[int]], int]:
    """Chat-template token ids ending with the assistant cue; prompts longer than `max_length` are
    left out and counted (second value), never cut mid-question."""
    encoded, too_long = [], 0
    for prompt in prompts:
        messages = prompt.messages
        if system_prompt and messages[0].get("role") != "system":
            messages = [{"role": "system", "content": system_prompt}, *messages]
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
        if len(ids) > max_length:
            too_long += 1
        else:
            encoded.append(list(ids))
    return encoded, too_long


def load_ptx_texts(paths: list[str], tokenizer, max_length: int) -> list[list[int]]:
    """Pretraining documents (`text`) as token ids with BOS/EOS, cut to `max_length` tokens."""
    texts = []
    for path in paths:
        for record in iter_jsonl(path):
            ids = tokenizer(require_text(record, "text"), add_special_tokens=False)["input_ids"]
            texts.append(([tokenizer.bos_token_id] + ids + [tokenizer.eos_token_id])[:max_length])
    return texts
