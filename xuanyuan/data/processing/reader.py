"""Reading records into datatrove `Document`s, strictly.

datatrove's own readers log and skip a malformed line and stop a file at the first non-UTF-8 byte; here
every bad record is an error naming file and line (`RecordError`), or — with `on_bad_record="skip"` —
counted in the stats and written aside with the reason, never silently dropped. Sources and records come
from `xuanyuan.data.records`, like every other loader's (files, globs, URLs, Hub datasets; UTF-8, BOM and
CRLF accepted).

Work is split over tasks by file when there are at least as many files as tasks, otherwise by record
(record i goes to task i mod tasks), so a single input file still feeds every worker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import nullcontext
from itertools import chain, islice
from pathlib import PurePosixPath

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.disk_base import DiskWriter

from xuanyuan.data.processing.language import detect_language
from xuanyuan.data.records import Entry, RecordError, iter_entries, skips_bad_records


class RecordReader(PipelineStep):
    """Reads, validates and routes documents: `text` must be a non-empty string; `lang` comes from the record
    or is detected from the script; `domain` comes from the record or `default_domain`."""

    type = "📖 - READER"
    name = "read"

    def __init__(
        self,
        paths: list[str],
        on_bad_record: str = "error",
        rejects_writer: DiskWriter | None = None,
        default_domain: str = "general",
        min_cjk_share: float = 0.3,
        text_key: str = "text",
    ):
        super().__init__()
        self.skip = skips_bad_records(on_bad_record)
        if self.skip and rejects_writer is None:
            raise ValueError("on_bad_record='skip' needs a rejects_writer so that skipped records are written aside")
        self.paths, self.rejects_writer = list(paths), rejects_writer
        self.default_domain, self.min_cjk_share, self.text_key = default_domain, min_cjk_share, text_key

    def shard(self, rank: int, world_size: int) -> Iterator[Entry]:
        """This task's records: whole files when there are enough of them, else every world_size-th record."""
        if len(self.paths) >= world_size:
            return chain.from_iterable(map(iter_entries, self.paths[rank::world_size]))
        return islice(chain.from_iterable(map(iter_entries, self.paths)), rank, None, world_size)

    def validate(self, record: Entry) -> tuple[str, str] | None:
        """(reason, message) for a record whose `text` is missing, not a string or empty; None when valid."""
        if record.problem:
            return record.problem
        if self.text_key not in record.data:
            return "missing_text", "missing"
        text = record.data[self.text_key]
        if not isinstance(text, str):
            return "non_string_text", f"expected a string, got {type(text).__name__} {text!r:.60}"
        if not text.strip():
            return "empty_text", "expected a non-empty string"
        return None

    def to_document(self, record: Entry) -> Document:
        data, text = record.data, record.data[self.text_key]
        name = PurePosixPath(record.path).name
        lang, domain = data.get("lang"), data.get("domain")
        return Document(
            text=text,
            id=str(data["id"]) if data.get("id") is not None else f"{name}:{record.line}",
            metadata={
                "lang": lang if isinstance(lang, str) and lang else detect_language(text, self.min_cjk_share),
                "domain": domain if isinstance(domain, str) and domain else self.default_domain,
                "source": f"{record.path}:{record.line}",
            },
        )

    def reject(self, record: Entry, reason: str, message: str, rank: int) -> None:
        error = RecordError(
            record.path, record.line, None if reason in ("invalid_json", "invalid_utf8") else self.text_key, message
        )
        if not self.skip:
            raise error
        raw = record.raw or json.dumps(record.data, ensure_ascii=False, default=repr)
        self.stat_update(f"removed_docs:{reason}")
        self.stat_update(f"removed_chars:{reason}", value=len(raw))
        metadata = {"source": f"{record.path}:{record.line}", "filter_reason": reason, "error": str(error)}
        self.rejects_writer.write(Document(text=raw, id=f"{record.path}:{record.line}", metadata=metadata), rank)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        with self.rejects_writer if self.rejects_writer else nullcontext():
            for record in self.shard(rank, world_size):
                with self.track_time():
                    self.stat_update("docs_in")
                    problem = self.validate(record)
                    if problem:
                        self.stat_update("chars_in", value=len(record.raw))
                        self.reject(record, *problem, rank=rank)
                        continue
                    doc = self.to_document(record)
                    self.stat_update("chars_in", value=len(doc.text))
                    self.stat_update("docs_out")
                    self.stat_update("chars_out", value=len(doc.text))
                yield doc
