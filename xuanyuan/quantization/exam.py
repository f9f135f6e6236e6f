"""C-Eval-format exam accuracy of a checkpoint, through the project's multiple-choice scorer."""

from __future__ import annotations

from pathlib import Path

from .report import ExamScorer


def ceval_scorer(exam_dir: str, split: str = "val", num_fewshot: int = 0) -> ExamScorer:
    """An `ExamScorer` running `xuanyuan.evaluation.mc_eval` (official C-Eval letter protocol) on `exam_dir`.

    The checkpoint is loaded as saved, so bitsandbytes and GPTQ models are scored quantized.
    """
    try:
        from ..evaluation.mc_eval import MCEvalConfig, run_mc_eval
    except ImportError as error:
        raise ImportError(
            "Exam accuracy needs the multiple-choice scorer xuanyuan.evaluation.mc_eval; drop --exam_dir to skip it."
        ) from error

    def score(model_path: str, output_dir: Path) -> dict:
        config = MCEvalConfig(
            model=model_path,
            output_dir=str(output_dir),
            benchmark="ceval",
            data_dir=exam_dir,
            split=split,
            num_fewshot=num_fewshot,
        )
        overall = run_mc_eval(config)["overall"]
        return {**overall, "results": str(Path(output_dir, "results.json"))}

    return score
