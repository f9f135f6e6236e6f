"""Reading user files (JSONL records, text) with errors that name the file, line and field.

Every loader in the project reads user files through here, so a bad record is reported the same way
everywhere: `RecordError: data.jsonl, line 17, field 'text': expected a non-empty string`. Files are UTF-8
(a leading BOM and CRLF line ends are accepted); a byte that does not decode is an error naming its line and
file offset, never a bare `UnicodeDecodeError`. `on_bad_record` is the one switch of every loader: `error`
stops at the first bad record, `skip` counts it and writes it to a rejects file (`write_rejects`).
"""

from __future__ import annotations

import codecs
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

ON_BAD_RECORD = ("error", "skip")
CONVERT_TO_UTF8 = "convert the file to UTF-8"


class RecordError(ValueError):
    """A record that does not match its schema; says where it is and what is wrong."""

    def __init__(self, path: str | Path, line: int, field: str | None, problem: str):
        self.path, self.line, self.field, self.problem = str(path), line, field, problem
        where = f"{self.path}, line {line}" + (f", field {field!r}" if field else "")
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):
        # rebuilt from its four arguments, so it crosses process boundaries (datatrove/multiprocessing workers)
        return type(self), (self.path, self.line, self.field, self.problem), self.__dict__


@dataclass(frozen=True)
class Record:
    path: str
    line: int
    data: dict


def skips_bad_records(on_bad_record: str) -> bool:
    """True for `on_bad_record="skip"`, False for "error"; any other value is an error naming the option."""
    if on_bad_record not in ON_BAD_RECORD:
        raise ValueError(f"on_bad_record must be 'error' or 'skip', got {on_bad_record!r}")
    return on_bad_record == "skip"


def _utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


def decode_bytes(
    path: str | Path, raw: bytes, encoding: str = "utf-8", line: int = 1, offset: int = 0, hint: str = CONVERT_TO_UTF8
) -> str:
    """`raw` (text starting at `line`, at byte `offset` of the file) decoded; a byte that does not decode, or a
    NUL byte (a binary file), raises `RecordError` naming its line and file offset, with `hint` on what to do."""
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        name, position = "UTF-8" if _utf8(encoding) else encoding, error.start
        problem = f"not valid {name} (byte 0x{raw[position]:02x} at offset {offset + position}); {hint}"
    else:
        if "\x00" not in text:
            return text
        position = len(text[: text.index("\x00")].encode(encoding))
        problem = f"binary data (NUL byte at offset {offset + position}); expected a text file"
    raise RecordError(path, line + raw.count(b"\n", 0, position), None, problem)


def read_text(path: str | Path, encoding: str = "utf-8", hint: str = CONVERT_TO_UTF8) -> str:
    """A whole text file, decoded by `decode_bytes`; a UTF-8 BOM is dropped."""
    raw = Path(path).read_bytes()
    bom = len(codecs.BOM_UTF8) if _utf8(encoding) and raw.startswith(codecs.BOM_UTF8) else 0
    return decode_bytes(path, raw[bom:], "utf-8" if _utf8(encoding) else encoding, offset=bom, hint=hint)


def numbered_lines(handle: BinaryIO) -> Iterator[tuple[int, int, bytes]]:
    """(1-based line number, byte offset, bytes) of every line of a binary stream, a leading UTF-8 BOM dropped."""
    offset = 0
    for number, raw in enumerate(handle, start=1):
        start = len(codecs.BOM_UTF8) if number == 1 and raw.startswith(codecs.BOM_UTF8) else 0
        yield number, offset + start, raw[start:]
        offset += len(raw)


def parse_object(path: str | Path, line: int, text: str) -> dict:
    """One JSONL line as a JSON object, else `RecordError`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise RecordError(path, line, None, f"invalid JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise RecordError(path, line, None, f"expected a JSON object, got {type(data).__name__}")
    return data


def iter_jsonl(path: str | Path, rejects: list[dict] | None = None) -> Iterator[Record]:
    """Yield every non-blank line of a JSONL file (gzip-compressed when the name ends in `.gz`) as a `Record`.

    A line that is not UTF-8 or not a JSON object raises `RecordError`, or, when a `rejects` list is given, is
    appended to it as a `reject_row` and skipped, so the caller can count and set such lines aside.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        for number, offset, raw in numbered_lines(handle):
            try:
                text = decode_bytes(path, raw, line=number, offset=offset)
                data = parse_object(path, number, text) if text.strip() else None
            except RecordError as error:
                if rejects is None:
                    raise
                rejects.append(reject_row(error))
                continue
            if data is not None:
                yield Record(str(path), number, data)


def require_text(record: Record, field: str) -> str:
    """The record's `field` as a non-empty string, else `RecordError`."""
    value = record.data.get(field)
    if not isinstance(value, str) or not value.strip():
        problem = "missing" if field not in record.data else f"expected a non-empty string, got {value!r:.60}"
        raise RecordError(record.path, record.line, field, problem)
    return value


def check_unique_id(seen: dict[str, Record], record: Record, record_id: str) -> None:
    """Remember where `record_id` was seen; a second record with it raises `RecordError` naming both lines."""
    first = seen.setdefault(record_id, record)
    if first is not record:
        problem = f"duplicate id {record_id!r} (also at {first.path}, line {first.line}); ids must be unique"
        raise RecordError(record.path, record.line, "id", problem)


def reject_row(error: RecordError, data: dict | None = None) -> dict:
    """A set-aside record as one rejects-file row: where it is, what is wrong, and the record (None if unparseable)."""
    return {"path": error.path, "line": error.line, "field": error.field, "problem": error.problem, "record": data}


def write_rejects(path: str | Path, rows: list[dict]) -> None:
    """The `reject_row`s of skipped records as JSONL (the file is written even when empty, so a run can be checked)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows)
