"""Reading JSONL records with errors that name the file, line and field.

Every loader in the project reads user files through here, so a bad record is reported the same way
everywhere: `RecordError: data.jsonl, line 17, field 'text': expected a non-empty string`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class RecordError(ValueError):
    """A record that does not match its schema; says where it is and what is wrong."""

    def __init__(self, path: str | Path, line: int, field: str | None, problem: str):
        self.path, self.line, self.field, self.problem = str(path), line, field, problem
        where = f"{self.path}, line {line}" + (f", field {field!r}" if field else "")
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Record:
    path: str
    line: int
    data: dict


def iter_jsonl(path: str | Path, errors: list[RecordError] | None = None) -> Iterator[Record]:
    """Yield every non-blank line of a JSONL file (gzip-compressed when the name ends in `.gz`) as a `Record`.

    A line that is not a JSON object raises `RecordError`, or, when an `errors` list is given, is
    appended to it and skipped, so the caller can count and set such lines aside.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                problem = None if isinstance(data, dict) else f"expected a JSON object, got {type(data).__name__}"
            except json.JSONDecodeError as error:
                problem = f"invalid JSON ({error.msg})"
            if problem is None:
                yield Record(str(path), line_number, data)
            elif errors is None:
                raise RecordError(path, line_number, None, problem)
            else:
                errors.append(RecordError(path, line_number, None, problem))


def require_text(record: Record, field: str) -> str:
    """The record's `field` as a non-empty string, else `RecordError`."""
    value = record.data.get(field)
    if not isinstance(value, str) or not value.strip():
        problem = "missing" if field not in record.data else f"expected a non-empty string, got {value!r:.60}"
        raise RecordError(record.path, record.line, field, problem)
    return value
