"""Reading a pretraining corpus: JSONL (optionally .gz) or parquet records with `text` and `domain`.

Every record is validated at the boundary: a missing or non-string text, or a domain outside the
configured mixture, raises `RecordError` naming file, line (parquet: row, from 1) and field; with
`on_bad_record="skip"` it is counted and written aside (JSONL, with the error) instead.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .records import Record, RecordError, iter_jsonl, require_text


@dataclass
class Corpus:
    texts: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    num_rejected: int = 0


def iter_records(path: str | Path, errors: list[RecordError] | None = None) -> Iterator[Record]:
    """Records of a `.jsonl`, `.jsonl.gz` or `.parquet` file."""
    if str(path).endswith(".parquet"):
        import pyarrow.parquet as pq

        for row, data in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield Record(str(path), row, data)
    else:
        yield from iter_jsonl(path, errors)


def expand_paths(paths: Sequence[str | Path]) -> list[str]:
    expanded = []
    for path in map(str, paths):
        matches = sorted(glob.glob(path)) if glob.has_magic(path) else [path]
        if not matches:
            raise FileNotFoundError(f"no corpus file matches {path!r}")
        expanded += matches
    return expanded


def load_corpus(
    paths: Sequence[str | Path],
    domains: Sequence[str] | None = None,
    text_field: str = "text",
    domain_field: str = "domain",
    on_bad_record: str = "error",
    rejected_path: str | Path | None = None,
) -> Corpus:
    """Texts and domains of every record; `domains` (if given) is the set of accepted domain names.

    `paths` may hold glob patterns (`shards/*.jsonl.gz`), expanded in sorted order.
    """
    if on_bad_record not in ("error", "skip"):
        raise ValueError(f"on_bad_record must be 'error' or 'skip', got {on_bad_record!r}")
    skip = on_bad_record == "skip"
    accepted = set(domains) if domains else None
    corpus, rejected = Corpus(), []
    for path in expand_paths(paths):
        malformed: list[RecordError] | None = [] if skip else None
        for record in iter_records(path, malformed):
            try:
                text = require_text(record, text_field)
                domain = record.data.get(domain_field)
                if not isinstance(domain, str) or not domain:
                    problem = f"expected a domain name, got {domain!r}"
                    raise RecordError(record.path, record.line, domain_field, problem)
                if accepted is not None and domain not in accepted:
                    raise RecordError(
                        record.path, record.line, domain_field, f"unknown domain {domain!r}; known: {sorted(accepted)}"
                    )
            except RecordError as error:
                if not skip:
                    raise
                rejected.append({"error": str(error), "record": record.data})
                continue
            corpus.texts.append(text)
            corpus.domains.append(domain)
        rejected += [{"error": str(error), "record": None} for error in malformed or []]
    corpus.num_rejected = len(rejected)
    if rejected and rejected_path is not None:
        Path(rejected_path).parent.mkdir(parents=True, exist_ok=True)
        with open(rejected_path, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rejected)
    return corpus
