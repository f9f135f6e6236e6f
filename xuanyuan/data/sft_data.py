"""Loading and validating SFT data: conversational `messages` or `prompt`/`completion` records.

Sources are whatever `xuanyuan.data.records` reads (files, globs, URLs, Hub dataset ids). Every record is
checked at load time; a bad one (an unparseable line too) raises `RecordError` naming the file, record (line
number for JSONL, 1-based row for parquet and Hub datasets) and field, or, with `on_bad_record="skip"`, is
counted and written aside to a rejects JSONL so nothing is dropped silently.
Pretraining text for mixed fine-tuning (`text` records) loads through the same path.
"""

from __future__ import annotations

from datasets import Dataset

from .conversations import check_messages
from .records import LoadReport, Record, RecordError, load_records, require_text

DEFAULT_CATEGORY = "default"


def validate_sft_record(record: Record, category_field: str = "category") -> dict:
    """The record as `{"messages": [...], "category": str}` or `{"prompt", "completion", "category"}`.

    Prompt/completion may be strings or lists of turns (conversational); the completion must hold
    something to train on.
    """
    data = record.data
    category = data.get(category_field)
    category = DEFAULT_CATEGORY if category is None else category  # columnar sources fill absent fields with None
    if not isinstance(category, str) or not category.strip():
        problem = f"expected a non-empty string, got {category!r:.40}"
        raise RecordError(record.path, record.line, category_field, problem)
    if "messages" in data:
        messages = check_messages(record, data["messages"], "messages", need_assistant=True)
        return {"messages": messages, "category": category}
    if "prompt" in data or "completion" in data:
        if isinstance(data.get("prompt"), list) or isinstance(data.get("completion"), list):
            prompt = check_messages(record, data.get("prompt"), "prompt")
            completion = check_messages(record, data.get("completion"), "completion", need_assistant=True)
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
    first: dict = {}  # the first valid record fixes the dataset's format

    def parse(record: Record) -> dict:
        row = validate(record)
        kind = "messages" if "messages" in row else "prompt" if "prompt" in row else "text"
        start = first.setdefault("record", (kind, record))
        if kind != start[0]:
            problem = f"is a {kind!r} record but {start[1].path}, line {start[1].line} started a {start[0]!r} dataset"
            raise RecordError(record.path, record.line, kind, problem)
        return row

    rows, report = load_records(sources, parse, on_bad_record, rejects_path)
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
