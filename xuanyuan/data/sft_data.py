"""Loading and validating SFT data: conversational `messages` or `prompt`/`completion` records.

Sources are local JSONL / JSON-lines, parquet files, or Hub dataset ids (`name` or `name:split`). Every
record is checked at load time; a bad one (an unparseable line too) raises `RecordError` naming the file,
record (line number for JSONL, 1-based row for parquet and Hub datasets) and field, or, with
`on_bad_record="skip"`, is counted and written aside to a rejects JSONL so nothing is dropped silently.
Pretraining text for mixed fine-tuning (`text` records) loads through the same path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset, load_dataset

from .records import Record, RecordError, iter_jsonl, reject_row, require_text, skips_bad_records, write_rejects

ROLES = ("system", "user", "assistant")
DEFAULT_CATEGORY = "default"


@dataclass
class LoadReport:
    """What a load kept and what it set aside (`rejects_path` holds the set-aside records)."""

    kept: int = 0
    skipped: int = 0
    problems: Counter = field(default_factory=Counter)
    rejects_path: str | None = None

    def to_dict(self) -> dict:
        return {
            "kept": self.kept,
            "skipped": self.skipped,
            "problems": dict(self.problems),
            "rejects": self.rejects_path,
        }


def iter_records(source: str, rejects: list[dict] | None = None) -> Iterator[Record]:
    """Every record of a local JSONL(.gz)/parquet file or a Hub dataset (`name` or `name:split`, default `train`);
    unparseable JSONL lines go to `rejects` when it is given (see `iter_jsonl`)."""
    path = Path(source)
    if path.name.endswith((".jsonl", ".json", ".jsonl.gz")) and path.exists():
        yield from iter_jsonl(path, rejects)
        return
    if path.suffix == ".parquet" and path.exists():
        rows = load_dataset("parquet", data_files=str(path), split="train")
    elif path.exists():
        expected = ".jsonl, .jsonl.gz, .json or .parquet"
        raise ValueError(f"{source}: unsupported file type {path.suffix!r} (expected {expected})")
    else:
        name, _, split = source.partition(":")
        rows = load_dataset(name, split=split or "train")
    for index, row in enumerate(rows, start=1):
        yield Record(source, index, dict(row))


def _check_messages(record: Record, messages, field_name: str, need_assistant: bool) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise RecordError(
            record.path, record.line, field_name, f"expected a non-empty list of turns, got {messages!r:.60}"
        )
    turns = []
    for index, turn in enumerate(messages):
        where = f"{field_name}[{index}]"
        if not isinstance(turn, dict):
            raise RecordError(
                record.path, record.line, where, f"expected an object with role and content, got {turn!r:.60}"
            )
        role, content = turn.get("role"), turn.get("content")
        if role not in ROLES:
            raise RecordError(record.path, record.line, f"{where}.role", f"expected one of {ROLES}, got {role!r:.30}")
        if role == "system" and index != 0:
            raise RecordError(record.path, record.line, f"{where}.role", "a system prompt may only be the first turn")
        if not isinstance(content, str) or not content.strip():
            raise RecordError(record.path, record.line, f"{where}.content", "expected a non-empty string")
        turns.append({"role": role, "content": content})
    if need_assistant and not any(turn["role"] == "assistant" for turn in turns):
        raise RecordError(record.path, record.line, field_name, "has no assistant turn to train on")
    return turns


def validate_sft_record(record: Record, category_field: str = "category") -> dict:
    """The record as `{"messages": [...], "category": str}` or `{"prompt", "completion", "category"}`.

    Prompt/completion may be strings or lists of turns (conversational); the completion must hold
    something to train on.
    """
    data = record.data
    category = data.get(category_field)
    category = DEFAULT_CATEGORY if category is None else category  # columnar sources fill absent fields with None
    if not isinstance(category, str) or not category.strip():
        raise RecordError(
            record.path, record.line, category_field, f"expected a non-empty string, got {category!r:.40}"
        )
    if "messages" in data:
        return {
            "messages": _check_messages(record, data["messages"], "messages", need_assistant=True),
            "category": category,
        }
    if "prompt" in data or "completion" in data:
        if isinstance(data.get("prompt"), list) or isinstance(data.get("completion"), list):
            prompt = _check_messages(record, data.get("prompt"), "prompt", need_assistant=False)
            completion = _check_messages(record, data.get("completion"), "completion", need_assistant=True)
        else:
            prompt, completion = require_text(record, "prompt"), require_text(record, "completion")
        return {"prompt": prompt, "completion": completion, "category": category}
    raise RecordError(record.path, record.line, None, "expected a 'messages' list or 'prompt' and 'completion' fields")


def validate_text_record(record: Record, text_field: str = "text") -> dict:
    """A pretraining document as `{"text": str, "domain": str}`."""
    domain = record.data.get("domain", DEFAULT_CATEGORY)
    return {
        "text": require_text(record, text_field),
        "domain": domain if isinstance(domain, str) else DEFAULT_CATEGORY,
    }


def _load(sources: list[str], validate, on_bad_record: str, rejects_path: str | None) -> tuple[Dataset, LoadReport]:
    skip = skips_bad_records(on_bad_record)
    report = LoadReport(rejects_path=rejects_path if skip else None)
    rows, rejects, kind = [], [], None
    for source in sources:
        for record in iter_records(source, rejects if skip else None):
            try:
                row = validate(record)
                row_kind = "messages" if "messages" in row else "prompt" if "prompt" in row else "text"
                if kind is None:
                    kind, first = row_kind, record
                elif row_kind != kind:
                    raise RecordError(
                        record.path,
                        record.line,
                        row_kind,
                        f"is a {row_kind!r} record but {first.path}, line {first.line} started a {kind!r} dataset",
                    )
            except RecordError as error:
                if not skip:
                    raise
                rejects.append(reject_row(error, record.data))
                continue
            rows.append(row)
    report.kept, report.skipped = len(rows), len(rejects)
    report.problems.update(row["field"] or "record" for row in rejects)
    if skip and rejects_path:
        write_rejects(rejects_path, rejects)
    if not rows:
        raise ValueError(f"no valid records in {sources} ({report.skipped} set aside)")
    return Dataset.from_list(rows), report


def load_sft_dataset(
    sources: list[str], on_bad_record: str = "error", rejects_path: str | None = None, category_field: str = "category"
) -> tuple[Dataset, LoadReport]:
    """Validated SFT records (one format per dataset) as a `datasets.Dataset` with a `category` column."""
    return _load(sources, lambda r: validate_sft_record(r, category_field), on_bad_record, rejects_path)


def load_text_dataset(
    sources: list[str], on_bad_record: str = "error", rejects_path: str | None = None, text_field: str = "text"
) -> tuple[Dataset, LoadReport]:
    """Validated pretraining documents as a `datasets.Dataset` with `text` and `domain` columns."""
    return _load(sources, lambda r: validate_text_record(r, text_field), on_bad_record, rejects_path)
