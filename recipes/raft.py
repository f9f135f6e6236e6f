"""RAFT (reward-ranked fine-tuning, Dong et al. 2023): rounds of best-of-N sampling and SFT on the kept best.

    python recipes/raft.py --config recipes/tiny/raft.yaml --policy outputs/tiny/sft \
        --reward_model outputs/tiny/reward --prompt_files outputs/tiny/data/rl/prompts.jsonl \
        --output_dir outputs/tiny/raft

Round N draws `prompts_per_round` prompts (seed + N: a different draw each round), lets the current policy answer
each `num_samples` times and keeps the reward model's pick, the top 1/K (`recipes/best_of_n.py`; with
`min_reward`, only picks scoring above it), then fine-tunes the policy on them (`recipes/sft.py` with
`sft_config`); the result is the next round's policy. Round N's kept data and model are `round-N/best_of_n/` and
`round-N/model/`; the last model is copied into `output_dir` itself, next to `raft_summary.json` (per round:
prompts, kept, mean reward of the samples and of the kept, SFT loss; the samples' mean reward in the first and
last round). Every command is known before the first one
runs (a round's draw depends on the seed alone), so all rounds are one pipeline for recipes/run_pipeline.py
(`output_dir/pipeline.yaml`, one runner start for the whole run): a rerun after an interruption skips the finished
stages and, sampling being seeded per round, ends with the same model as an uninterrupted run.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stage_runner import ROOT, python, run_stages


@dataclass
class RAFTArguments:
    policy: str = field(default="outputs/tiny/sft", metadata={"help": "The first round's policy (the SFT model)."})
    reward_model: str = "outputs/tiny/reward"
    prompt_files: list[str] = field(default_factory=lambda: ["outputs/tiny/data/rl/prompts.jsonl"])
    output_dir: str = "outputs/tiny/raft"
    rounds: int = 2
    prompts_per_round: int = 32
    num_samples: int = field(default=4, metadata={"help": "K: answers per prompt; the best one is kept."})
    max_new_tokens: int = field(default=96, metadata={"help": "Answers cut off here (no EOS) are never kept."})
    min_reward: float | None = field(default=None, metadata={"help": "Keep a prompt's best only above this score."})
    best_of_n_config: str = str(ROOT / "recipes/tiny/best_of_n.yaml")
    sft_config: str = str(ROOT / "recipes/tiny/raft_sft.yaml")
    sft_overrides: str = field(default="", metadata={"help": "Extra sft.py flags, e.g. '--max_steps 2'."})
    seed: int = field(default=0, metadata={"help": "Round N draws its prompts and samples with seed + N."})


def round_stages(args: RAFTArguments, number: int, policy: str, folder: Path) -> list[dict]:
    """Round `number`: best-of-N with `policy` on its own draw of prompts, then SFT of `policy` on the kept."""
    threshold = [] if args.min_reward is None else ["--min_reward", str(args.min_reward)]
    best_of_n = python("recipes/best_of_n.py", "--config", args.best_of_n_config, "--policy", policy,
                       "--reward_model", args.reward_model, "--prompt_files", *args.prompt_files,
                       "--num_samples", str(args.num_samples), "--max_prompts", str(args.prompts_per_round),
                       "--max_new_tokens", str(args.max_new_tokens), "--seed", str(args.seed + number),
                       "--pairs", "false", *threshold, "--output_dir", str(folder / "best_of_n"))  # fmt: skip
    sft = python("recipes/sft.py", "--config", args.sft_config, "--model_name_or_path", policy,
                 "--train_files", str(folder / "best_of_n/sft.jsonl"), "--output_dir", str(folder / "model"),
                 *shlex.split(args.sft_overrides))  # fmt: skip
    metrics = {
        "best_of_n": str(folder / "best_of_n/best_of_n_summary.json"),
        "sft": str(folder / "model/sft_metrics.json"),
    }
    return [
        {"name": f"round{number}_best_of_n", "command": best_of_n, "metrics": metrics["best_of_n"],
         "description": f"round {number}: best of {args.num_samples} by the reward model",
         "summary": ["prompts", "kept", "reward_mean_samples", "reward_mean_kept"]},
        {"name": f"round{number}_sft", "command": sft, "metrics": metrics["sft"],
         "description": f"round {number}: SFT on the kept answers", "summary": ["train_loss", "train_steps"]},
    ]  # fmt: skip


def round_summary(number: int, policy: str, folder: Path) -> dict:
    best_of_n = json.loads((folder / "best_of_n/best_of_n_summary.json").read_text(encoding="utf-8"))
    sft = json.loads((folder / "model/sft_metrics.json").read_text(encoding="utf-8"))
    keys = ("prompts", "kept", "complete_share", "reward_mean_samples", "reward_mean_kept")
    return {"round": number, "policy": policy, **{key: best_of_n[key] for key in keys},
            "sft_train_loss": sft["train_loss"], "sft_steps": sft["train_steps"]}  # fmt: skip


def main(args: RAFTArguments) -> dict:
    from xuanyuan.model_cards import config_options, write_training_card

    if args.rounds < 1 or args.num_samples < 1:
        raise SystemExit(f"--rounds and --num_samples must be at least 1, got {args.rounds} and {args.num_samples}")
    output = Path(args.output_dir).resolve()
    policies = [args.policy] + [str(output / f"round-{n}/model") for n in range(1, args.rounds + 1)]
    folders = [output / f"round-{n}" for n in range(1, args.rounds + 1)]
    stages = [stage for n, folder in enumerate(folders, 1) for stage in round_stages(args, n, policies[n - 1], folder)]
    run_stages(output, stages, args.seed)

    final = folders[-1] / "model"
    for path in final.iterdir():  # the model, tokenizer and generation config, loadable from output_dir itself
        if path.is_file():
            shutil.copy2(path, output / path.name)
    rounds = [round_summary(n, policies[n - 1], folder) for n, folder in enumerate(folders, 1)]
    summary = {"total_rounds": args.rounds, "final_model": str(output), "rounds": rounds,
               "reward_first_round": rounds[0]["reward_mean_samples"],
               "reward_last_round": rounds[-1]["reward_mean_samples"]}  # fmt: skip
    (output / "raft_summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    (output / "raft_config.json").write_text(json.dumps(asdict(args), indent=2), encoding="utf-8")
    configs = [*config_options(sys.argv[1:]), args.best_of_n_config, args.sft_config]
    write_training_card(output, "raft", summary, base_model=args.policy, datasets=args.prompt_files, configs=configs)
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return summary


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (arguments,) = parse_recipe_args([RAFTArguments])
    main(arguments)
