"""`Metered`: wraps any order-preserving datatrove block and counts what went in and out of it.

The per-stage report needs documents and characters in and out of every stage, and per removal reason,
including for blocks we do not own (datatrove's MinHash filter, the perplexity and safety filters). The
wrapper watches the block's input and output streams: a document pulled in and not yet seen coming out when
a later document comes out (or the stream ends) was removed, with `doc.metadata["filter_reason"]` (set by
datatrove's filters when they write a removed document aside) or the stage's default reason. Documents that
come out without having gone in (repetitions from upsampling) are counted as added.
"""

from __future__ import annotations

from collections.abc import Iterator

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep


class Metered(PipelineStep):
    type = "📊 - STAGE"

    def __init__(self, stage: str, step: PipelineStep, default_reason: str = "filtered"):
        self.name = stage
        super().__init__()
        self.stage, self.step, self.default_reason = stage, step, default_reason

    def _count(self, label: str, doc: Document, chars: int | None = None) -> None:
        self.stat_update(f"docs_{label}")
        self.stat_update(f"chars_{label}", value=len(doc.text) if chars is None else chars)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        pending: dict[int, tuple[int, Document, int]] = {}  # id(doc) -> (order, doc, chars when it went in)
        order = 0

        def source() -> Iterator[Document]:
            nonlocal order
            for doc in data or ():
                self._count("in", doc)
                pending[id(doc)] = (order, doc, len(doc.text))
                order += 1
                yield doc

        def settle(before: int) -> None:
            for key, (position, doc, chars) in list(pending.items()):
                if position < before:
                    del pending[key]
                    reason = doc.metadata.get("filter_reason", self.default_reason)
                    self.stat_update(f"removed_docs:{reason}")
                    self.stat_update(f"removed_chars:{reason}", value=chars)

        for doc in self.step.run(source(), rank, world_size):
            entry = pending.pop(id(doc), None)
            if entry is None:
                self._count("added", doc)
            elif pending:
                settle(entry[0])
            self._count("out", doc)
            yield doc
        settle(order)
        self.stats.time_stats = self.step.stats.time_stats
        for key, value in self.step.stats.stats.items():
            self.stats[f"{self.stage}.{key}"] = value
