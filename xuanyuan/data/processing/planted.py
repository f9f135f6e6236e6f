"""What the pipeline caught of the defects planted in the embedded corpus (`pretrain/planted.jsonl`).

Each planted record names a document and a kind. The checks look at the run's output and set-aside files
directly, independently of the code that did the cleaning (e.g. traditional text: no character left that
OpenCC would still convert; duplicates: one of the pair removed by the dedup stage).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import regex

from xuanyuan.data.records import check_unique_id, iter_entries, iter_records, resolve_sources

# Kind → what a kept document of that kind must no longer contain to count as caught.
_LEFTOVER_DEFECT = {
    "whitespace": regex.compile(r"[\t\u3000]|  |\n{3,}|[ \t]\n"),
    "halfwidth_punct": regex.compile(r"\p{Han}[,;:?!]|[,;:?!(]\p{Han}|\p{Han}[.)]|%\.\p{Han}"),
    "repeated_symbols": regex.compile(r"([\p{P}\p{S}])\1{2,}"),
}


def load_run(output_dir: str | Path) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """(id → output text, id → (stage, reason) of removed documents) of a finished run; an id must be unique."""
    seen = {}

    def unique_records(pattern: str) -> Iterator[dict]:
        for path in sorted(Path(output_dir).glob(pattern)):
            for record in iter_records(path):
                check_unique_id(seen, record, record.data["id"])
                yield record.data

    kept = {data["id"]: data["text"] for data in unique_records("data/*")}
    removed = {data["id"]: (data["stage"], data["reason"]) for data in unique_records("removed/*/*.jsonl*")}
    return kept, removed


def planted_report(planted_file: str, inputs: list[str], output_dir: str) -> dict:
    import opencc

    t2s = opencc.OpenCC("t2s")
    kept, removed = load_run(output_dir)
    raw_ids = {entry.data.get("id") for path in resolve_sources(inputs) for entry in iter_entries(path) if entry.data}
    per_kind: dict[str, Counter] = {}
    for item in (record.data for record in iter_records(planted_file)):
        doc_id, kind, detail = item["id"], item["kind"], item.get("detail", "")
        counts = per_kind.setdefault(kind, Counter())
        counts["planted"] += 1
        if doc_id not in raw_ids:
            counts["not_in_input"] += 1
            continue
        stage = removed.get(doc_id, ("kept",))[0] if doc_id not in kept else "kept"
        counts[f"outcome:{stage}"] += 1
        text = kept.get(doc_id)
        if kind in ("near_duplicate", "exact_duplicate"):
            caught = "dedup" in (removed.get(doc_id, ("",))[0], removed.get(detail, ("",))[0])
        elif kind == "numeric_variant":
            caught = doc_id in kept and detail in kept
        elif kind in ("spam", "noise"):
            caught = doc_id not in kept
        elif text is None:
            counts["removed_before_check"] += 1
            continue
        elif kind == "traditional":
            caught = t2s.convert(text) == text
        elif kind in _LEFTOVER_DEFECT:
            caught = not _LEFTOVER_DEFECT[kind].search(text)
        else:
            counts["unknown_kind"] += 1
            continue
        counts["caught" if caught else "missed"] += 1
    summary = {
        kind: f"{counts['caught']}/{counts['caught'] + counts['missed']} caught"
        for kind, counts in sorted(per_kind.items())
    }
    return {"summary": summary, "kinds": {kind: dict(sorted(c.items())) for kind, c in sorted(per_kind.items())}}
