"""Output and set-aside writers: clean shards (`text`, `id`, `lang`, `domain`) as JSONL.gz or parquet, and the
documents each stage removed, with the stage and reason.

gzip normally stamps the write time into every file; the `gzip_fixed` compression registered here writes
mtime 0 and no file name, so re-running on the same input gives byte-identical shards.
"""

from __future__ import annotations

import gzip

import fsspec.compression
import orjson
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.disk_base import DiskWriter
from datatrove.pipeline.writers.jsonl import JsonlWriter

OUTPUT_FIELDS = ("text", "id", "lang", "domain")
ASIDE_METADATA = ("source", "bad_keywords", "removed_lines", "error", "repeat")


def _fixed_gzip(infile, mode="rb", **kwargs):
    return gzip.GzipFile(filename="", fileobj=infile, mode=mode, mtime=0, **kwargs)


if "gzip_fixed" not in fsspec.compression.compr:
    fsspec.compression.register_compression("gzip_fixed", _fixed_gzip, extensions=[])


def output_record(self, doc: Document) -> dict:
    """The record pretraining consumes."""
    return {"text": doc.text, "id": doc.id, "lang": doc.metadata.get("lang"), "domain": doc.metadata.get("domain")}


def aside_record(self, doc: Document) -> dict:
    """A removed document: the output fields plus where it came from, which stage removed it and why."""
    record = output_record(self, doc)
    record["stage"] = self.stage
    record["reason"] = doc.metadata.get("filter_reason", self.default_reason)
    record.update({key: doc.metadata[key] for key in ASIDE_METADATA if key in doc.metadata})
    return record


class AsideWriter(JsonlWriter):
    """Writes one stage's removed documents to `{folder}/{task}.jsonl.gz`."""

    def __init__(self, output_folder: DataFolderLike, stage: str, default_reason: str = "filtered"):
        super().__init__(
            output_folder, output_filename="${rank}.jsonl.gz", compression="gzip_fixed", adapter=aside_record
        )
        self.stage, self.default_reason = stage, default_reason


def output_writer(output_folder: DataFolderLike, output_format: str) -> DiskWriter:
    """Shard writer for the clean corpus: `jsonl.gz` (deterministic gzip), `jsonl` or `parquet`."""
    if output_format == "jsonl.gz":
        return JsonlWriter(output_folder, "${rank}.jsonl.gz", compression="gzip_fixed", adapter=output_record)
    if output_format == "jsonl":
        return JsonlWriter(output_folder, "${rank}.jsonl", compression=None, adapter=output_record)
    if output_format == "parquet":
        import pyarrow as pa
        from datatrove.pipeline.writers.parquet import ParquetWriter

        schema = pa.schema([(name, pa.string()) for name in OUTPUT_FIELDS])
        return ParquetWriter(output_folder, "${rank}.parquet", adapter=output_record, schema=schema)
    raise ValueError(f"output_format must be 'jsonl.gz', 'jsonl' or 'parquet', got {output_format!r}")


class TaskShardReader(PipelineStep):
    """Reads back the intermediate shard that the same task wrote in an earlier stage (`{task:05d}.jsonl`),
    in the same order, so MinHash positions line up with documents."""

    type = "📖 - READER"
    name = "🔁 Task shard"

    def __init__(self, folder: DataFolderLike):
        super().__init__()
        self.folder = get_datafolder(folder)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        name = f"{rank:05d}.jsonl"
        if not self.folder.isfile(name):
            return
        with self.folder.open(name, "rb") as handle:
            for line in handle:
                record = orjson.loads(line)
                yield Document(text=record["text"], id=record["id"], metadata=record.get("metadata", {}))


def intermediate_record(self, doc: Document) -> dict:
    """What `TaskShardReader` reads back (datatrove's default adapter would deep-copy the whole document)."""
    return {"text": doc.text, "id": doc.id, "metadata": doc.metadata}


def intermediate_writer(folder: DataFolderLike) -> JsonlWriter:
    return JsonlWriter(folder, "${rank}.jsonl", compression=None, adapter=intermediate_record)
