"""Reading a pretraining corpus: JSONL (optionally .gz) or parquet records with `text` and `domain`.

Every record is validated at the boundary: an unparseable line, a missing or non-string text, or a domain
outside the configured mixture, raises `RecordError` naming file, line (parquet: row, from 1) and field; with
`on_bad_record="skip"` it is counted and written aside (`write_rejects`: where, what, the record) instead.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .records import Record, RecordError, iter_jsonl, reject_row, require_text, skips_bad_records, write_rejects


@dataclass
class Corpus:
    texts: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    num_rejected: int = 0


def iter_records(path: str | Path, rejects: list[dict] | None = None) -> Iterator[Record]:
    """Records of a `.jsonl`, `.jsonl.gz` or `.parquet` file."""
    if str(path).endswith(".parquet"):
        import pyarrow.parquet as pq

        for row, data in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield Record(str(path), row, data)
    else:
        yield from iter_jsonl(path, rejects)


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
    skip = skips_bad_records(on_bad_record)
    accepted = set(domains) if domains else None
    corpus, rejected = Corpus(), []
    for path in expand_paths(paths):
        for record in iter_records(path, rejected if skip else None):
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
                rejected.append(reject_row(error, record.data))
                continue
            corpus.texts.append(text)
            corpus.domains.append(domain)
    corpus.num_rejected = len(rejected)
    if skip and rejected_path is not None:
        write_rejects(rejected_path, rejected)
    if not corpus.texts:
        raise ValueError(f"no valid records in {list(map(str, paths))} ({len(rejected)} set aside)")
    return corpus
