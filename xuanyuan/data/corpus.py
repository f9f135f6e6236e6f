"""Reading a pretraining corpus: records with `text` and `domain` (through `xuanyuan.data.records`).

Every record is validated at the boundary: an unparseable line, a missing or non-string text, or a domain
outside the configured mixture, raises `RecordError` naming file, line (parquet: row, from 1) and field; with
`on_bad_record="skip"` it is counted and written aside (`write_rejects`: where, what, the record) instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .records import Record, RecordError, load_records, require_text


@dataclass
class Corpus:
    texts: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    num_rejected: int = 0


def load_corpus(
    paths: Sequence[str | Path],
    domains: Sequence[str] | None = None,
    text_field: str = "text",
    domain_field: str = "domain",
    on_bad_record: str = "error",
    rejected_path: str | Path | None = None,
) -> Corpus:
    """Texts and domains of every record of `paths` (any source `xuanyuan.data.records` reads: files, globs,
    URLs, Hub dataset ids); `domains` (if given) is the set of accepted domain names."""
    accepted = set(domains) if domains else None

    def parse(record: Record) -> tuple[str, str]:
        text = require_text(record, text_field)
        domain = record.data.get(domain_field)
        if not isinstance(domain, str) or not domain:
            raise RecordError(record.path, record.line, domain_field, f"expected a domain name, got {domain!r}")
        if accepted is not None and domain not in accepted:
            problem = f"unknown domain {domain!r}; known: {sorted(accepted)}"
            raise RecordError(record.path, record.line, domain_field, problem)
        return text, domain

    rows, report = load_records(paths, parse, on_bad_record, rejected_path)
    if not rows:
        raise ValueError(f"no valid records in {list(map(str, paths))} ({report.skipped} set aside)")
    return Corpus([text for text, _ in rows], [domain for _, domain in rows], report.skipped)
