"""C-Eval-format exam accuracy of a checkpoint, through the project's multiple-choice scorer."""

from __future__ import annotations

from pathlib import Path

from ..evaluation import MCEvalConfig, run_mc_eval
from .report import ExamScorer


def ceval_scorer(exam_dir: str, split: str = "val", num_fewshot: int = 5, scoring: str = "letter") -> ExamScorer:
    """An `ExamScorer` running the C-Eval prompts (`xuanyuan.evaluation.mc_eval`) on `exam_dir`, by default with
    the official letter scoring (`scoring`: letter, cloze or blank).

    The checkpoint is loaded as saved, so bitsandbytes and GPTQ models are scored quantized; each run's
    `results.json` / `results.md` land in the folder the report gives it.
    """

    def score(model_path: str, output_dir: Path) -> dict:
        config = MCEvalConfig(
            model=model_path,
            output_dir=str(output_dir),
            benchmark="ceval",
            data_dir=exam_dir,
            split=split,
            num_fewshot=num_fewshot,
            scoring=scoring,
        )
        overall = run_mc_eval(config)["overall"]
        return {**overall, "results": str(Path(output_dir, "results.json"))}

    return score
