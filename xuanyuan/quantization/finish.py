"""After quantizing: measure, write the report and model card next to the checkpoint, optionally push."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from ..hub import push_folder, write_model_card
from ..model_cards import invoked_command
from .bnb import default_device
from .card import quantized_model_card
from .exam import ceval_scorer
from .report import ReportSettings, quality_report, write_report


@dataclass
class HubSettings:
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the checkpoint, reports and card."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub repo id, e.g. me/XuanYuan-Chat-4bit."})
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub repo as private."})


def finish_checkpoint(recipe: object, method: dict, report: ReportSettings, hub: HubSettings) -> dict:
    """After a quantize/ recipe (`recipe`: its settings, with `model` and `output_dir`) has written the
    checkpoint: its settings (`quantize_recipe.yaml`), quality report (`quant_report.json/.md`, printed) and
    model card (`README.md`) next to it; pushed to the Hub if asked."""
    if hub.push_to_hub and not hub.hub_model_id:
        raise ValueError("push_to_hub needs hub_model_id (e.g. me/XuanYuan-Chat-4bit).")
    output_dir = Path(recipe.output_dir)
    settings = {**asdict(recipe), **asdict(report), **asdict(hub)}
    (output_dir / "quantize_recipe.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    scorer = (
        ceval_scorer(report.exam_dir, report.exam_split, report.exam_num_fewshot, report.exam_scoring)
        if report.exam_dir
        else None
    )
    result = quality_report(recipe.model, str(output_dir), report, method, scorer, default_device())
    write_report(result, output_dir)
    card = quantized_model_card(result, recipe.model, invoked_command(), hub.hub_model_id)
    write_model_card(output_dir, card)
    if hub.push_to_hub:
        result["hub_url"] = push_folder(output_dir, hub.hub_model_id, hub.hub_private, "Upload quantized checkpoint")
    print((output_dir / "quant_report.md").read_text(encoding="utf-8"))
    return result
