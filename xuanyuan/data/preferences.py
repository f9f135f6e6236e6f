"""Preference pairs for reward modelling: loading, validation, the prompt-level split and the RM input format.

Three record shapes are accepted, in any mix, from any source `xuanyuan.data.records` reads:
- labelled pairs `{prompt, response_a, response_b, label}` on XuanYuan's eight-level scale
  `A3 A2 A1 A0 B0 B1 B2 B3` (A = the first response is better, the digit how much: 3 = correct vs wrong or
  harmful … 0 = near tie). Near ties (A0/B0) carry no usable preference and are dropped by default (counted);
- ranked records `{prompt, responses}` with the responses best first, expanded to every ordered pair;
- plain pairs `{prompt, chosen, rejected}`.
`prompt` is a string or a list of chat messages ending with a user turn; `messages` may stand for `prompt`.
`id` and `category` are optional. A bad record (an unparseable line too) raises `RecordError` naming file, line
and field, or, with `on_bad_record="skip"`, is counted and kept in `PreferenceData.skipped` to be written aside.

The reward model sees a pair as two conversations rendered by the tokenizer's chat template,
`prompt + [{"role": "assistant", "content": response}]` — exactly how TRL's `RewardTrainer` tokenizes
conversational records (see `PreferencePair.to_trl`), so evaluation and training score identical token ids.
With the XuanYuan template that is `<s>Human: {prompt} Assistant: {response}</s>`: the last token is the EOS,
where the reward is read.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .conversations import prompt_messages
from .records import Record, RecordError, load_records, require_text, write_rejects

if TYPE_CHECKING:  # light to import: the recipes' argument classes below are read before any training stack loads
    from transformers import PreTrainedTokenizerBase

LABELS = ("A3", "A2", "A1", "A0", "B0", "B1", "B2", "B3")


@dataclass
class PreferenceDataArguments:
    """The preference files and how they are read and split: one set of arguments for every recipe that trains on
    them (reward model, DPO), so the same values hold out the same pairs."""

    data_files: list[str] = field(default_factory=list, metadata={"help": "Preference JSONL files."})
    test_fraction: float = field(default=0.1, metadata={"help": "Share of prompts held out as the test split."})
    split_seed: int = field(default=0, metadata={"help": "Seed of the prompt-level split (eval/reward.py's too)."})
    keep_ties: bool = field(default=False, metadata={"help": "Keep A0/B0 near ties (dropped by default)."})
    on_bad_record: str = field(
        default="error", metadata={"help": "'error', or 'skip' (count it and write it to skipped_records.jsonl)."}
    )


@dataclass(frozen=True)
class PreferencePair:
    id: str
    prompt: tuple[dict, ...]  # chat messages ending with a user turn
    chosen: str
    rejected: str
    category: str | None = None
    strength: int | None = None  # 0..3 from an A/B label; None for plain and ranked records

    def conversation(self, response: str) -> list[dict]:
        return [*self.prompt, {"role": "assistant", "content": response}]

    def to_trl(self) -> dict:
        """The record in TRL's conversational preference format (what `RewardTrainer` trains on)."""
        return {
            "prompt": list(self.prompt),
            "chosen": [{"role": "assistant", "content": self.chosen}],
            "rejected": [{"role": "assistant", "content": self.rejected}],
        }


@dataclass
class PreferenceData:
    pairs: list[PreferencePair] = field(default_factory=list)
    dropped_ties: int = 0  # A0/B0 pairs left out on purpose
    skipped: list[dict] = field(default_factory=list)  # `reject_row`s of the bad records, when skipping

    def write_skipped(self, path: str | Path) -> None:
        """One JSON line per skipped record: file, line, field, problem and the record."""
        write_rejects(path, self.skipped)


def load_preference_pairs(
    paths: str | Path | Iterable[str | Path], drop_ties: bool = True, on_bad_record: str = "error"
) -> PreferenceData:
    """Read preference records (any source `xuanyuan.data.records` reads) into validated (prompt, chosen,
    rejected) pairs."""
    per_record, report = load_records(paths, _record_pairs, on_bad_record)
    data = PreferenceData(skipped=report.rejects)
    for pair in (pair for pairs in per_record for pair in pairs):
        if drop_ties and pair.strength == 0:
            data.dropped_ties += 1
        else:
            data.pairs.append(pair)
    return data


def _record_pairs(record: Record) -> list[PreferencePair]:
    fields = record.data
    prompt = tuple(prompt_messages(record))
    record_id = str(fields.get("id", f"{Path(record.path).name}:{record.line}"))
    category = fields.get("category")
    if category is not None and not isinstance(category, str):
        raise RecordError(record.path, record.line, "category", f"expected a string, got {category!r:.60}")

    def pair(suffix: str, chosen: str, rejected: str, strength: int | None = None) -> PreferencePair:
        return PreferencePair(record_id + suffix, prompt, chosen, rejected, category, strength)

    if "responses" in fields:
        responses = fields["responses"]
        if not isinstance(responses, list) or len(responses) < 2:
            raise RecordError(record.path, record.line, "responses", "expected a list of at least two responses")
        for index, response in enumerate(responses):
            if not isinstance(response, str) or not response.strip():
                problem = f"response {index} is not a non-empty string: {response!r:.60}"
                raise RecordError(record.path, record.line, "responses", problem)
            if response in responses[:index]:
                problem = f"responses {responses.index(response)} and {index} are identical"
                raise RecordError(record.path, record.line, "responses", problem)
        n = len(responses)
        return [pair(f":{i}>{j}", responses[i], responses[j]) for i in range(n) for j in range(i + 1, n)]

    if "response_a" in fields or "response_b" in fields or "label" in fields:
        response_a, response_b = require_text(record, "response_a"), require_text(record, "response_b")
        label = fields.get("label")
        if label not in LABELS:
            problem = "missing" if "label" not in fields else f"unknown label {label!r:.20}, expected one of {LABELS}"
            raise RecordError(record.path, record.line, "label", problem)
        if response_a == response_b:
            raise RecordError(record.path, record.line, "response_b", "identical to response_a")
        chosen, rejected = (response_a, response_b) if label[0] == "A" else (response_b, response_a)
        return [pair("", chosen, rejected, int(label[1]))]

    if "chosen" in fields or "rejected" in fields:
        chosen, rejected = _response(record, "chosen"), _response(record, "rejected")
        if chosen == rejected:
            raise RecordError(record.path, record.line, "rejected", "identical to chosen")
        return [pair("", chosen, rejected)]

    problem = "not a preference record: expected chosen/rejected, response_a/response_b/label, or responses"
    raise RecordError(record.path, record.line, None, problem)


def _response(record: Record, name: str) -> str:
    """`chosen`/`rejected` as text, or as TRL's one-message list `[{"role": "assistant", "content": ...}]`."""
    value = record.data.get(name)
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        if value[0].get("role") == "assistant" and isinstance(value[0].get("content"), str):
            value = value[0]["content"]
    if isinstance(value, str) and value.strip():
        return value
    problem = "missing" if name not in record.data else f"expected a non-empty response, got {value!r:.60}"
    raise RecordError(record.path, record.line, name, problem)


def split_by_prompt(
    pairs: list[PreferencePair], test_fraction: float = 0.1, seed: int = 0
) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(train, test): a seeded shuffle of the distinct prompts, the first `round(test_fraction * n)` of them
    test, so no prompt is in both. Deterministic for a given set of prompts, whatever the record order."""
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    prompts = sorted({_prompt_key(p) for p in pairs})
    random.Random(seed).shuffle(prompts)
    test_prompts = set(prompts[: round(test_fraction * len(prompts))])
    train = [p for p in pairs if _prompt_key(p) not in test_prompts]
    test = [p for p in pairs if _prompt_key(p) in test_prompts]
    return train, test


def _prompt_key(pair: PreferencePair) -> str:
    return json.dumps(pair.prompt, ensure_ascii=False, sort_keys=True)


def encode_conversation(tokenizer: PreTrainedTokenizerBase, messages: list[dict]) -> list[int]:
    """Token ids of a conversation as TRL's RewardTrainer tokenizes it (chat template, no extra specials)."""
    return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])
