"""The per-stage report: documents and characters in/out of every stage and per removal reason.

It is computed from the per-task stats files datatrove leaves in each executor's logging folder
(`stats/{task}.json`), so it covers every task, including tasks finished by an earlier, interrupted run.
"""

from __future__ import annotations

import json

from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep

COUNTERS = ("docs_in", "chars_in", "docs_out", "chars_out", "docs_added", "chars_added")


def _total(value) -> float:
    return value.get("total", 0) if isinstance(value, dict) else value


def collect_step_totals(logging_dirs: list[DataFolderLike]) -> dict[str, dict[str, float]]:
    """Step name → metric → total over every task of the given executors."""
    totals: dict[str, dict[str, float]] = {}
    for logging_dir in logging_dirs:
        folder = get_datafolder(logging_dir)
        if not folder.isdir("stats"):
            continue
        for name in folder.list_files("stats", glob_pattern="*.json"):
            with folder.open(name, "rt") as handle:
                for step in json.load(handle):
                    step_totals = totals.setdefault(step["name"].split(": ", 1)[-1], {})
                    for key, value in step["stats"].items():
                        step_totals[key] = step_totals.get(key, 0) + _total(value)
    return totals


def build_report(step_totals: dict[str, dict[str, float]], stages: list[str]) -> dict:
    """Per stage: counts in/out, removed and added, characters changed in place, and removals per reason."""
    report_stages, by_reason = [], {}
    for stage in stages:
        metrics = step_totals.get(stage, {})
        entry = {"stage": stage, **{key: int(metrics.get(key, 0)) for key in COUNTERS}, "removed": {}}
        for key, value in sorted(metrics.items()):
            if key.startswith("removed_docs:"):
                reason = key.split(":", 1)[1]
                chars = int(metrics.get(f"removed_chars:{reason}", 0))
                entry["removed"][reason] = {"docs": int(value), "chars": chars}
                by_reason[f"{stage}/{reason}"] = {"stage": stage, "reason": reason, "docs": int(value), "chars": chars}
        removed_docs = sum(item["docs"] for item in entry["removed"].values())
        removed_chars = sum(item["chars"] for item in entry["removed"].values())
        entry["docs_removed"], entry["chars_removed"] = removed_docs, removed_chars
        entry["chars_changed_in_place"] = entry["chars_in"] - removed_chars + entry["chars_added"] - entry["chars_out"]
        entry["details"] = {key: value for key, value in sorted(metrics.items()) if key.startswith(f"{stage}.")}
        report_stages.append(entry)
    first, last = (report_stages[0], report_stages[-1]) if report_stages else ({}, {})
    return {
        "documents_in": first.get("docs_in", 0),
        "documents_out": last.get("docs_out", 0),
        "characters_in": first.get("chars_in", 0),
        "characters_out": last.get("chars_out", 0),
        "stages": report_stages,
        "removed_by_reason": by_reason,
    }


def render_markdown(report: dict) -> str:
    lines = [
        "# Data pipeline report",
        "",
        f"Documents: {report['documents_in']} in → {report['documents_out']} out; "
        f"characters: {report['characters_in']} in → {report['characters_out']} out.",
        "",
        "| stage | docs in | docs out | removed | added | chars in | chars out | chars removed | chars edited |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in report["stages"]:
        lines.append(
            f"| {s['stage']} | {s['docs_in']} | {s['docs_out']} | {s['docs_removed']} | {s['docs_added']} | "
            f"{s['chars_in']} | {s['chars_out']} | {s['chars_removed']} | {s['chars_changed_in_place']} |"
        )
    lines += ["", "| stage | reason | docs | chars |", "|---|---|---:|---:|"]
    for item in report["removed_by_reason"].values():
        lines.append(f"| {item['stage']} | {item['reason']} | {item['docs']} | {item['chars']} |")
    extra = report.get("dedup")
    if extra:
        lines += ["", "MinHash: " + ", ".join(f"{key} {value}" for key, value in extra.items())]
    return "\n".join(lines) + "\n"


class StatsReport(PipelineStep):
    """Final single-task step: writes `stats.json` and `stats.md` into `output_dir`."""

    type = "📊 - STATS"
    name = "📝 Report"

    def __init__(self, output_dir: str, logging_dirs: list[str], stages: list[str], cluster_step: str | None):
        super().__init__()
        self.output_dir, self.logging_dirs = output_dir, logging_dirs
        self.stages, self.cluster_step = stages, cluster_step

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        totals = collect_step_totals(self.logging_dirs)
        report = build_report(totals, self.stages)
        if self.cluster_step:
            report["dedup"] = {key: int(value) for key, value in totals.get(self.cluster_step, {}).items()}
        folder = get_datafolder(self.output_dir)
        with folder.open("stats.json", "wt", encoding="utf-8") as handle:
            handle.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        with folder.open("stats.md", "wt", encoding="utf-8") as handle:
            handle.write(render_markdown(report))
