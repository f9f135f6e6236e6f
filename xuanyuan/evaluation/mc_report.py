"""Multiple-choice results: per question, per subject, per category and overall; JSON, Markdown and PNG charts.

Accuracies are reported two ways, as both are in use: `accuracy` is the mean over subjects of the subject
accuracies (the official C-Eval/CMMLU average; a category's is the mean over its subjects), and
`question_accuracy` is correct answers over all questions. Every question of the scored split is in the
denominator: there is no "could not parse the answer" case, since the prediction is an argmax over four scores.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from . import plots
from .mc_data import LETTERS, MCSubject
from .mc_requests import MCRequest

CHANCE = 1 / len(LETTERS)


@dataclass
class QuestionResult:
    subject: str
    id: str
    prediction: str
    answer: str
    probabilities: dict[str, float]  # softmax over the four option scores
    scores: list[float]  # option scores A-D (letter: log-probabilities; else per-character log-likelihoods)
    num_shots: int
    truncated: bool

    @property
    def correct(self) -> bool:
        return self.prediction == self.answer


def question_results(subject: str, requests: list[MCRequest], scores: torch.Tensor) -> list[QuestionResult]:
    probabilities = scores.double().softmax(dim=-1)
    return [
        QuestionResult(
            subject=subject,
            id=request.question.id,
            prediction=LETTERS[int(scores[i].argmax())],
            answer=request.question.answer,
            probabilities={letter: round(float(p), 6) for letter, p in zip(LETTERS, probabilities[i], strict=True)},
            scores=[float(s) for s in scores[i]],
            num_shots=request.num_shots,
            truncated=request.truncated,
        )
        for i, request in enumerate(requests)
    ]


def summarize(results: list[QuestionResult], subjects: list[MCSubject], category_order: tuple[str, ...] = ()) -> dict:
    """`subjects`, `categories` and `overall` sections of results.json (subjects in the given order)."""
    by_subject: dict[str, list[QuestionResult]] = {subject.name: [] for subject in subjects}
    for result in results:
        by_subject[result.subject].append(result)
    subject_rows = {}
    for subject in subjects:
        answered = by_subject[subject.name]
        if len(answered) != len(subject.questions):
            raise ValueError(f"{subject.name}: {len(answered)} results for {len(subject.questions)} questions")
        correct = sum(r.correct for r in answered)
        subject_rows[subject.name] = {
            "name_zh": subject.name_zh,
            "categories": list(subject.categories),
            "num_questions": len(answered),
            "num_correct": correct,
            "accuracy": correct / len(answered),
        }
    present = {category for subject in subjects for category in subject.categories}
    order = [c for c in category_order if c in present] + sorted(present - set(category_order))
    categories = {c: _aggregate([row for row in subject_rows.values() if c in row["categories"]]) for c in order}
    return {"subjects": subject_rows, "categories": categories, "overall": _aggregate(list(subject_rows.values()))}


def binomial_tail(successes: int, trials: int, p: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, p), exactly."""
    return sum(math.comb(trials, k) * p**k * (1 - p) ** (trials - k) for k in range(successes, trials + 1))


def _aggregate(rows: list[dict]) -> dict:
    questions = sum(row["num_questions"] for row in rows)
    correct = sum(row["num_correct"] for row in rows)
    return {
        "accuracy": sum(row["accuracy"] for row in rows) / len(rows),
        "question_accuracy": correct / questions,
        "num_subjects": len(rows),
        "num_questions": questions,
        # one-sided exact binomial test of the question accuracy against guessing among four options
        "p_value_vs_chance": binomial_tail(correct, questions, CHANCE),
    }


def markdown_report(report: dict) -> str:
    """results.md: run settings, the category table and the subject table."""
    settings = report["settings"]
    lines = [
        f"# {settings['benchmark']} — {settings['model']}",
        "",
        f"Split `{settings['split']}`, {settings['num_fewshot']}-shot, chat template: {settings['chat_template']}, "
        f"scoring `{settings['scoring']}`: {settings['scoring_description']}.",
        "`accuracy` is the mean over subjects; `question accuracy` is over all questions; `p vs chance` is the "
        "one-sided exact binomial test of the question accuracy against guessing (1 in 4).",
        "",
        "| category | accuracy | question accuracy | subjects | questions | p vs chance |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in [*report["categories"].items(), ("**overall**", report["overall"])]:
        lines.append(f"| {name} | {row['accuracy']:.4f} | {row['question_accuracy']:.4f} | "
                     f"{row['num_subjects']} | {row['num_questions']} | {row['p_value_vs_chance']:.2g} |")  # fmt: skip
    lines += ["", "| subject | name | categories | accuracy | correct / questions |", "|---|---|---|---:|---:|"]
    for name, row in report["subjects"].items():
        lines.append(f"| {name} | {row['name_zh']} | {', '.join(row['categories'])} | {row['accuracy']:.4f} | "
                     f"{row['num_correct']} / {row['num_questions']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def plot_charts(report: dict, output_dir: Path) -> list[Path]:
    """categories.png (a bar per category and overall) and subjects.png (a bar per subject); 0.25 = chance.
    Names no installed font can draw (FinanceIQ's subjects are Chinese) become "subject 1", "subject 2", ..."""
    settings = report["settings"]
    title = f"{settings['benchmark']} {settings['split']}, {settings['num_fewshot']}-shot, {settings['scoring']}"
    charts = []
    groups = {"categories": {**report["categories"], "overall": report["overall"]}, "subjects": report["subjects"]}
    for chart, rows in groups.items():
        fallback = "category" if chart == "categories" else "subject"
        labels = [plots.readable(name, f"{fallback} {i + 1}") for i, name in enumerate(rows)]
        path = output_dir / f"{chart}.png"
        with plots.figure(path, (plots.MIN_WIDTH, 3.6)) as (figure, axes):
            axes.bar(range(len(rows)), [row["accuracy"] for row in rows.values()], color="tab:blue")
            axes.axhline(0.25, color="gray", linestyle="--", linewidth=1, label="chance (0.25)")
            plots.label_bars(figure, axes, labels)
            axes.set_ylim(0, 1)
            axes.set_ylabel("accuracy (mean over subjects)" if chart == "categories" else "accuracy")
            axes.set_title(f"{title}: {chart}")
            plots.legend_beside(axes)
        charts.append(path)
    return charts


def write_report(report: dict, results: list[QuestionResult], output_dir: str | Path) -> dict[str, Path]:
    """results.json (the report plus every question), results.md and the PNG charts."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": output_dir / "results.json", "markdown": output_dir / "results.md"}
    full = {**report, "questions": [asdict(result) for result in results]}
    paths["json"].write_text(json.dumps(full, ensure_ascii=False, indent=2), encoding="utf-8")
    paths["markdown"].write_text(markdown_report(report), encoding="utf-8")
    for path in plot_charts(report, output_dir):
        paths[path.stem] = path
    return paths
