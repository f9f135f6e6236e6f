"""PEI-RLHF (XuanYuan3): pre-train → evaluate → improve, a recipe of recipes.

    python recipes/pei_rlhf.py [--max_iterations 3 --ppo_overrides '--max_steps 8' ...]   (after the main job: its
    defaults are the main job's SFT model, reward model, reward report and prompts under outputs/tiny/)

Each iteration: draw the RL prompt set from the sub-domain ratios; run `recipes/ppo.py` from the SFT
model with the current β (large at first); answer held-out prompts with the PPO actor
(`eval/generation.py`) and compare against the SFT model's answers with the reward model as judge,
order swapped (`eval/compare.py`); per sub-domain, quality = RM accuracy (from `eval/reward.py`'s
report) × PPO gain (win rate − loss rate); bucket good / medium / poor, re-weight the ratios, lower β;
stop when the ratios settle, the gain stalls or the iterations run out. Every iteration's ratios, β,
buckets and metrics go to `pei_history.json`. As in the XuanYuan3 report, each iteration continues from
the previous iteration's policy (the first from the SFT model) with a smaller β, while the KL term keeps
the SFT model as its reference (`ppo.py --reference_model`), so β bounds the drift from SFT over all rounds;
the critic starts again from the reward model each round (ppo.py saves the actor only). Every answer is
judged against the SFT model's. The final policy is the last iteration's `ppo/`, named in `pei_history.json`.
Every iteration's stages run through the pipeline runner (`iteration-N/pipeline.yaml`: logs, report, and a
rerun skips what already finished).
"""

from __future__ import annotations

import json
import random
import shlex
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stage_runner import ROOT, python, run_stages

from xuanyuan.training.ppo.pei import PEIConfig


@dataclass
class PEIArguments(PEIConfig):
    output_dir: str = "outputs/tiny/pei"
    ppo_config: str = str(ROOT / "recipes/tiny/ppo.yaml")
    sft_model: str = "outputs/tiny/sft"
    reward_model: str = "outputs/tiny/reward"
    reward_report: str = field(
        default="outputs/tiny/eval/reward/reward_eval.json", metadata={"help": "eval/reward.py"}
    )
    prompt_files: list[str] = field(default_factory=lambda: ["outputs/tiny/rl_prompts/prompts.jsonl"])
    prompts_per_iteration: int = 200
    eval_files: list[str] = field(default_factory=lambda: ["outputs/tiny/data/sft/test.jsonl"])
    eval_max_new_tokens: int = 48
    eval_max_examples: int = 48
    ppo_overrides: str = field(default="", metadata={"help": "Extra ppo.py flags, e.g. '--max_steps 8'."})
    seed: int = 0


def answers_stage(name: str, model: str, args: PEIArguments, folder: Path) -> dict:
    command = python("eval/generation.py", "--model", model, "--data_files", *args.eval_files,
                     "--output_dir", str(folder), "--max_new_tokens", str(args.eval_max_new_tokens),
                     "--max_examples", str(args.eval_max_examples))  # fmt: skip
    return {"name": name, "command": command, "metrics": str(folder / "generation_metrics.json")}


def iteration_stages(
    args: PEIArguments, folder: Path, prompts: Path, kl_coef: float, policy: str, sft_answers: Path
) -> list:
    """One PEI iteration: PPO from `policy` (anchored to the SFT model) on the drawn prompts, its answers, and the
    judge's verdicts against the SFT model's answers."""
    ppo = python("recipes/ppo.py", "--config", args.ppo_config, "--sft_model", policy,
                 "--reference_model", args.sft_model, "--reward_model", args.reward_model,
                 "--prompt_files", str(prompts), "--new_prompt_share", "-1",
                 "--kl_coef", str(kl_coef), "--output_dir", str(folder / "ppo"),
                 *shlex.split(args.ppo_overrides))  # fmt: skip
    compare = python("eval/compare.py", "--predictions", str(folder / "answers/predictions.jsonl"),
                     "--baseline_predictions", str(sft_answers / "predictions.jsonl"), "--judge", "reward_model",
                     "--judge_model", args.reward_model, "--model_name", folder.name, "--baseline_name", "sft",
                     "--output_dir", str(folder / "compare"))  # fmt: skip
    return [
        {"name": "ppo", "command": ppo, "metrics": str(folder / "ppo/ppo_summary.json")},
        answers_stage("answers", str(folder / "ppo"), args, folder / "answers"),
        {"name": "compare", "command": compare, "metrics": str(folder / "compare/comparison.json")},
    ]


def draw_prompts(records: list[dict], ratios: dict[str, float], total: int, seed: int) -> list[dict]:
    """`total` prompts with sub-domain shares `ratios`; small sub-domains repeat (upsampling)."""
    rng = random.Random(seed)
    by_category = defaultdict(list)
    for record in records:
        by_category[record.get("category", "general")].append(record)
    drawn = []
    for category, ratio in sorted(ratios.items()):
        pool, wanted = by_category[category], round(total * ratio)
        repeats, rest = divmod(wanted, len(pool))
        drawn += pool * repeats + rng.sample(pool, rest)
    return drawn


def gains_by_category(compare_dir: Path, predictions: Path) -> dict[str, float]:
    """Win rate − loss rate of the PPO model per sub-domain, from eval/compare.py's verdicts."""
    from xuanyuan.data.records import iter_records

    category = {r.data["id"]: r.data.get("category") or "general" for r in iter_records(predictions)}
    tally = defaultdict(Counter)
    for record in iter_records(compare_dir / "verdicts.jsonl"):
        tally[category[record.data["id"]]][record.data["outcome"]] += 1
    return {name: (c["good"] - c["bad"]) / sum(c.values()) for name, c in tally.items()}


def rm_accuracy_by_category(report_path: str) -> dict[str, float]:
    report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    return {name: row["accuracy"] or 0.0 for name, row in report.get("per_category", {}).items()}


def main(args: PEIArguments) -> list[dict]:
    from xuanyuan.data.records import iter_records
    from xuanyuan.training.ppo.pei import next_kl_coef, pei_step, should_stop

    output = Path(args.output_dir).resolve()
    records = [r.data for path in args.prompt_files for r in iter_records(path)]
    counts = Counter(record.get("category", "general") for record in records)
    ratios = {name: n / sum(counts.values()) for name, n in counts.items()}
    rm_accuracy = rm_accuracy_by_category(args.reward_report)
    kl_coef, history, gains, policy = args.initial_kl_coef, [], [], args.sft_model

    sft_answers = output / "sft_answers"
    run_stages(output / "sft", [answers_stage("sft_answers", args.sft_model, args, sft_answers)], args.seed)
    for iteration in range(1, args.max_iterations + 1):
        folder = output / f"iteration-{iteration}"
        folder.mkdir(parents=True, exist_ok=True)
        prompts = folder / "prompts.jsonl"
        drawn = draw_prompts(records, ratios, args.prompts_per_iteration, args.seed + iteration)
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in drawn)
        if not prompts.exists() or prompts.read_text(encoding="utf-8") != text:  # unchanged: a rerun reuses PPO
            prompts.write_text(text, encoding="utf-8")
        run_stages(folder, iteration_stages(args, folder, prompts, kl_coef, policy, sft_answers), args.seed)
        policy = str(folder / "ppo")
        gain = gains_by_category(folder / "compare", folder / "answers/predictions.jsonl")
        new_ratios, buckets, quality = pei_step(ratios, rm_accuracy, gain, args)
        summary = json.loads((folder / "compare/comparison.json").read_text(encoding="utf-8"))
        gains.append(summary["win_rate"])
        stop = should_stop(ratios, new_ratios, gains, args)
        history.append({"iteration": iteration, "kl_coef": kl_coef, "policy": policy, "ratios": ratios, "gain": gain,
                        "rm_accuracy": rm_accuracy, "quality": quality, "buckets": buckets,
                        "win_rate": summary["win_rate"], "next_ratios": new_ratios, "stop": stop})  # fmt: skip
        (output / "pei_history.json").write_text(json.dumps(history, ensure_ascii=False, indent=2), "utf-8")
        if stop:
            print(f"PEI stops after iteration {iteration}: {stop}")
            break
        ratios, kl_coef = new_ratios, next_kl_coef(kl_coef, args)
    (output / "pei_config.json").write_text(json.dumps(asdict(args), indent=2), encoding="utf-8")
    return history


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (arguments,) = parse_recipe_args([PEIArguments])
    main(arguments)
