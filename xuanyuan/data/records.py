"""Reading user records (files, globs, URLs, Hub datasets) with errors that name the file, line and field.

Every loader in the project reads its records through here, so every loader takes the same inputs and a
bad record is reported the same way everywhere: `RecordError: data.jsonl, line 17, field 'text': expected a
non-empty string`. A source (`resolve_sources`) is a local file or glob, an fsspec URL (`s3://…`,
`hf://…`), or a Hub dataset id `name[:config]:split`; files are `.jsonl`/`.json` (optionally `.gz` or
`.zst`) or `.parquet`. Sheets people fill in (CSV) are read by `read_sheet`, whose errors name the spreadsheet
row and column (`SheetError`). Text is UTF-8 (a leading BOM and CRLF line ends are accepted); a byte that does not
decode is an error naming its line and file offset, never a bare `UnicodeDecodeError`. `on_bad_record` is
the one switch of every loader: `error` stops at the first bad record, `skip` counts it and writes it to a
rejects file (`load_records`, `write_rejects`).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from glob import has_magic
from pathlib import Path
from typing import BinaryIO, TypeVar

ON_BAD_RECORD = ("error", "skip")
CONVERT_TO_UTF8 = "convert the file to UTF-8"
JSONL_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst")
FILE_SUFFIXES = (*JSONL_SUFFIXES, ".parquet")
T = TypeVar("T")


class RecordError(ValueError):
    """A record that does not match its schema; says where it is and what is wrong."""

    def __init__(self, path: str | Path, line: int, field: str | None, problem: str):
        self.path, self.line, self.field, self.problem = str(path), line, field, problem
        where = f"{self.path}, line {line}" + (f", field {field!r}" if field else "")
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):
        # rebuilt from its four arguments, so it crosses process boundaries (datatrove/multiprocessing workers)
        return type(self), (self.path, self.line, self.field, self.problem), self.__dict__


class SheetError(RecordError):
    """A bad cell of a CSV sheet; names the file, the row as a spreadsheet numbers it (the header is row 1) and
    the column, which is what a person who filled the sheet can find (a cell may span several lines of the file)."""

    def __init__(self, path: str | Path, line: int, field: str | None, problem: str):
        super().__init__(path, line, field, problem)
        where = f"{self.path}, row {line}" + (f", column {field!r}" if field else "")
        self.args = (f"{where}: {problem}",)


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


def is_hub_dataset(source: str) -> bool:
    """True for a Hub dataset id (`name`, `name:split`, `name:config:split`); False for files, globs and URLs."""
    return (
        "://" not in source
        and not has_magic(source)
        and not source.endswith(FILE_SUFFIXES)
        and not Path(source).exists()
    )


def resolve_sources(specs: str | Path | Iterable[str | Path]) -> list[str]:
    """Files (each glob expanded, sorted), fsspec URLs and Hub dataset ids, in the order given.

    A file or pattern that matches nothing raises `FileNotFoundError`, a folder or a file of another type
    `ValueError`; anything that is not a path, a glob or a URL is taken as a Hub dataset id.
    """
    import fsspec

    specs = [specs] if isinstance(specs, str | Path) else list(specs)
    if not specs:
        raise ValueError("no data given: pass files, globs, URLs or Hub dataset ids")
    sources = []
    for spec in map(str, specs):
        if is_hub_dataset(spec):
            sources.append(spec)
            continue
        fs, _, _ = fsspec.core.get_fs_token_paths(spec)
        protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
        found = sorted(fs.glob(spec)) if has_magic(spec) else [spec]
        files = [path for path in found if fs.isfile(path)]
        if not files:
            if found and fs.isdir(found[0]):
                raise ValueError(f"{spec} is a folder: pass its files or a glob such as {spec.rstrip('/')}/*.jsonl")
            raise FileNotFoundError(
                f"{spec}: " + ("the pattern matches no file" if has_magic(spec) else "no such file")
            )
        for path in files:
            if not path.endswith(FILE_SUFFIXES):
                raise ValueError(f"{path}: unsupported file type (expected {', '.join(FILE_SUFFIXES)})")
            sources.append(path if protocol in ("file", "local") or "://" in path else f"{protocol}://{path}")
    return sources


@dataclass
class Entry:
    """One record as read, before any schema check: `problem` is (reason, message) when it did not parse."""

    path: str
    line: int  # 1-based line of a JSONL file, row of a parquet file or Hub dataset
    data: dict | None
    raw: str  # the line's text ("" for parquet and Hub rows)
    problem: tuple[str, str] | None = None  # ("invalid_utf8" | "invalid_json", message)


def _jsonl_entries(path: str) -> Iterator[Entry]:
    import fsspec

    with fsspec.open(path, "rb", compression="infer") as handle:
        # zstandard's reader has no readline: buffer it (harmless for the other streams)
        for number, offset, raw in numbered_lines(io.BufferedReader(handle)):
            try:
                text = decode_bytes(path, raw, line=number, offset=offset)
            except RecordError as error:
                yield Entry(path, number, None, raw.decode("utf-8", "replace"), ("invalid_utf8", error.problem))
                continue
            if not text.strip():
                continue
            try:
                data, problem = parse_object(path, number, text), None
            except RecordError as error:
                data, problem = None, ("invalid_json", error.problem)
            yield Entry(path, number, data, text, problem)


def _parquet_entries(path: str) -> Iterator[Entry]:
    import fsspec
    import pyarrow.parquet as pq

    with fsspec.open(path, "rb") as handle:
        row = 0
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=1024):
            for data in batch.to_pylist():
                row += 1
                yield Entry(path, row, data, "")


def _hub_entries(source: str) -> Iterator[Entry]:
    from datasets import load_dataset

    parts = source.split(":")
    if len(parts) > 3:
        raise ValueError(f"{source}: a Hub dataset is 'name', 'name:split' or 'name:config:split'")
    name, config, split = parts[0], parts[1] if len(parts) == 3 else None, parts[-1] if len(parts) > 1 else "train"
    for row, data in enumerate(load_dataset(name, config, split=split, streaming=True), start=1):
        yield Entry(source, row, dict(data), "")


def iter_entries(source: str) -> Iterator[Entry]:
    """Every record of one resolved source (see `resolve_sources`), parsed or with its problem."""
    if is_hub_dataset(source):
        return _hub_entries(source)
    return _parquet_entries(source) if source.endswith(".parquet") else _jsonl_entries(source)


def iter_records(source: str | Path, rejects: list[dict] | None = None) -> Iterator[Record]:
    """Every record of one source as a `Record`.

    A line that is not UTF-8 or not a JSON object raises `RecordError`, or, when a `rejects` list is given, is
    appended to it as a `reject_row` and skipped, so the caller can count and set such lines aside.
    """
    for entry in iter_entries(str(source)):
        if entry.problem is None:
            yield Record(entry.path, entry.line, entry.data)
            continue
        error = RecordError(entry.path, entry.line, None, entry.problem[1])
        if rejects is None:
            raise error
        rejects.append(reject_row(error))


@dataclass
class LoadReport:
    """What a load kept and what it set aside (`rejects_path` holds the set-aside records when skipping)."""

    kept: int = 0
    skipped: int = 0
    problems: Counter = field(default_factory=Counter)  # skipped records by the field at fault
    rejects_path: str | None = None
    rejects: list[dict] = field(default_factory=list, repr=False)  # the `reject_row`s

    def to_dict(self) -> dict:
        return {
            "kept": self.kept,
            "skipped": self.skipped,
            "problems": dict(self.problems),
            "rejects": self.rejects_path,
        }


def load_records(
    sources: str | Path | Iterable[str | Path],
    parse: Callable[[Record], T],
    on_bad_record: str = "error",
    rejects_path: str | Path | None = None,
) -> tuple[list[T], LoadReport]:
    """`parse(record)` of every record of every source, in order; `parse` raises `RecordError` for a bad one.

    With `on_bad_record="error"` the first bad record (unreadable, or refused by `parse`) raises; with "skip"
    it is counted in the report and, when `rejects_path` is given, written there as a `reject_row`.
    """
    skip = skips_bad_records(on_bad_record)
    parsed, rejects = [], []
    for source in resolve_sources(sources):
        for record in iter_records(source, rejects if skip else None):
            try:
                parsed.append(parse(record))
            except RecordError as error:
                if not skip:
                    raise
                rejects.append(reject_row(error, record.data))
    written = skip and rejects_path is not None
    if written:
        write_rejects(rejects_path, rejects)
    problems = Counter(row["field"] or "record" for row in rejects)
    return parsed, LoadReport(len(parsed), len(rejects), problems, str(rejects_path) if written else None, rejects)


def read_sheet(path: str | Path, columns: Sequence[str]) -> list[Record]:
    """The rows of a CSV sheet (UTF-8, a BOM accepted) as records keyed by its header, `line` being the spreadsheet
    row; empty rows are left out, short rows (a spreadsheet drops trailing empty cells) are padded with "". A
    missing column of `columns`, or a row with more cells than the header, is a `SheetError`."""
    with io.StringIO(read_text(path), newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise SheetError(path, 1, None, "empty file (expected a header row)")
    header = [name.strip() for name in rows[0]]
    missing = [name for name in columns if name not in header]
    if missing:
        raise SheetError(path, 1, missing[0], f"missing column; the header is {header}")
    records = []
    for number, cells in enumerate(rows[1:], start=2):
        if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
            raise SheetError(path, number, None, f"{len(cells)} cells but the header has {len(header)} columns")
        if any(cell.strip() for cell in cells):
            cells = (cells + [""] * len(header))[: len(header)]
            records.append(Record(str(path), number, dict(zip(header, cells, strict=True))))
    return records


def require_text(record: Record, field: str) -> str:
    """The record's `field` as a non-empty string, else `RecordError`."""
    value = record.data.get(field)
    if not isinstance(value, str) or not value.strip():
        problem = "missing" if field not in record.data else f"expected a non-empty string, got {value!r:.60}"
        raise RecordError(record.path, record.line, field, problem)
    return value


def load_texts(sources: str | Path | Iterable[str | Path], field: str = "text") -> list[str]:
    """The non-empty string `field` of every record of `sources` (see `resolve_sources`); a bad one raises."""
    return load_records(sources, lambda record: require_text(record, field))[0]


def check_unique_id(seen: dict[str, Record], record: Record, record_id: str) -> None:
    """Remember where `record_id` was seen; a second record with it raises `RecordError` naming both lines."""
    first = seen.setdefault(record_id, record)
    if first is not record:
        problem = f"duplicate id {record_id!r} (also at {first.path}, line {first.line}); ids must be unique"
        raise RecordError(record.path, record.line, "id", problem)


def is_heldout(text: str, fraction: float) -> bool:
    """Whether `text` is in the held-out `fraction`: a stable, order-independent split decided by its hash."""
    bucket = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big") % 10_000
    return bucket < fraction * 10_000


def split_heldout(items: Iterable[T], text_of: Callable[[T], str], fraction: float) -> tuple[list[T], list[T]]:
    """(held out, the rest) of `items` by `is_heldout` of each item's text, in the items' order."""
    heldout, rest = [], []
    for item in items:
        (heldout if is_heldout(text_of(item), fraction) else rest).append(item)
    return heldout, rest


def reject_row(error: RecordError, data: dict | None = None) -> dict:
    """A set-aside record as one rejects-file row: where it is, what is wrong, and the record (None if unparseable)."""
    return {"path": error.path, "line": error.line, "field": error.field, "problem": error.problem, "record": data}


def write_rejects(path: str | Path, rows: list[dict]) -> None:
    """The `reject_row`s of skipped records as JSONL (the file is written even when empty, so a run can be checked)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows)


def write_jsonl(path: str | Path, rows: Iterable[dict], sort_keys: bool = False) -> int:
    """Rows as UTF-8 JSONL, written to a temporary file renamed into place (a killed writer never leaves half a
    file); returns the row count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(row, ensure_ascii=False, sort_keys=sort_keys, default=str) + "\n" for row in rows]
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "w", encoding="utf-8", newline="\n") as handle:
        handle.writelines(lines)
    os.replace(partial, path)
    return len(lines)
