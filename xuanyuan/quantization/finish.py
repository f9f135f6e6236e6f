"""After quantizing: measure, write the report and model card next to the checkpoint, optionally push."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..hub import write_model_card
from .card import push_folder, quantized_model_card
from .exam import ceval_scorer
from .report import ReportSettings, quality_report, write_report


@dataclass
class HubSettings:
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the checkpoint, reports and card."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub repo id, e.g. me/XuanYuan-Chat-4bit."})
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repo as private."})


def finish_checkpoint(
    model_path: str,
    output_dir: str | Path,
    method: dict,
    command: str,
    report: ReportSettings,
    hub: HubSettings,
    device: str = "cpu",
) -> dict:
    """Quality report (`quant_report.json/.md`) and model card (`README.md`) in `output_dir`; push if asked."""
    if hub.push_to_hub and not hub.hub_model_id:
        raise ValueError("push_to_hub needs hub_model_id (e.g. me/XuanYuan-Chat-4bit).")
    scorer = (
        ceval_scorer(report.exam_dir, report.exam_split, report.exam_num_fewshot, report.exam_scoring)
        if report.exam_dir
        else None
    )
    result = quality_report(model_path, str(output_dir), report, method, scorer, device)
    write_report(result, output_dir)
    write_model_card(output_dir, quantized_model_card(result, base_model=model_path, command=command))
    if hub.push_to_hub:
        result["hub_url"] = push_folder(output_dir, hub.hub_model_id, hub.hub_private)
    return result
