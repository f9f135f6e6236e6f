"""Compare two models' answers (e.g. PPO vs SFT) with a judge asked twice, order swapped.

python eval/compare.py --predictions outputs/tiny/eval/ppo/predictions.jsonl \
    --baseline_predictions outputs/tiny/eval/sft/predictions.jsonl --judge reward_model \
    --judge_model outputs/tiny/reward --output_dir outputs/tiny/eval/ppo_vs_sft

Reads the predictions.jsonl files of eval/generation.py (matched by id). Writes comparison.json / .md
(good / same / bad, win rate), verdicts.jsonl, and rater_sheet.csv + rater_key.csv for three human raters.
`--judge llm --judge_model openai:<model>@<base_url>` asks a chat model behind an OpenAI-compatible server
(`python -m xuanyuan.serve`, vLLM) and reads its verdict from the reply's text (`ReplyJudge`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CompareConfig:
    predictions: str = field(metadata={"help": "predictions.jsonl of the model under test."})
    baseline_predictions: str = field(metadata={"help": "predictions.jsonl of the baseline, same ids."})
    judge_model: str = field(
        metadata={"help": "Reward model (judge=reward_model), or causal LM or openai:<model>@<base_url> (judge=llm)."}
    )
    output_dir: str = field(metadata={"help": "Where the comparison and rater sheet go."})
    judge: str = field(default="reward_model", metadata={"help": "reward_model or llm."})
    model_name: str = field(default="model", metadata={"help": "Name of the model under test in the reports."})
    baseline_name: str = field(default="baseline", metadata={"help": "Name of the baseline in the reports."})
    batch_size: int = field(default=8, metadata={"help": "Sequences per judge forward pass."})
    tie_tolerance: float = field(default=0.0, metadata={"help": "Score differences at or below this are ties."})
    seed: int = field(default=0, metadata={"help": "Seed of the rater sheet's answer order."})
    device: str | None = field(default=None, metadata={"help": "cuda, cpu, …; default: cuda when available."})


def read_predictions(path: str) -> dict[str, dict]:
    from xuanyuan.data.records import RecordError, iter_records, require_text

    rows = {}
    for record in iter_records(path):
        item_id = require_text(record, "id")
        if not isinstance(record.data.get("prediction"), str):  # may be empty: a model can answer nothing
            raise RecordError(path, record.line, "prediction", "expected a string")
        if not isinstance(record.data.get("prompt"), list):
            raise RecordError(path, record.line, "prompt", "expected the list of prompt messages")
        if item_id in rows:
            raise RecordError(path, record.line, "id", f"duplicate id {item_id!r}")
        rows[item_id] = record.data
    return rows


def build_judge(config: CompareConfig):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    from xuanyuan.data.synthesis.generators import OPENAI, build_generator
    from xuanyuan.evaluation.judge import LLMJudge, ReplyJudge, RewardModelJudge
    from xuanyuan.tokenization import load_tokenizer

    if config.judge_model.startswith(f"{OPENAI}:"):
        if config.judge != "llm":
            raise ValueError(f"a judge behind a server ({config.judge_model}) needs judge=llm, got {config.judge!r}")
        return ReplyJudge(build_generator(config.judge_model))
    tokenizer = load_tokenizer(config.judge_model)
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if config.judge == "reward_model":
        auto = AutoModelForSequenceClassification.from_pretrained
        model = auto(config.judge_model, num_labels=1, dtype=torch.float32).to(device)
        return RewardModelJudge(model, tokenizer, config.batch_size, config.tie_tolerance)
    if config.judge == "llm":
        model = AutoModelForCausalLM.from_pretrained(config.judge_model, dtype=torch.float32).to(device)
        return LLMJudge(model, tokenizer, config.batch_size, tie_tolerance=config.tie_tolerance)
    raise ValueError(f"judge must be reward_model or llm, got {config.judge!r}")


def main(config: CompareConfig) -> dict:
    from xuanyuan.evaluation.judge import pairwise_compare, write_rater_sheet

    model_rows, baseline_rows = read_predictions(config.predictions), read_predictions(config.baseline_predictions)
    if set(model_rows) != set(baseline_rows):
        missing = sorted(set(model_rows) ^ set(baseline_rows))[:5]
        raise ValueError(f"{config.predictions} and {config.baseline_predictions} differ in ids, e.g. {missing}")
    ids = list(model_rows)
    for item_id in ids:
        if model_rows[item_id]["prompt"] != baseline_rows[item_id]["prompt"]:
            raise ValueError(f"id {item_id!r} has different prompts in the two prediction files")
    prompts = [model_rows[i]["prompt"] for i in ids]
    answers = [model_rows[i]["prediction"] for i in ids]
    baseline = [baseline_rows[i]["prediction"] for i in ids]

    judge = build_judge(config)
    comparison = pairwise_compare(judge, prompts, answers, baseline)
    summary = comparison.summary()
    if hasattr(judge, "score"):  # a reward model: also the mean reward of each side on these prompts
        for side, side_answers in (("model", answers), ("baseline", baseline)):
            rewards = judge.score(prompts, side_answers)
            summary[f"mean_reward_{side}"] = sum(rewards) / len(rewards) if rewards else None
    if hasattr(judge, "unparsed"):  # a judge reading replies: how many named neither answer (counted as ties)
        summary["unparsed_verdicts"] = judge.unparsed
    summary.update(model=config.model_name, baseline=config.baseline_name, judge=config.judge,
                   judge_model=config.judge_model)  # fmt: skip

    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "comparison.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), "utf-8")
    with open(output_dir / "verdicts.jsonl", "w", encoding="utf-8") as handle:
        for item in zip(ids, comparison.forward, comparison.backward, comparison.outcomes, strict=True):
            row = dict(zip(("id", "forward", "backward", "outcome"), item, strict=True))
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    write_rater_sheet(
        output_dir / "rater_sheet.csv", output_dir / "rater_key.csv", ids, prompts,
        {config.model_name: answers, config.baseline_name: baseline}, comparison.outcomes, config.seed,
    )  # fmt: skip
    markdown = (
        f"# {config.model_name} vs {config.baseline_name} (judge: {config.judge}, {config.judge_model})\n\n"
        "| items | good | same | bad | inconsistent | win rate | decided win rate |\n|---|---|---|---|---|---|---|\n"
        f"| {summary['num_items']} | {summary['good']} | {summary['same']} | {summary['bad']} | "
        f"{summary['inconsistent']} | {summary['win_rate']:.3f} | "
        + ("–" if summary["decided_win_rate"] is None else f"{summary['decided_win_rate']:.3f}")
        + " |\n"
    )
    (output_dir / "comparison.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    return summary


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (config,) = parse_recipe_args([CompareConfig])
    main(config)
