"""Compare two models' exam results question by question (paired), e.g. after SFT against after pretraining.

    python eval/paired_exam.py --results outputs/tiny/eval/sft/exam_blank/results.json \\
        --baseline outputs/tiny/eval/pretrain/exam_blank/results.json \\
        --answers outputs/tiny/data/exam/answers.jsonl --output_dir outputs/tiny/eval/sft_vs_pretrain

Writes `paired.json`: both accuracies on the same questions, their difference with a 95% interval, the
questions only one model gets right, the exact McNemar p-value, and the sign-flip p-value over facts
(questions asking the same fact form one cluster; `--answers` names them, else each question is its own).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class PairedExamConfig:
    results: str = field(metadata={"help": "results.json of the model under test (eval/ceval.py)."})
    baseline: str = field(metadata={"help": "results.json of the baseline, same exam and split."})
    output_dir: str = field(metadata={"help": "Where paired.json goes."})
    answers: str | None = field(default=None, metadata={"help": "The exam's answers.jsonl (its `fact` clusters)."})


def main(config: PairedExamConfig) -> dict:
    from xuanyuan.cli import write_result
    from xuanyuan.evaluation.paired import compare, load_clusters, load_correctness

    split = json.loads(Path(config.results).read_text(encoding="utf-8"))["settings"]["split"]
    clusters = load_clusters(config.answers, split) if config.answers else None
    result = compare(load_correctness(config.results), load_correctness(config.baseline), clusters).to_dict()
    result |= {"results": config.results, "baseline": config.baseline, "split": split}
    return write_result(config.output_dir, "paired.json", result)


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (config,) = parse_recipe_args([PairedExamConfig])
    main(config)
