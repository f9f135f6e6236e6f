"""Reward-model selection report: every epoch checkpoint scored on every test set, as XuanYuan picks its RM.

The XuanYuan report chose the reward model for PPO by its test accuracy (63%), the margin between mean
chosen and mean rejected reward (0.5) and a reward scale kept within [-1, 1]. `CheckpointEvaluator` (a
Trainer callback) scores the live model with `evaluate_reward_model` on each test set each time an epoch
checkpoint is saved; `write_selection_report` writes `rm_report.json`, `rm_report.md` and the plots:
the training curve of the chosen − rejected margin (mean and variance per step) and histograms of the
margin distribution as training goes on (training pairs by step window, test pairs by checkpoint).

Selection rule, on the selection test set: the most accurate checkpoints (within `ACCURACY_TOLERANCE` of
the best) are eligible; among them those whose rewards lie in the configured range come first; then the
highest accuracy (then the larger mean margin). A reward scale in range only decides between checkpoints
that rank pairs about equally well: in the main job a general-stage checkpoint at 0.40-0.51 finance
accuracy, in range, used to beat the finance stage at 0.84. Eligible checkpoints all out of range are
flagged in the report.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback

from ..data.preferences import PreferencePair
from . import plots
from .reward_report import evaluate_reward_model, format_cell

ACCURACY_TOLERANCE = 0.02  # accuracies this close count as equal when the reward range decides
_fmt = partial(format_cell, digits=3)  # cells of the selection report


@dataclass
class CheckpointEvaluation:
    stage: str
    epoch: float
    step: int  # optimizer steps since the start of the first stage
    checkpoint: str
    reports: dict[str, dict]  # test set -> evaluate_reward_model report
    margins: dict[str, list[float]]  # test set -> chosen - rejected per pair

    def to_dict(self) -> dict:
        return {
            "stage": self.stage,
            "epoch": self.epoch,
            "step": self.step,
            "checkpoint": self.checkpoint,
            "test_sets": self.reports,
        }


@dataclass
class SelectionLog:
    """What the report is built from: checkpoint evaluations and per-step training margins, over all stages."""

    evaluations: list[CheckpointEvaluation] = field(default_factory=list)
    train_margins: dict[int, list[float]] = field(default_factory=dict)  # global step -> margins of its pairs
    stage_starts: dict[str, int] = field(default_factory=dict)  # stage -> global step before its first step

    def add_train_margins(self, stage: str, offset: int, history: dict[int, list[float]]) -> None:
        self.stage_starts[stage] = offset
        for step, margins in history.items():
            self.train_margins[offset + step] = list(margins)


@contextmanager
def saved_precision(model: PreTrainedModel) -> Iterator[None]:
    """Run `model` as saved, without the autocast that accelerate wraps around `forward` under `bf16`/`fp16`
    (it keeps the unwrapped method as `_original_forward`). A checkpoint is then scored as `eval/reward.py`
    scores it after loading; under autocast a near-tie pair can come out the other way."""
    original = model.__dict__.get("_original_forward")
    if original is None:
        yield
        return
    wrapped = model.forward
    model.forward = original
    try:
        yield
    finally:
        model.forward = wrapped


@dataclass
class CheckpointEvaluator(TrainerCallback):
    """After each checkpoint save, score the model on every test set and append it to `log`."""

    log: SelectionLog
    stage: str
    step_offset: int  # optimizer steps of the earlier stages
    test_sets: dict[str, list[PreferencePair]]
    tokenizer: PreTrainedTokenizerBase
    batch_size: int = 16
    max_length: int | None = None
    scale_range: tuple[float, float] = (-1.0, 1.0)

    def on_save(self, args, state, control, model=None, **kwargs):
        reports, margins = {}, {}
        with saved_precision(model):
            for name, pairs in self.test_sets.items():
                reports[name], scores = evaluate_reward_model(
                    model, self.tokenizer, pairs, self.batch_size, self.max_length, self.scale_range
                )
                margins[name] = (np.asarray(scores.chosen) - np.asarray(scores.rejected)).tolist()
        model.train()
        checkpoint = str(Path(args.output_dir, f"checkpoint-{state.global_step}"))
        step = self.step_offset + state.global_step
        self.log.evaluations.append(
            CheckpointEvaluation(self.stage, round(state.epoch or 0.0, 4), step, checkpoint, reports, margins)
        )


def select_checkpoint(evaluations: list[CheckpointEvaluation], test_set: str) -> dict:
    """The checkpoint to hand to PPO by the rule in the module docstring."""
    if not evaluations:
        raise ValueError("no checkpoint was evaluated: save at least one checkpoint (save_strategy='epoch')")
    top = max(e.reports[test_set]["accuracy"] or 0.0 for e in evaluations)
    eligible = [e for e in evaluations if (e.reports[test_set]["accuracy"] or 0.0) >= top - ACCURACY_TOLERANCE]
    in_range = [e for e in eligible if e.reports[test_set]["reward"]["in_range"]]
    pool = in_range or eligible
    best = max(pool, key=lambda e: (e.reports[test_set]["accuracy"] or 0.0, e.reports[test_set]["margin"]["mean"]))
    return {
        "checkpoint": best.checkpoint,
        "stage": best.stage,
        "epoch": best.epoch,
        "step": best.step,
        "test_set": test_set,
        "accuracy": best.reports[test_set]["accuracy"],
        "margin_mean": best.reports[test_set]["margin"]["mean"],
        "reward_in_range": bool(in_range),
    }


def margin_curve(train_margins: dict[int, list[float]]) -> list[dict]:
    """Per training step: number of pairs, mean and (population) variance of chosen − rejected."""
    rows = []
    for step in sorted(train_margins):
        values = np.asarray(train_margins[step], dtype=float)
        rows.append({"step": step, "pairs": values.size, "mean": float(values.mean()), "var": float(values.var())})
    return rows


def selection_markdown(report: dict) -> str:
    selected = report["selected"]
    low, high = report["scale_range"]
    lines = [
        "# Reward-model selection report",
        "",
        f"Selected for PPO: `{selected['checkpoint']}` (stage {selected['stage']}, epoch {selected['epoch']}): "
        f"accuracy {_fmt(selected['accuracy'])}, margin {_fmt(selected['margin_mean'])} on the "
        f"{selected['test_set']} test set"
        + (
            "."
            if selected["reward_in_range"]
            else f"; no checkpoint within {ACCURACY_TOLERANCE} of the best accuracy kept its rewards in "
            f"[{low}, {high}]."
        ),
        "The XuanYuan report's RM: accuracy 0.63, margin 0.5, rewards within [-1, 1].",
        "",
        "| stage | epoch | step | test set | pairs | accuracy | margin mean | margin std | reward p05 | "
        f"reward p95 | in [{low}, {high}] |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in report["checkpoints"]:
        for name, r in entry["test_sets"].items():
            cells = [entry["stage"], entry["epoch"], entry["step"], name, r["num_pairs"], _fmt(r["accuracy"])]
            cells += [_fmt(r["margin"]["mean"]), _fmt(r["margin"]["std"]), _fmt(r["reward"]["p05"])]
            cells += [_fmt(r["reward"]["p95"]), "yes" if r["reward"]["in_range"] else "**no**"]
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    categories = sorted({c for e in report["checkpoints"] for r in e["test_sets"].values() for c in r["per_category"]})
    if categories:
        lines += ["", "Accuracy per category (pairs of all test sets of the category):", ""]
        lines += ["| stage | epoch | " + " | ".join(categories) + " |", "|---|---|" + "---|" * len(categories)]
        for entry in report["checkpoints"]:
            per = {c: r["per_category"][c] for r in entry["test_sets"].values() for c in r["per_category"]}
            cells = [_fmt(per[c]["accuracy"]) if c in per else "–" for c in categories]
            lines.append(f"| {entry['stage']} | {entry['epoch']} | " + " | ".join(cells) + " |")
    lines += ["", "Plots: `margin_curve.png`, `margin_histograms.png`."]
    return "\n".join(lines) + "\n"


def _mark_stages(axes, stage_starts: dict[str, int], last_step: int) -> None:
    """A dotted line where each later stage starts; stage names above the top panel, centred on their steps."""
    starts = sorted(stage_starts.items(), key=lambda item: item[1])
    ends = [start for _, start in starts[1:]] + [last_step]
    for _, start in starts[1:]:
        for axis in axes:
            axis.axvline(start, color="grey", linewidth=0.8, linestyle=":")
    names = axes[0].secondary_xaxis("top")
    centres = [(start + end) / 2 for (_, start), end in zip(starts, ends, strict=True)]
    names.set_xticks(centres, [plots.readable(stage, f"stage {i + 1}") for i, (stage, _) in enumerate(starts)])
    names.tick_params(length=0)


def plot_margin_curve(curve: list[dict], stage_starts: dict[str, int], log: SelectionLog, path: Path) -> None:
    steps = [row["step"] for row in curve]
    with plots.figure(path, (9, 6), nrows=2, sharex=True) as (figure, (top, bottom)):
        top.plot(steps, [row["mean"] for row in curve], color="tab:blue", linewidth=0.8, label="training pairs")
        for name in sorted({n for e in log.evaluations for n in e.reports}):
            points = [(e.step, e.reports[name]["margin"]["mean"]) for e in log.evaluations]
            top.plot(*zip(*points, strict=True), marker="o", linestyle="--", label=f"{name} test set")
        bottom.plot(steps, [row["var"] for row in curve], color="tab:orange", linewidth=0.8)
        _mark_stages((top, bottom), stage_starts, steps[-1] if steps else 0)
        top.axhline(0.0, color="black", linewidth=0.6)
        top.set_ylabel("margin mean")
        plots.legend_beside(top)
        bottom.set_ylabel("margin variance")
        bottom.set_xlabel("optimizer step")
        figure.suptitle("chosen − rejected reward during training")


def _shared_bins(groups: list[list[float]], count: int) -> np.ndarray:
    """Common bin edges, so the histograms of one panel compare bar for bar."""
    values = np.asarray([v for group in groups for v in group] or [0.0])
    low, high = float(values.min()), float(values.max())
    return np.linspace(low, high if high > low else low + 1.0, count + 1)


def plot_margin_histograms(log: SelectionLog, path: Path, windows: int = 4) -> None:
    """Top row: training margins in `windows` equal step windows; below: each test set per checkpoint."""
    from matplotlib import colormaps

    test_sets = sorted({n for e in log.evaluations for n in e.reports})
    steps = sorted(log.train_margins)
    chunks = [c for c in np.array_split(np.asarray(steps), min(windows, len(steps))) if c.size]
    colors = colormaps["viridis"](np.linspace(0, 0.9, max(len(chunks), len(log.evaluations), 1)))
    windows = [[m for s in chunk for m in log.train_margins[int(s)]] for chunk in chunks]
    size = (9, 3 * (1 + len(test_sets)))
    with plots.figure(path, size, nrows=1 + len(test_sets), squeeze=False) as (figure, axes):
        bins = _shared_bins(windows, 40)
        for color, chunk, values in zip(colors, chunks, windows, strict=False):
            axes[0, 0].hist(values, bins=bins, histtype="step", color=color, label=f"steps {chunk[0]}–{chunk[-1]}")
        axes[0, 0].set_title("training pairs")
        for row, name in enumerate(test_sets, start=1):
            bins = _shared_bins([e.margins[name] for e in log.evaluations], 30)
            for color, entry in zip(colors, log.evaluations, strict=False):
                label = f"{entry.stage} epoch {entry.epoch:g} (step {entry.step})"
                axes[row, 0].hist(entry.margins[name], bins=bins, histtype="step", color=color, label=label)
            axes[row, 0].set_title(f"{name} test set")
        for axis in axes[:, 0]:
            axis.axvline(0.0, color="black", linewidth=0.6)
            axis.set_ylabel("pairs")
            plots.legend_beside(axis)
        axes[-1, 0].set_xlabel("chosen − rejected reward")


def write_selection_report(
    log: SelectionLog, output_dir: str | Path, selection_test_set: str, scale_range: tuple[float, float]
) -> dict:
    """Write rm_report.json, rm_report.md, margin_curve.png and margin_histograms.png; return the report."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    curve = margin_curve(log.train_margins)
    report = {
        "selected": select_checkpoint(log.evaluations, selection_test_set),
        "scale_range": list(scale_range),
        "stage_starts": log.stage_starts,
        "checkpoints": [e.to_dict() for e in log.evaluations],
        "train_margin_curve": curve,
    }
    (output_dir / "rm_report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    (output_dir / "rm_report.md").write_text(selection_markdown(report), encoding="utf-8")
    plot_margin_curve(curve, log.stage_starts, log, output_dir / "margin_curve.png")
    plot_margin_histograms(log, output_dir / "margin_histograms.png")
    return report
