"""Reward-model evaluation on preference pairs: accuracy, reward scale, margins, per-category accuracy.

Works for any sequence-classification reward model (`num_labels=1`). Each response is rendered with the
chat template as in training (`xuanyuan.data.preferences`) and its reward is the model's pooled score,
i.e. the value at the last real token, the EOS. That only holds when the pad token differs from the EOS
(otherwise pooling by pad id lands before the EOS), so such a model/tokenizer pair is refused.
Pairs longer than `max_length` are skipped and counted, as RewardTrainer drops them: truncating would cut
off the EOS the reward is read at.

Definitions (margin = r(chosen) − r(rejected); std is the population std):
- accuracy = share of pairs with margin > `tie_tolerance`; ties (|margin| ≤ tolerance) are counted
  apart and are not correct; `accuracy_ties_half` counts each tie as half right;
- reward scale: distribution of all 2N rewards; `in_range` is true when its 5th and 95th percentiles lie
  in `scale_range` (the XuanYuan report kept its RM in [-1, 1]);
- the mean margin equals mean chosen reward − mean rejected reward (the report's selection criterion).
The reward-model recipe builds its per-epoch selection report on `evaluate_reward_model` and
`write_reward_report`.
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ..data.preferences import PreferencePair, encode_conversation
from ..utils.padding import longest_first, pad
from . import plots

STATS = ("mean", "std", "min", "p05", "median", "p95", "max")  # of a set of rewards or margins, in report order


@dataclass
class PairScores:
    """Rewards of the scored pairs, in input order."""

    ids: list[str]
    categories: list[str | None]
    strengths: list[int | None]
    chosen: list[float]
    rejected: list[float]
    skipped_too_long: int = 0


def check_padding(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> int:
    """The pad id to batch with (set on the model config when missing there); refuses pad == EOS and a model
    whose pooling looks for another pad id."""
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    if pad is None or pad == eos:
        raise ValueError(
            f"The tokenizer's pad token ({tokenizer.pad_token!r}) must exist and differ from its EOS "
            f"({tokenizer.eos_token!r}): the reward is read at the EOS, and pooling by pad id would skip it."
        )
    if getattr(model.config, "pad_token_id", None) not in (None, pad):
        raise ValueError(f"model.config.pad_token_id={model.config.pad_token_id} but the tokenizer pads with {pad}.")
    model.config.pad_token_id = pad
    return pad


@torch.no_grad()
def score_sequences(model: PreTrainedModel, sequences: list[list[int]], pad_token_id: int, batch_size: int = 16):
    """The pooled score (`logits[:, 0]`, fp32) of every token sequence, batched by length, right-padded."""
    device = next(model.parameters()).device
    scores = [0.0] * len(sequences)
    batches = list(longest_first([len(s) for s in sequences], batch_size))
    for rows in tqdm(batches, desc="reward", leave=False):
        input_ids, attention_mask = pad([sequences[i] for i in rows], pad_token_id)
        logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
        for index, score in zip(rows, logits[:, 0].float().tolist(), strict=True):
            scores[index] = score
    return scores


def score_pairs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: list[PreferencePair],
    batch_size: int = 16,
    max_length: int | None = None,
) -> PairScores:
    """Reward of the chosen and the rejected response of every pair (pairs over `max_length` skipped)."""
    pad_token_id = check_padding(model, tokenizer)
    model.eval()
    kept, sequences = [], []
    for pair in pairs:
        chosen = encode_conversation(tokenizer, pair.conversation(pair.chosen))
        rejected = encode_conversation(tokenizer, pair.conversation(pair.rejected))
        if max_length is None or max(len(chosen), len(rejected)) <= max_length:
            kept.append(pair)
            sequences += [chosen, rejected]
    not_eos = sum(ids[-1] != tokenizer.eos_token_id for ids in sequences)
    if not_eos:
        warnings.warn(f"{not_eos} of {len(sequences)} rendered responses do not end with the EOS token", stacklevel=2)
    scores = score_sequences(model, sequences, pad_token_id, batch_size)
    return PairScores(
        ids=[p.id for p in kept],
        categories=[p.category for p in kept],
        strengths=[p.strength for p in kept],
        chosen=scores[0::2],
        rejected=scores[1::2],
        skipped_too_long=len(pairs) - len(kept),
    )


def _stats(values: np.ndarray) -> dict:
    if values.size == 0:
        return dict.fromkeys(STATS)
    p05, median, p95 = np.percentile(values, [5, 50, 95])
    stats = (values.mean(), values.std(), values.min(), p05, median, p95, values.max())
    return {name: float(value) for name, value in zip(STATS, stats, strict=True)}


def _accuracy(margins: np.ndarray, tie_tolerance: float) -> dict:
    wins = int((margins > tie_tolerance).sum())
    ties = int((np.abs(margins) <= tie_tolerance).sum())
    n = int(margins.size)
    return {
        "num_pairs": n,
        "accuracy": wins / n if n else None,
        "correct": wins,
        "ties": ties,
        "wrong": n - wins - ties,
        "accuracy_ties_half": (wins + ties / 2) / n if n else None,
        "margin_mean": float(margins.mean()) if n else None,
    }


def summarize_rewards(
    scores: PairScores, scale_range: tuple[float, float] = (-1.0, 1.0), tie_tolerance: float = 0.0
) -> dict:
    """The report (see module docstring) as a JSON-ready dict."""
    chosen, rejected = np.asarray(scores.chosen, dtype=float), np.asarray(scores.rejected, dtype=float)
    margins, both = chosen - rejected, np.concatenate([chosen, rejected])
    rewards = _stats(both)
    low, high = scale_range
    rewards.update(
        range=[low, high],
        fraction_in_range=float(((both >= low) & (both <= high)).mean()) if both.size else None,
        in_range=bool(both.size and low <= rewards["p05"] and rewards["p95"] <= high),
    )
    report = _accuracy(margins, tie_tolerance)
    report.update(
        tie_tolerance=tie_tolerance,
        skipped_too_long=scores.skipped_too_long,
        reward=rewards,
        chosen_reward=_stats(chosen),
        rejected_reward=_stats(rejected),
        margin=_stats(margins),
    )
    for key, labels in (("per_category", scores.categories), ("per_strength", scores.strengths)):
        groups = defaultdict(list)
        for index, label in enumerate(labels):
            if label is not None:
                groups[str(label)].append(index)
        report[key] = {name: _accuracy(margins[rows], tie_tolerance) for name, rows in sorted(groups.items())}
    return report


def evaluate_reward_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: list[PreferencePair],
    batch_size: int = 16,
    max_length: int | None = None,
    scale_range: tuple[float, float] = (-1.0, 1.0),
    tie_tolerance: float = 0.0,
) -> tuple[dict, PairScores]:
    """Score every pair and summarize: (report dict, per-pair scores)."""
    scores = score_pairs(model, tokenizer, pairs, batch_size, max_length)
    return summarize_rewards(scores, scale_range, tie_tolerance), scores


def format_cell(value, digits: int = 4) -> str:
    """A report cell: "–" for a missing value, a float to `digits` decimals, anything else as `str` writes it."""
    return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def reward_report_markdown(report: dict, title: str = "Reward-model evaluation") -> str:
    lines = [
        f"# {title}",
        "",
        f"- pairs: {report['num_pairs']} (skipped as too long: {report['skipped_too_long']})",
        f"- accuracy: {format_cell(report['accuracy'])} ({report['correct']} right, {report['ties']} ties "
        f"(|margin| ≤ {report['tie_tolerance']}), {report['wrong']} wrong); ties as half: "
        f"{format_cell(report['accuracy_ties_half'])}",
        f"- margin chosen − rejected: mean {format_cell(report['margin']['mean'])}, "
        f"std {format_cell(report['margin']['std'])}",
        f"- rewards in {report['reward']['range']}: {format_cell(report['reward']['fraction_in_range'])} "
        f"(p05–p95 inside: {report['reward']['in_range']})",
        "",
        "| rewards | " + " | ".join(STATS) + " |",
        "|---|" + "---|" * len(STATS),
    ]
    for name in ("reward", "chosen_reward", "rejected_reward", "margin"):
        cells = " | ".join(format_cell(report[name][k]) for k in STATS)
        lines.append(f"| {name} | {cells} |")
    for key, header in (("per_category", "category"), ("per_strength", "label strength")):
        if report[key]:
            lines += ["", f"| {header} | pairs | accuracy | ties | margin mean |", "|---|---|---|---|---|"]
            for name, row in report[key].items():
                cells = [row["num_pairs"], format_cell(row["accuracy"]), row["ties"], format_cell(row["margin_mean"])]
                lines.append(f"| {name} | " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


def plot_margin_histogram(scores: PairScores, path: str | Path, title: str = "chosen − rejected reward") -> None:
    margins = np.asarray(scores.chosen) - np.asarray(scores.rejected)
    with plots.figure(path, (6, 4)) as (_, axis):
        axis.hist(margins, bins=40, color="tab:blue", alpha=0.8)
        axis.axvline(0.0, color="black", linewidth=1)
        axis.set_xlabel("reward margin")
        axis.set_ylabel("pairs")
        axis.set_title(title)


def write_reward_report(
    report: dict, scores: PairScores, output_dir: str | Path, prefix: str = "reward_eval", title: str | None = None
) -> dict[str, Path]:
    """`{prefix}.json`, `{prefix}.md`, `{prefix}_scores.jsonl` (one line per pair) and `{prefix}_margins.png`."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": output_dir / f"{prefix}.json",
        "markdown": output_dir / f"{prefix}.md",
        "scores": output_dir / f"{prefix}_scores.jsonl",
        "histogram": output_dir / f"{prefix}_margins.png",
    }
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    paths["markdown"].write_text(reward_report_markdown(report, title or "Reward-model evaluation"), encoding="utf-8")
    with open(paths["scores"], "w", encoding="utf-8") as handle:
        rows = zip(scores.ids, scores.categories, scores.strengths, scores.chosen, scores.rejected, strict=True)
        for pair_id, category, strength, chosen, rejected in rows:
            row = {"id": pair_id, "category": category, "strength": strength, "chosen": chosen, "rejected": rejected}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    plot_margin_histogram(scores, paths["histogram"])
    return paths
