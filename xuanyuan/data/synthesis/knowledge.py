"""A user's unsupervised knowledge as text items for the synthesis steps: documents, tables, knowledge-graph triples.

Every item is `{"id", "text", "source", "language", "domain"}`: `source` is the file it came from, `language`
`zh` or `en` (the record's `language`, or `lang` as the pretraining data names it, else detected by the share of
Han characters, `xuanyuan.data.processing.language`), `domain` the document's own field (None elsewhere).

- Documents: JSONL / parquet records with a `text` (optional `id`, `domain`, `language`). A long text is cut into
  passages of at most `max_chars` at sentence ends (。！？.!? and line breaks; a longer sentence at its commas and
  spaces, or else at `max_chars`); passage `k` of document `d` is `d#k`.
- Tables: CSV (UTF-8, a BOM accepted) or parquet, one item per row written out as text, `列名：值；列名：值。` for
  Chinese and `column: value; column: value.` for English, the `key_columns` first and the `title` in front. A
  key column missing from the table, an empty key cell, a row with nothing besides its key and a repeated key are
  `RecordError`s naming the file, row and column. The id is `<file>:<key values>` (`<file>:<row>` without keys).
- Triples: JSONL / parquet records `{head, relation, tail}` (or a CSV with those columns), grouped by entity
  (`head`) within a file into passages `<head>——relation：tail；…` of about `max_chars` (a statement is never
  cut); ids `<file>:<head>#k`. A missing, empty or non-string field is a `RecordError` naming file, line and field.

`load_knowledge` reads every kind, cuts each to a seeded sample of `max_items` when asked (the file order kept),
and refuses an id that two sources share. Records are read through `xuanyuan.data.records` (CSV through
`read_sheet`); with `on_bad_record: skip` a bad record is set aside as a reject row instead of stopping the load (a
file-level fault, such as a column missing from a CSV header, still stops it). Writing rows and triples out as
text is a few lines of formatting; no library does it in the two languages' conventions.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..processing.language import detect_language
from ..records import (
    Record,
    RecordError,
    SheetError,
    check_unique_id,
    iter_records,
    read_sheet,
    reject_row,
    require_text,
    resolve_sources,
    skips_bad_records,
)

LANGUAGES = ("zh", "en")
AUTO = "auto"
TRIPLE_FIELDS = ("head", "relation", "tail")
# Cut after Chinese or ASCII sentence ends (a period only before whitespace, so 3.5 stays whole) and line breaks.
SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=\.)(?=\s)|(?<=\n)")
CLAUSE_END = re.compile(r"(?<=[，；、,;])|(?<=\s)(?=\S)")  # inside a sentence too long for one passage
SEPARATORS = {"zh": ("——", "：", "；", "。"), "en": (" — ", ": ", "; ", ".")}  # title, key-value, between, end


@dataclass
class KnowledgeConfig:
    max_chars: int = 600  # passage length of documents (and about that of an entity's triples)
    language: str = AUTO  # zh / en for every item; auto: the record's own, else detected
    min_cjk_share: float = 0.3  # detection: Han share of letters to call a text zh
    on_bad_record: str = "error"  # error: stop at the first bad record; skip: set it aside as a reject row
    max_items: int = 0  # per kind (documents' passages, table rows, entities): a seeded sample of this many; 0: all
    seed: int = 0

    def __post_init__(self):
        if self.max_chars < 1 or self.max_items < 0:
            raise ValueError(f"max_chars must be positive and max_items at least 0, got {self.max_chars}, "
                             f"{self.max_items}")  # fmt: skip
        if self.language not in (AUTO, *LANGUAGES):
            raise ValueError(f"language must be auto, zh or en, got {self.language!r}")
        skips_bad_records(self.on_bad_record)


@dataclass
class TableSpec:
    """A table file, with the `title` written in front of each row and the `key_columns` that name a row."""

    path: str
    title: str | None = None
    key_columns: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, value: str | dict | TableSpec) -> TableSpec:
        """From a spec, a path, or a YAML mapping `{path, title, key_columns}`."""
        if isinstance(value, TableSpec):
            return value
        return cls(**value) if isinstance(value, dict) else cls(str(value))


def split_passages(text: str, max_chars: int) -> list[str]:
    """`text` in passages of at most `max_chars`, cut at sentence ends; a longer sentence is cut at its clause marks
    and spaces, and what is still longer at `max_chars`. Whitespace-only pieces are left out."""
    pieces = []
    for sentence in SENTENCE_END.split(text):
        for clause in CLAUSE_END.split(sentence) if len(sentence) > max_chars else [sentence]:
            pieces += [clause[start : start + max_chars] for start in range(0, len(clause), max_chars)]
    return [passage.strip() for passage in _pack(pieces, max_chars) if passage.strip()]


def _pack(pieces: Iterable[str], max_chars: int) -> list[str]:
    """Consecutive pieces joined while they fit in `max_chars`; a piece longer than that stays whole."""
    passages, current = [], ""
    for piece in pieces:
        if current.strip() and len(current) + len(piece) > max_chars:
            passages.append(current)
            current = ""
        current += piece
    return [*passages, current]


def _language(text: str, config: KnowledgeConfig, stated: str | None = None) -> str:
    if config.language != AUTO:
        return config.language
    return stated or detect_language(text, config.min_cjk_share)


def _stated_language(record: Record) -> str | None:
    """The record's `language` (or `lang`) field: None when absent or empty, else it must be zh or en."""
    name = "language" if record.data.get("language") not in (None, "") else "lang"
    value = record.data.get(name) or None
    if value is not None and value not in LANGUAGES:
        raise _error(record, name, f"expected one of {LANGUAGES}, got {value!r:.40}")
    return value


def _value(value) -> str:
    """A cell as text: numbers written out, empty for None, trailing sentence punctuation dropped."""
    return "" if value is None else str(value).strip().rstrip("。；;.").strip()


def _records(spec: str | Path, columns: tuple[str, ...], rejects: list[dict] | None) -> Iterator[Record]:
    if str(spec).endswith(".csv"):
        yield from read_sheet(spec, columns)
        return
    for source in resolve_sources(spec):
        yield from iter_records(source, rejects)


def _records_of(sources, columns: tuple[str, ...], rejects: list[dict] | None) -> Iterator[Record]:
    for spec in [sources] if isinstance(sources, str | Path) else sources:
        yield from _records(spec, columns, rejects)


def _parse_all(records: Iterable[Record], parse: Callable[[Record], list[dict]], rejects: list[dict] | None) -> list:
    """`parse(record)` of every record, flattened; a `RecordError` raises, or with `rejects` is set aside there."""
    items = []
    for record in records:
        try:
            items += parse(record)
        except RecordError as error:
            if rejects is None:
                raise
            rejects.append(reject_row(error, record.data))
    return items


def _error(record: Record, field: str | None, problem: str) -> RecordError:
    """A CSV row's error names the spreadsheet row and column, a JSONL / parquet record's the line and field."""
    kind = SheetError if record.path.endswith(".csv") else RecordError
    return kind(record.path, record.line, field, problem)


def _text_field(record: Record, name: str) -> str:
    try:
        return require_text(record, name)
    except RecordError as error:
        raise _error(record, name, error.problem) from None


def _check_unique(seen: dict[str, Record], record: Record, item_id: str, field: str | None) -> None:
    try:
        check_unique_id(seen, record, item_id)
    except RecordError as error:
        raise _error(record, field, error.problem) from None


def load_documents(sources, config: KnowledgeConfig, rejects: list[dict] | None = None) -> list[dict]:
    """Passages of every document of `sources` (files, globs, URLs, Hub ids); see the module docstring."""
    seen: dict[str, Record] = {}

    def parse(record: Record) -> list[dict]:
        text, data = _text_field(record, "text"), record.data
        doc_id = data.get("id")
        if doc_id is None:
            doc_id = f"{Path(record.path).name}:{record.line}"
        elif isinstance(doc_id, bool) or not isinstance(doc_id, str | int) or not str(doc_id).strip():
            raise _error(record, "id", f"expected a non-empty string or integer, got {doc_id!r:.40}")
        _check_unique(seen, record, str(doc_id), "id")
        domain = data.get("domain") or None
        if domain is not None and not isinstance(domain, str):
            raise _error(record, "domain", f"expected a string, got {domain!r:.40}")
        stated = _stated_language(record)
        return [
            {"id": f"{doc_id}#{k}", "text": passage, "source": record.path,
             "language": _language(passage, config, stated), "domain": domain}
            for k, passage in enumerate(split_passages(text, config.max_chars), start=1)
        ]  # fmt: skip

    return _parse_all(_records_of(sources, (), rejects), parse, rejects)


def row_text(cells: list[tuple[str, str]], language: str, title: str | None = None) -> str:
    """`(column, value)` cells as one sentence: `title——列：值；列：值。` or `title — column: value; column: value.`"""
    before, colon, between, end = SEPARATORS[language]
    return (f"{title}{before}" if title else "") + between.join(f"{c}{colon}{v}" for c, v in cells) + end


def load_table(spec: TableSpec | str | dict, config: KnowledgeConfig, rejects: list[dict] | None = None) -> list[dict]:
    """One item per row of a table (CSV or parquet); see the module docstring."""
    spec = TableSpec.parse(spec)
    seen: dict[str, Record] = {}

    def parse(record: Record) -> list[dict]:
        for column in spec.key_columns:
            if column not in record.data:
                raise _error(record, column, f"missing column; the table has {list(record.data)}")
            if not _value(record.data[column]):
                raise _error(record, column, "empty value in a key column")
        columns = [*spec.key_columns, *(c for c in record.data if c not in spec.key_columns)]
        cells = [(str(c).strip(), _value(record.data[c])) for c in columns]
        cells = [(column, value) for column, value in cells if value]
        if len(cells) == len(spec.key_columns):
            problem = "empty row" + (f": no value besides {spec.key_columns}" if spec.key_columns else "")
            raise _error(record, None, problem)
        keys = "/".join(_value(record.data[c]) for c in spec.key_columns) or str(record.line)
        item_id = f"{Path(record.path).name}:{keys}"
        _check_unique(seen, record, item_id, spec.key_columns[0] if spec.key_columns else None)
        plain = " ".join(f"{c} {v}" for c, v in cells)
        language = _language(plain, config)
        text = row_text(cells, language, spec.title)
        return [{"id": item_id, "text": text, "source": record.path, "language": language, "domain": None}]

    return _parse_all(_records(spec.path, tuple(spec.key_columns), rejects), parse, rejects)


def load_triples(sources, config: KnowledgeConfig, rejects: list[dict] | None = None) -> list[dict]:
    """Knowledge-graph triples grouped by entity within each file; see the module docstring."""

    def parse(record: Record) -> list[dict]:
        return [{"path": record.path, **{name: _text_field(record, name).strip() for name in TRIPLE_FIELDS}}]

    by_entity: dict[tuple[str, str], list[tuple[str, str]]] = {}  # (file, head) -> statements, in file order
    for triple in _parse_all(_records_of(sources, TRIPLE_FIELDS, rejects), parse, rejects):
        by_entity.setdefault((triple["path"], triple["head"]), []).append((triple["relation"], _value(triple["tail"])))
    items = []
    for (path, head), statements in by_entity.items():
        language = _language(head + " " + " ".join(f"{r} {t}" for r, t in statements), config)
        items += [
            {"id": f"{Path(path).name}:{head}#{k}", "text": text, "source": path, "language": language, "domain": None}
            for k, text in enumerate(entity_passages(head, statements, language, config.max_chars), start=1)
        ]
    return items


def entity_passages(head: str, statements: list[tuple[str, str]], language: str, max_chars: int) -> list[str]:
    """An entity's `(relation, tail)` statements as passages `head——relation：tail；…。` of about `max_chars`."""
    before, colon, between, end = SEPARATORS[language]
    prefix = f"{head}{before}"
    groups = _pack([f"{r}{colon}{t}{between}" for r, t in statements], max(max_chars - len(prefix), 1))
    return [prefix + group.strip().removesuffix(between.strip()) + end for group in groups]


@dataclass
class KnowledgeLoad:
    items: list[dict]
    rejects: list[dict]  # `reject_row`s of the records set aside (on_bad_record: skip)
    counts: dict[str, dict[str, int]]  # kind -> {"loaded", "used"}


def load_knowledge(
    config: KnowledgeConfig,
    documents: Iterable[str] = (),
    tables: Iterable[TableSpec | str | dict] = (),
    triples: Iterable[str] = (),
) -> KnowledgeLoad:
    """Items of every source: documents' passages, then table rows, then entities, each kind cut to a seeded
    sample of `max_items` (in file order) when it has more. Ids must be unique across them."""
    rejects = [] if skips_bad_records(config.on_bad_record) else None
    kinds = {
        "documents": load_documents(list(documents), config, rejects) if documents else [],
        "tables": [item for table in tables for item in load_table(table, config, rejects)],
        "triples": load_triples(list(triples), config, rejects) if triples else [],
    }
    items, counts = [], {}
    for kind, loaded in kinds.items():
        used = loaded
        if 0 < config.max_items < len(loaded):
            chosen = random.Random(f"{config.seed}:{kind}").sample(range(len(loaded)), config.max_items)
            used = [loaded[index] for index in sorted(chosen)]
        items += used
        counts[kind] = {"loaded": len(loaded), "used": len(used)}
    first: dict[str, dict] = {}
    for item in items:
        earlier = first.setdefault(item["id"], item)
        if earlier is not item:
            raise ValueError(f"knowledge id {item['id']!r} comes from {earlier['source']} and {item['source']}; "
                             "give the documents distinct ids or the files distinct names")  # fmt: skip
    return KnowledgeLoad(items, rejects or [], counts)
