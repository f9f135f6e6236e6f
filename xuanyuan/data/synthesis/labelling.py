"""Labelling sheets: sampled candidates out to human labellers, their labels back in as preference records.

XuanYuan's labellers compare 2–4 responses to one prompt. `write_labelling_sheet` writes one row per prompt to
`sheet.csv` (UTF-8 with BOM, so spreadsheet programs show Chinese) and `sheet.jsonl` (the same rows, for
labelling tools): `id`, `prompt`, the responses under the letters `response_A` … `response_D` in an order shuffled
per prompt (seeded), and the empty columns `label` and `labeller`. `key.jsonl` stays with the organiser: each
prompt's messages, category and which generator and sample every letter is. A sheet any spreadsheet program
opens is what the labellers of the XuanYuan reports filled; labelling servers (Label Studio, Argilla) would add a
service to run for the same two columns, and can load `sheet.jsonl` where one is in use.

A label is
- for two responses, a strength label of `xuanyuan.data.preferences` (`A3 A2 A1 A0 B0 B1 B2 B3`: the letter is
  the better response, the digit how much, 3 = correct vs wrong or harmful … 0 = near tie), or a ranking `B>A`;
- for 3–4 responses, a ranking naming every letter once, best first (`B>A>C`); `=` ties (`A=B>C`).
Case, spaces and full-width characters typed with a Chinese input method (`ｂ＞ａ`) are accepted.

`import_labels` reads a filled sheet (CSV or JSONL) with its key into exactly what `load_preference_pairs` reads:
a strength label becomes a `{response_a, response_b, label}` record (A0/B0 near ties included: the loader drops
them by default and counts them), a ranking without ties one `{responses}` record best first, a ranking with ties
one `{chosen, rejected}` record per two responses in different tie groups (a ranked record cannot say "tied").
Every record carries the labeller and, in `sources`, the generator and sample of each of its responses. A blank
label is counted as unlabelled; a bad one (`A4`, `B>>A`, a letter with no response, a response cell that no longer
matches the key) raises a `SheetError` naming the file, row and column, or with `on_bad_record="skip"` is set
aside with its reason and counted.
"""

from __future__ import annotations

import csv
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..conversations import conversation_text
from ..preferences import LABELS
from ..records import (
    Record,
    RecordError,
    SheetError,
    iter_records,
    read_sheet,
    reject_row,
    skips_bad_records,
    write_jsonl,
)

LETTERS = "ABCD"
SHEET_CSV, SHEET_JSONL, KEY = "sheet.csv", "sheet.jsonl", "key.jsonl"
UNNAMED = "(no labeller)"
RANKING = re.compile(r"[A-Z](?:[>=][A-Z])*")


def response_column(letter: str) -> str:
    return f"response_{letter}"


@dataclass
class SheetFiles:
    sheet_csv: str
    sheet_jsonl: str
    key: str
    rows: int


def write_labelling_sheet(items: Sequence[dict], output_dir: str | Path, seed: int = 0) -> SheetFiles:
    """The sheet (CSV and JSONL) and its key for `items` of `candidates.sample_candidates`: `{id, prompt (messages),
    category, candidates: [{generator, sample, response}]}` with 2–4 candidates each."""
    if not items:
        raise ValueError("no prompts to put on a labelling sheet")
    width = max(len(item["candidates"]) for item in items)
    columns = ["id", "prompt", *map(response_column, LETTERS[:width]), "label", "labeller"]
    rows, keys = [], []
    for item in items:
        shown = list(item["candidates"])
        if not 2 <= len(shown) <= len(LETTERS):
            raise ValueError(f"prompt {item['id']!r}: {len(shown)} candidates; a sheet row holds 2 to {len(LETTERS)}")
        random.Random(f"{seed}/{item['id']}").shuffle(shown)  # per prompt: independent of the items' order
        lettered = dict(zip(LETTERS, shown, strict=False))
        row = dict.fromkeys(columns, "")
        row.update({"id": item["id"], "prompt": conversation_text(item["prompt"])})
        row.update({response_column(letter): c["response"] for letter, c in lettered.items()})
        rows.append(row)
        keys.append({"id": item["id"], "prompt": item["prompt"], "category": item.get("category"),
                     "responses": lettered})  # fmt: skip
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    with open(output / SHEET_CSV, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    write_jsonl(output / SHEET_JSONL, rows)
    write_jsonl(output / KEY, keys)
    return SheetFiles(str(output / SHEET_CSV), str(output / SHEET_JSONL), str(output / KEY), len(rows))


def parse_label(text: str, letters: str) -> str | list[list[str]]:
    """A strength label (`"B2"`) for a row of two responses, else the ranking as tie groups best first
    (`"A=B>C"` -> `[["A", "B"], ["C"]]`). `letters` are the row's response letters; a bad label raises
    `ValueError` saying what is wrong."""
    label = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).upper()
    if re.fullmatch(r"[A-Z]\d+", label):
        if label not in LABELS:
            raise ValueError(f"unknown strength label {text!r}; expected one of {' '.join(LABELS)}")
        if letters != "AB":
            raise ValueError(f"{text!r} compares two responses but this row has {len(letters)} ({_span(letters)}): "
                             f"rank them best first, e.g. {'>'.join(letters)}")  # fmt: skip
        return label
    if not RANKING.fullmatch(label):
        raise ValueError(f"{text!r} is neither a strength label ({' '.join(LABELS)}) nor a ranking such as "
                         f"{'>'.join(reversed(letters))} (letters joined by > or =, ties as A=B)")  # fmt: skip
    named = label[::2]
    for letter in named:
        if letter not in letters:
            raise ValueError(f"{text!r} names {letter}, but this row has responses {_span(letters)} only")
        if named.count(letter) > 1:
            raise ValueError(f"{text!r} names {letter} more than once")
    left_out = [letter for letter in letters if letter not in named]
    if left_out:
        raise ValueError(f"{text!r} leaves out {', '.join(left_out)}: rank every response of the row")
    return [group.split("=") for group in label.split(">")]


def _span(letters: str) -> str:
    return f"{letters[0]}–{letters[-1]}"


@dataclass
class ImportReport:
    rows: int = 0  # sheet rows read
    labelled: int = 0
    unlabelled: int = 0  # blank label: not labelled yet
    all_tied: int = 0  # a ranking with every response tied: no preference to record
    bad: int = 0  # set aside (on_bad_record="skip")
    not_in_sheet: list[str] = field(default_factory=list)  # key ids with no sheet row
    records: Counter = field(default_factory=Counter)  # records written, by kind (label, ranked, pair)
    labellers: Counter = field(default_factory=Counter)  # labelled rows per labeller
    rejects: list[dict] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        summary = {k: v for k, v in asdict(self).items() if k != "rejects"}
        return {**summary, "records": dict(self.records), "labellers": dict(self.labellers)}


def import_labels(
    sheet_path: str | Path,
    key_path: str | Path,
    on_bad_record: str = "error",
    default_labeller: str | None = None,
) -> tuple[list[dict], ImportReport]:
    """Preference records (see the module docstring) from a filled sheet (`.csv`, else JSONL) and its key;
    `default_labeller` stands in for a blank labeller cell."""
    skip = skips_bad_records(on_bad_record)
    key = _read_key(key_path)
    sheet_path = str(sheet_path)
    rows = read_sheet(sheet_path, ["id", "label"]) if sheet_path.endswith(".csv") else list(iter_records(sheet_path))
    report, records, seen = ImportReport(rows=len(rows)), [], {}
    for row in rows:
        try:
            made = _row_records(row, key, seen, default_labeller)
        except RecordError as error:
            if not skip:
                raise
            report.bad += 1
            report.rejects.append(reject_row(error, row.data))
            continue
        if made is None:
            report.unlabelled += 1
            continue
        report.labelled += 1
        report.labellers[_labeller(row, default_labeller) or UNNAMED] += 1
        report.all_tied += not made
        report.records.update(_kind(record) for record in made)
        records += made
    report.not_in_sheet = [item_id for item_id in key if item_id not in seen]
    return records, report


def _read_key(path: str | Path) -> dict[str, dict]:
    key = {}
    for record in iter_records(str(path)):
        for name in ("id", "prompt", "responses"):
            if name not in record.data:
                raise RecordError(record.path, record.line, name, "missing (is this the key.jsonl of a sheet?)")
        key[str(record.data["id"])] = record.data
    return key


def _error(row: Record, column: str, problem: str) -> RecordError:
    """A CSV row's error names its spreadsheet row and column; a JSONL row's its line and field."""
    error = SheetError if row.path.endswith(".csv") else RecordError
    return error(row.path, row.line, column, problem)


def _labeller(row: Record, default: str | None) -> str | None:
    return str(row.data.get("labeller") or "").strip() or default


def _row_records(row: Record, key: dict[str, dict], seen: dict, default_labeller: str | None) -> list[dict] | None:
    """The row's preference records; None when its label is blank."""
    item_id = str(row.data.get("id") or "").strip()
    if item_id not in key:
        raise _error(row, "id", f"{item_id!r} is not in the key file: was the sheet written with another key?")
    if item_id in seen:
        raise _error(row, "id", f"{item_id!r} is also in row {seen[item_id]}")
    seen[item_id] = row.line
    entry = key[item_id]
    responses = entry["responses"]
    for letter in LETTERS:  # the sheet must show what the key says, or the labels would go to the wrong responses
        shown, kept = str(row.data.get(response_column(letter)) or ""), responses.get(letter, {}).get("response", "")
        if shown.split() != kept.split():
            raise _error(row, response_column(letter), "differs from the key's response for this id: was the "
                         "response edited, or the sheet written with another key?")  # fmt: skip
    text = str(row.data.get("label") or "").strip()
    if not text:
        return None
    letters = "".join(sorted(responses))
    try:
        label = parse_label(text, letters)
    except ValueError as error:
        raise _error(row, "label", str(error)) from None
    base = {"id": item_id, "prompt": entry["prompt"], "category": entry.get("category"),
            "labeller": _labeller(row, default_labeller)}  # fmt: skip

    def text_of(letter: str) -> str:
        return responses[letter]["response"]

    def sources(*letters: str) -> list[dict]:
        return [{k: responses[letter][k] for k in ("generator", "sample")} for letter in letters]

    if isinstance(label, str):
        return [{**base, "response_a": text_of("A"), "response_b": text_of("B"), "label": label,
                 "sources": sources("A", "B")}]  # fmt: skip
    if all(len(group) == 1 for group in label):
        order = [group[0] for group in label]
        return [{**base, "responses": [text_of(x) for x in order], "sources": sources(*order)}]
    return [
        {**base, "id": f"{item_id}:{better}>{worse}", "chosen": text_of(better), "rejected": text_of(worse),
         "sources": sources(better, worse)}
        for rank, group in enumerate(label) for lower in label[rank + 1 :] for better in group for worse in lower
    ]  # fmt: skip


def _kind(record: dict) -> str:
    return "label" if "label" in record else "ranked" if "responses" in record else "pair"
