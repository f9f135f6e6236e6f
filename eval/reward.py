"""Reward-model evaluation on a preference test set: accuracy, reward scale, margins, per-category accuracy.

python eval/reward.py --model outputs/tiny/reward --data_files pairs.jsonl ranked.jsonl --split test \
    --output_dir outputs/tiny/eval/reward

`--split test` scores the same seeded prompt-level held-out split the reward recipe trains without
(`split_by_prompt`, 10% of prompts by default); `--split all` scores every pair of the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RewardEvalConfig:
    model: str = field(metadata={"help": "Sequence-classification reward model (folder or Hub id), num_labels=1."})
    data_files: list[str] = field(metadata={"help": "Preference JSONL files (pairs, ranked or chosen/rejected)."})
    output_dir: str = field(metadata={"help": "Where reward_eval.{json,md}, scores and the histogram go."})
    split: str = field(default="test", metadata={"help": "test, train (of the prompt-level split) or all."})
    test_fraction: float = field(default=0.1, metadata={"help": "Share of prompts held out as test."})
    split_seed: int = field(default=0, metadata={"help": "Seed of the prompt-level split."})
    keep_ties: bool = field(default=False, metadata={"help": "Keep A0/B0 near-tie pairs (dropped by default)."})
    on_bad_record: str = field(
        default="error", metadata={"help": "'error', or 'skip' (count it and write it to skipped_records.jsonl)."}
    )
    batch_size: int = field(default=16, metadata={"help": "Sequences per forward pass."})
    max_length: int | None = field(default=None, metadata={"help": "Skip (and count) pairs longer than this."})
    scale_range: list[float] = field(default_factory=lambda: [-1.0, 1.0], metadata={"help": "Expected reward range."})
    tie_tolerance: float = field(default=0.0, metadata={"help": "|margin| at or below this is a tie."})
    max_pairs: int | None = field(default=None, metadata={"help": "Score only the first N pairs of the split."})
    seed: int = field(default=0, metadata={"help": "Seeds a score head that the checkpoint lacks (a causal LM)."})
    device: str | None = field(default=None, metadata={"help": "cuda, cpu, …; default: cuda when available."})


def main(config: RewardEvalConfig) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification, set_seed

    from xuanyuan.data.preferences import load_preference_pairs, split_by_prompt
    from xuanyuan.evaluation.reward_report import evaluate_reward_model, write_reward_report
    from xuanyuan.tokenization import load_tokenizer

    if config.split not in {"train", "test", "all"}:
        raise ValueError(f"split must be train, test or all, got {config.split!r}")
    data = load_preference_pairs(config.data_files, not config.keep_ties, config.on_bad_record)
    output_dir = Path(config.output_dir)
    if data.skipped:
        data.write_skipped(output_dir / "skipped_records.jsonl")
    pairs = data.pairs
    if config.split != "all":
        train, test = split_by_prompt(pairs, config.test_fraction, config.split_seed)
        pairs = test if config.split == "test" else train
    pairs = pairs[: config.max_pairs]

    set_seed(config.seed)
    model = AutoModelForSequenceClassification.from_pretrained(config.model, num_labels=1, dtype=torch.float32)
    model.to(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    tokenizer = load_tokenizer(config.model)
    low, high = config.scale_range
    report, scores = evaluate_reward_model(
        model, tokenizer, pairs, config.batch_size, config.max_length, (low, high), config.tie_tolerance
    )
    report.update(
        model=config.model,
        split=config.split,
        dropped_ties=data.dropped_ties,
        skipped_records=len(data.skipped),
    )
    write_reward_report(report, scores, output_dir, title=f"Reward-model evaluation: {config.model} ({config.split})")
    print(json.dumps({k: v for k, v in report.items() if not isinstance(v, dict)}, indent=2, ensure_ascii=False))
    return report


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (config,) = parse_recipe_args([RewardEvalConfig])
    main(config)
