"""Filter RL prompts by the confidence interval of their reward-model scores (XuanYuan3).

    python recipes/filter_rl_prompts.py --sft_model outputs/tiny/sft --reward_model outputs/tiny/reward \
        --prompt_files outputs/tiny/data/rl/prompts.jsonl --output_dir outputs/tiny/rl_prompts

Samples `num_samples` responses per prompt (of all, or of a seeded draw of `max_prompts`) from the SFT model,
scores each with the reward model, then keeps prompts per `xuanyuan.training.ppo.prompt_filter`. Writes
`prompts.jsonl` (the kept records, unchanged), `dropped.jsonl` (id, category, reason, mean, std) and
`filter_report.json` / `.md`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from xuanyuan.chat_format import XUANYUAN_SYSTEM_PROMPT
from xuanyuan.training.ppo.prompt_filter import PromptFilterConfig


@dataclass
class FilterArguments(PromptFilterConfig):
    output_dir: str = "outputs/tiny/rl_prompts"
    sft_model: str = ""
    reward_model: str = ""
    prompt_files: list[str] = field(default_factory=list)
    max_prompts: int | None = field(
        default=None, metadata={"help": "Score only a seeded draw of this many prompts (file order kept); None: all."}
    )
    num_samples: int = 4
    max_new_tokens: int = 64
    max_prompt_length: int = 256
    batch_size: int = 8
    system_prompt: str | None = XUANYUAN_SYSTEM_PROMPT


def main(args: FilterArguments) -> dict:
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, set_seed

    from xuanyuan.data.records import iter_records
    from xuanyuan.training.best_of_n import sample_candidates
    from xuanyuan.training.ppo.data import draw, load_prompts, require_prompts, tokenize_prompts
    from xuanyuan.training.ppo.prompt_filter import PromptScores, select_prompts

    prompts = load_prompts(args.prompt_files, unique_ids=True)  # kept and dropped prompts are told apart by id
    require_prompts(prompts, args.prompt_files, 1, "the prompt filter")
    prompts_read = len(prompts)
    prompts = draw(prompts, args.max_prompts, args.seed)
    set_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.sft_model)
    policy = AutoModelForCausalLM.from_pretrained(args.sft_model).eval()
    reward_model = AutoModelForSequenceClassification.from_pretrained(args.reward_model, num_labels=1).eval()
    prompt_ids, too_long = tokenize_prompts(prompts, tokenizer, args.system_prompt, args.max_prompt_length)
    if too_long:
        raise SystemExit(f"{too_long} prompts exceed max_prompt_length={args.max_prompt_length}; raise it")
    candidates = sample_candidates(  # sampled with the SFT model's generation config, as best-of-N samples
        policy, reward_model, tokenizer, prompt_ids, args.num_samples, args.max_new_tokens, args.batch_size
    )
    items = [
        PromptScores(p.id, p.category, tuple(c.score for c in row)) for p, row in zip(prompts, candidates, strict=True)
    ]
    kept, dropped = select_prompts(items, args)

    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    kept_ids = {item.id for item in kept}
    by_id = {item.id: item for item in items}
    with open(output / "prompts.jsonl", "w", encoding="utf-8") as kept_file:
        for path in args.prompt_files:
            for record in iter_records(path):
                if str(record.data.get("id", f"{path}:{record.line}")) in kept_ids:
                    kept_file.write(json.dumps(record.data, ensure_ascii=False) + "\n")
    with open(output / "dropped.jsonl", "w", encoding="utf-8") as dropped_file:
        for prompt_id, reason in dropped.items():
            item = by_id[prompt_id]
            row = {"id": prompt_id, "category": item.category, "reason": reason, "mean": item.mean, "std": item.std}
            dropped_file.write(json.dumps(row, ensure_ascii=False) + "\n")
    report = {
        "prompts_read": prompts_read,
        "prompts_in": len(items),
        "prompts_kept": len(kept),
        "dropped_by_reason": dict(Counter(dropped.values())),
        "kept_by_category": dict(Counter(item.category for item in kept)),
        "in_by_category": dict(Counter(item.category for item in items)),
        "config": {k: v for k, v in asdict(args).items() if k in PromptFilterConfig.__dataclass_fields__},
    }
    (output / "filter_report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    lines = ["| category | in | kept |", "|---|---|---|"]
    lines += [f"| {c} | {n} | {report['kept_by_category'].get(c, 0)} |" for c, n in report["in_by_category"].items()]
    lines += ["", "| dropped because | prompts |", "|---|---|"]
    lines += [f"| {reason} | {n} |" for reason, n in report["dropped_by_reason"].items()]
    (output / "filter_report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return report


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (arguments,) = parse_recipe_args([FilterArguments])
    main(arguments)
