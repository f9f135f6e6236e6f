"""PPO inputs: RL prompts (mixed by source at a configured ratio) and pretraining text for the ptx term.

Prompt records are `{"prompt": str}` or `{"messages": [...]}` (ending with a user turn), with an
optional `source` (the report mixes prompts taken from the preference data with new ones, 1:1) and
`category` (the finance sub-domain, used by the prompt filter and PEI). Prompt files are checked before any
model loads: bad records stop the run (or, with `on_bad_record="skip"`, are written aside), and too few usable
prompts is an error naming the files.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from xuanyuan.chat_format import XUANYUAN_SYSTEM_PROMPT, with_system_prompt
from xuanyuan.data.conversations import prompt_messages
from xuanyuan.data.records import Record, check_unique_id, load_records, require_text


@dataclass
class RLPromptArguments:
    """The RL prompts of a recipe (PPO, GRPO/RLOO): where they are, how they are mixed and framed."""

    prompt_files: list[str] = field(default_factory=list, metadata={"help": "RL prompt JSONL files."})
    new_prompt_share: float = field(
        default=0.5, metadata={"help": "Share of non-preference prompts (report 1:1); < 0 keeps the files' mix."}
    )
    system_prompt: str | None = field(default=XUANYUAN_SYSTEM_PROMPT, metadata={"help": "Prepended to prompts."})
    on_bad_record: str = field(
        default="error",
        metadata={"help": "'error', or 'skip' (count it and write it to <output_dir>/rejected_prompts.jsonl)."},
    )


@dataclass(frozen=True)
class PromptRecord:
    id: str
    messages: list[dict]
    source: str
    category: str


def load_prompts(
    paths: list[str], on_bad_record: str = "error", rejected_path: str | Path | None = None, unique_ids: bool = False
) -> list[PromptRecord]:
    """Every valid prompt record; `unique_ids` for callers that key prompts by id (a repeat is an error)."""
    seen: dict[str, Record] = {}

    def parse(record: Record) -> PromptRecord:
        prompt = PromptRecord(
            id=str(record.data.get("id", f"{record.path}:{record.line}")),
            messages=prompt_messages(record, ("messages", "prompt")),
            source=str(record.data.get("source", "new")),
            category=str(record.data.get("category", "general")),
        )
        if unique_ids:
            check_unique_id(seen, record, prompt.id)
        return prompt

    return load_records(paths, parse, on_bad_record, rejected_path)[0]


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


def draw(items: list, count: int | None, seed: int) -> list:
    """`count` of `items` drawn with `seed`, in their original order; all of them when `count` is None or not
    smaller than their number."""
    if count is None or count >= len(items):
        return list(items)
    return [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), count))]


@dataclass(frozen=True)
class EncodedPrompt:
    prompt: PromptRecord
    messages: list[dict]  # what the model is shown: `system_prompt` first unless the record brings its own
    ids: list[int]  # chat-template token ids ending with the assistant cue


def encode_prompts(
    prompts: list[PromptRecord], tokenizer, system_prompt: str | None, max_length: int
) -> tuple[list[EncodedPrompt], int]:
    """Each prompt with its chat messages and token ids; prompts longer than `max_length` tokens are left out and
    counted (second value), never cut mid-question."""
    encoded, too_long = [], 0
    for prompt in prompts:
        messages = with_system_prompt(prompt.messages, system_prompt)
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
        if len(ids) > max_length:
            too_long += 1
        else:
            encoded.append(EncodedPrompt(prompt, messages, list(ids)))
    return encoded, too_long


def tokenize_prompts(
    prompts: list[PromptRecord], tokenizer, system_prompt: str | None, max_length: int
) -> tuple[list[list[int]], int]:
    """`encode_prompts`' token ids alone, and how many prompts were too long."""
    encoded, too_long = encode_prompts(prompts, tokenizer, system_prompt, max_length)
    return [item.ids for item in encoded], too_long


def load_ptx_texts(paths: list[str], tokenizer, max_length: int) -> list[list[int]]:
    """Pretraining documents (`text`) as token ids with BOS/EOS, cut to `max_length` tokens."""

    def parse(record: Record) -> list[int]:
        ids = tokenizer(require_text(record, "text"), add_special_tokens=False)["input_ids"]
        return ([tokenizer.bos_token_id] + ids + [tokenizer.eos_token_id])[:max_length]

    return load_records(paths, parse)[0]
