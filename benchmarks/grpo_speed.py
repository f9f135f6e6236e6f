"""GRPO steps/s and peak memory: the tiny recipe's settings vs TRL's `GRPOConfig` defaults, on the same work.

    python benchmarks/grpo_speed.py --model DIR --prompts DATA/rl/prompts.jsonl [--steps 6]

Ours: `recipes/tiny/grpo.yaml` as recipes/grpo.py parses it (β > 0, so a reference model runs and the KL is
measured; activation checkpointing off; its learning rate and schedule). Baseline: `GRPOConfig()`'s defaults
(β 0, activation checkpointing on, ...) with only what must match for identical work taken from ours: model,
prompts, reward functions and weights, generations per prompt, completion length, batch, steps, sampling
settings, seed, precision and threads. Both sides generate exactly `max_completion_length` tokens
(`min_new_tokens`), so every step samples and trains on as many tokens, and both log every step. Each side trains
in a process of its own per round, so its peak RSS is its own; rounds alternate which side goes first.
Before timing, both take one step in this process from the same weights and seed: they must sample the same
completions, so score the same reward, and compute the same loss (at the first step the policy is the reference,
so β·KL adds exactly 0).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from harness import MismatchError, Row, Section, Spread, bench_main, check_close, measure_rounds, peak_rss_mib
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, PrinterCallback, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

import xuanyuan  # noqa: F401  (registers the Auto classes)
from xuanyuan.tokenization import load_tokenizer
from xuanyuan.training.reward_functions import RewardModelScore, reward_functions

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from script_loading import load_script  # noqa: E402

RECIPE = ROOT / "recipes" / "tiny" / "grpo.yaml"
SHARED = ("per_device_train_batch_size", "gradient_accumulation_steps", "num_generations", "max_completion_length",
          "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "reward_weights", "max_steps", "seed",
          "bf16", "use_cpu")  # fmt: skip
SIDES = ("ours", "baseline")


def configs(args: argparse.Namespace, workdir: Path, steps: int) -> tuple:
    """The recipe's script arguments, and each side's GRPOConfig for `steps` steps."""
    recipe = load_script("recipes/grpo.py")
    argv = ["--config", str(RECIPE), "--model_name_or_path", args.model, "--reward_model", str(workdir / "rm"),
            "--prompt_files", args.prompts, "--output_dir", str(workdir / "ours"), "--max_steps", str(steps),
            "--report_to", "none", "--disable_tqdm", "true", "--logging_steps", "1"]  # fmt: skip
    script_args, ours, _ = recipe.parse_args(argv)
    ours.generation_kwargs = {"min_new_tokens": ours.max_completion_length}
    baseline = GRPOConfig(
        output_dir=str(workdir / "baseline"), report_to="none", disable_tqdm=True, logging_steps=1,
        save_strategy="no", generation_kwargs=ours.generation_kwargs, **{name: getattr(ours, name) for name in SHARED},
    )  # fmt: skip
    return recipe, script_args, {"ours": ours, "baseline": baseline}


def make_trainer(side: str, args: argparse.Namespace, workdir: Path, steps: int) -> GRPOTrainer:
    """One side's trainer: the recipe's prompts and reward functions, the model from `--model`."""
    recipe, script_args, config = configs(args, workdir, steps)
    tokenizer = load_tokenizer(args.model)
    dataset, _ = recipe.load_dataset(script_args, config["ours"], tokenizer)
    rm = AutoModelForSequenceClassification.from_pretrained(workdir / "rm", num_labels=1, dtype=torch.float32)
    scorer = RewardModelScore(rm, tokenizer, script_args.reward_batch_size)
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32),
        reward_funcs=reward_functions(script_args.reward_funcs, scorer, script_args.max_answer_chars),
        args=config[side], train_dataset=dataset, processing_class=tokenizer,
    )  # fmt: skip
    scorer.prepare(trainer.accelerator)
    trainer.remove_callback(PrinterCallback)  # keep the logs (checked below) off the terminal
    return trainer


class StepEnds(TrainerCallback):
    def __init__(self):
        self.times: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter())


def run_side(args: argparse.Namespace) -> None:
    """Child process: train one side for `--steps` steps; write steps/s (from the end of the first step to the
    end of the last), this process's peak RSS and the completion lengths seen to `--result`."""
    trainer = make_trainer(args.side, args, Path(args.workdir), args.steps)
    clock = StepEnds()
    trainer.add_callback(clock)
    trainer.train()
    rows = [row for row in trainer.state.log_history if "completions/min_length" in row]
    result = {
        "steps_per_second": (len(clock.times) - 1) / (clock.times[-1] - clock.times[0]),
        "peak_rss_mib": peak_rss_mib(),
        "lengths": sorted({row[key] for row in rows for key in ("completions/min_length", "completions/max_length")}),
        "steps": trainer.state.global_step,
    }
    Path(args.result).write_text(json.dumps(result), encoding="utf-8")


def child(side: str, args: argparse.Namespace, workdir: Path, length: int) -> dict:
    """One round of one side in a fresh process; its completions must all have been `length` tokens long."""
    result = workdir / f"{side}.json"
    command = [sys.executable, __file__, "--side", side, "--workdir", str(workdir), "--result", str(result),
               "--model", args.model, "--prompts", args.prompts, "--steps", str(args.steps),
               "--threads", str(args.threads)]  # fmt: skip
    subprocess.run(command, check=True, cwd=ROOT)
    measured = json.loads(result.read_text(encoding="utf-8"))
    if measured["lengths"] != [length] or measured["steps"] != args.steps:
        raise MismatchError(f"{side}: completion lengths {measured['lengths']}, {measured['steps']} steps")
    return measured


def same_first_step(args: argparse.Namespace, workdir: Path) -> str:
    """Both sides' first step from the same weights and seed: the same sampled rewards, the same loss."""
    rows = {}
    for side in SIDES:
        trainer = make_trainer(side, args, workdir, steps=1)
        trainer.train()
        rows[side] = next(row for row in trainer.state.log_history if "reward" in row)
    ours, baseline = rows["ours"], rows["baseline"]
    names = [key for key in ours if key.startswith("rewards/") and key.endswith("/mean")]
    if [ours[key] for key in names] != [baseline[key] for key in names] or ours["reward"] != baseline["reward"]:
        raise MismatchError(f"first-step rewards differ: {ours} vs {baseline}: the sides sampled differently")
    loss = check_close("first-step loss", torch.tensor(ours["loss"]), torch.tensor(baseline["loss"]), atol=1e-6)
    return f"first-step reward {ours['reward']:.4f} on both sides (every reward function equal); {loss}"


def run(args: argparse.Namespace) -> Section:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        torch.manual_seed(0)  # the reward model's value head starts random: save it once for every process
        rm = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=1, dtype=torch.float32)
        rm.save_pretrained(workdir / "rm")
        load_tokenizer(args.model).save_pretrained(workdir / "rm")
        _, script_args, config = configs(args, workdir, args.steps)
        ours, baseline = config["ours"], config["baseline"]
        check = same_first_step(args, workdir)
        length = ours.max_completion_length
        sides = {side: lambda s=side: child(s, args, workdir, length) for side in SIDES}
        values = measure_rounds(sides, args.repeats, args.warmup)
    rows = []
    measures = (("steps_per_second", "steps/s", "steps/s", True, ""),
                ("peak_rss_mib", "peak RSS", "MiB", False, "of the process that loads and trains one side, imports "
                 "included; ours also holds the reference model that β > 0 needs"))  # fmt: skip
    for key, name, unit, higher, note in measures:
        mine, theirs = [v[key] for v in values["ours"]], [v[key] for v in values["baseline"]]
        ratios = [(a / b) if higher else (b / a) for a, b in zip(mine, theirs, strict=True)]
        rows.append(Row(name, unit, Spread(mine).to_dict(), Spread(theirs).to_dict(), Spread(ratios).to_dict(), note))
    differences = []  # every option not the same on both sides (but the output folder and checkpointing's old alias)
    for name in (f.name for f in dataclasses.fields(ours)):
        a, b = getattr(ours, name), getattr(baseline, name)
        if a != b and name not in ("output_dir", "gradient_checkpointing"):
            differences.append(f"{name} {getattr(a, 'value', a)} vs {getattr(b, 'value', b)}")
    return Section(
        key="grpo_speed",
        title="GRPO: the tiny recipe's settings vs TRL's GRPOConfig defaults",
        baseline="TRL 1.16 `GRPOTrainer` with `GRPOConfig()` defaults except what identical work needs; where the "
        "settings differ (ours vs baseline): " + ", ".join(differences),
        matched_work=f"the same model (fp32 weights; its copy with a seeded random value head as the reward model), "
        f"the recipe's prompts (system prompt, max_prompt_length) and reward functions "
        f"({', '.join(f'{w} x {n}' for n, w in zip(script_args.reward_funcs, ours.reward_weights, strict=True))}), "
        f"{ours.num_generations} completions per "
        f"prompt, {ours.per_device_train_batch_size} completions per step, every completion exactly "
        f"{ours.max_completion_length} tokens, {args.steps} optimizer steps per round (steps/s from the end of the "
        f"first to the end of the last), sampling at temperature {ours.temperature}, seed {ours.seed}, "
        f"{'bf16' if ours.bf16 else 'fp32'}, {args.threads} threads; each side in its own process per round",
        check=check,
        rows=rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Causal LM folder (recipes/create_model.py), policy and RM.")
    parser.add_argument("--prompts", required=True, help="RL prompts JSONL (the embedded data's rl/prompts.jsonl).")
    parser.add_argument("--steps", type=int, default=6, help="Optimizer steps per round and side.")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # a child process's side
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    if "--side" in sys.argv:
        from harness import add_common_arguments, pin_threads

        args = add_common_arguments(parser).parse_args()
        pin_threads(args.threads)
        run_side(args)
        return
    bench_main(parser, run)


if __name__ == "__main__":
    main()
