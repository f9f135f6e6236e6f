"""Best-of-N (rejection sampling): the reward model picks the best of K answers per prompt as SFT data.

    python recipes/best_of_n.py --config recipes/tiny/best_of_n.yaml --policy outputs/tiny/sft \
        --reward_model outputs/tiny/reward --prompt_files outputs/tiny/data/rl/prompts.jsonl \
        --num_samples 4 --max_prompts 64 --output_dir outputs/tiny/best_of_n

Draws `max_prompts` of the RL prompts (seeded; prompts longer than `max_prompt_length` left out), samples
`num_samples` answers to each with the policy (its generation config, the XuanYuan system prompt first), scores
them with the reward model and keeps the best complete one (`xuanyuan.training.best_of_n`). Writes `sft.jsonl`
(chat records for `recipes/sft.py`), `pairs.jsonl` (best vs worst, for `recipes/reward.py` or DPO; `--pairs
false` skips it) and `best_of_n_summary.json` (mean reward of all samples vs the kept best, counts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from xuanyuan.chat_format import XUANYUAN_SYSTEM_PROMPT


@dataclass
class BestOfNArguments:
    policy: str = field(default="", metadata={"help": "Causal LM that answers (e.g. the SFT model)."})
    reward_model: str = field(default="", metadata={"help": "Trained reward model that scores the answers."})
    prompt_files: list[str] = field(default_factory=list, metadata={"help": "RL prompt JSONL files."})
    output_dir: str = "outputs/tiny/best_of_n"
    num_samples: int = field(default=4, metadata={"help": "K: answers sampled per prompt."})
    max_prompts: int | None = field(default=None, metadata={"help": "Prompts drawn (seeded); default all."})
    max_new_tokens: int = field(default=96, metadata={"help": "Answers cut off here (no EOS) are never kept."})
    max_prompt_length: int = 256
    batch_size: int = field(default=8, metadata={"help": "Prompts per generate call (× num_samples rows)."})
    cache_implementation: str | None = field(
        default="static",
        metadata={"help": "generate's KV cache: 'static' (allocated once, fast on CPU) or 'dynamic'."},
    )
    min_reward: float | None = field(default=None, metadata={"help": "Keep a best answer only above this score."})
    pairs: bool = field(default=True, metadata={"help": "Also write best vs worst as pairs.jsonl."})
    system_prompt: str | None = field(default=XUANYUAN_SYSTEM_PROMPT, metadata={"help": "Prepended to prompts."})
    seed: int = field(default=0, metadata={"help": "The prompt draw and the sampling."})


def main(args: BestOfNArguments) -> dict:
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, set_seed

    from xuanyuan.cli import write_result
    from xuanyuan.data.records import write_jsonl
    from xuanyuan.training.best_of_n import best_of_n_records, sample_candidates
    from xuanyuan.training.ppo.data import draw, encode_prompts, load_prompts, require_prompts

    if not (args.policy and args.reward_model and args.prompt_files):
        raise SystemExit("best_of_n.py needs --policy, --reward_model and --prompt_files")
    if args.num_samples < 1:
        raise SystemExit(f"--num_samples must be at least 1, got {args.num_samples}")
    tokenizer = AutoTokenizer.from_pretrained(args.policy)
    prompts = load_prompts(args.prompt_files, unique_ids=True)  # records are keyed by prompt id
    encoded, too_long = encode_prompts(prompts, tokenizer, args.system_prompt, args.max_prompt_length)
    require_prompts(encoded, args.prompt_files, 1, f"best-of-N ({too_long} over {args.max_prompt_length} tokens)")
    encoded = draw(encoded, args.max_prompts, args.seed)
    policy = AutoModelForCausalLM.from_pretrained(args.policy).eval()
    reward_model = AutoModelForSequenceClassification.from_pretrained(args.reward_model, num_labels=1).eval()
    set_seed(args.seed)
    candidates = sample_candidates(
        policy, reward_model, tokenizer, [item.ids for item in encoded], args.num_samples, args.max_new_tokens,
        args.batch_size, args.cache_implementation,
    )  # fmt: skip
    result = best_of_n_records(encoded, candidates, args.min_reward)
    if not result.sft:
        raise SystemExit(f"best-of-N kept no answer ({result.summary['dropped']}); lower --min_reward or raise "
                         "--max_new_tokens")  # fmt: skip
    output = Path(args.output_dir)
    write_jsonl(output / "sft.jsonl", result.sft)
    if args.pairs:
        write_jsonl(output / "pairs.jsonl", result.pairs)
    summary = result.summary | {"prompts_too_long": too_long, "config": asdict(args)}
    return write_result(output, "best_of_n_summary.json", summary)


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (arguments,) = parse_recipe_args([BestOfNArguments])
    main(arguments)
