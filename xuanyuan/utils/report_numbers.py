"""Named numbers read from a pipeline report (report.json, or one stage's metrics) by a dotted path."""

from __future__ import annotations

from dataclasses import dataclass


def dotted_get(mapping: dict, dotted: str):
    """`mapping["a"]["b"]` for "a.b"; None when any part is missing."""
    value = mapping
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


@dataclass(frozen=True)
class ReportNumber:
    """One number a summary shows: where it is in report.json, its label, and its format."""

    path: str  # "stages.<stage>.seconds" or "stages.<stage>.metrics.<key>..."
    label: str
    format: str = "{}"

    def read(self, report: dict):
        """The value, or a `KeyError` naming the path."""
        value = dotted_get(report, self.path)
        if value is None:
            raise KeyError(f"the report has no {self.path!r} ({self.label})")
        return value
