"""PPO step time of this project's trainer, split into generation, scoring and update; no peer to race.

    python benchmarks/ppo_step_time.py --model DIR --prompts DATA/rl/prompts.jsonl [--response_length 32]

TRL removed its PPOTrainer in 1.13, so there is no maintained PPO implementation to compare with on this stack.
The section reports our step's parts (median and range over steps after the warm-up) and, for scale, TRL's
GRPOTrainer doing the same number of generated tokens and optimizer updates: a different algorithm, no ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from harness import MismatchError, Row, Section, Spread, bench_main
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, PrinterCallback, TrainerCallback

import xuanyuan  # noqa: F401  (registers the Auto classes)
from xuanyuan.tokenization import load_tokenizer
from xuanyuan.training.ppo import PPOConfig, PPOTrainer
from xuanyuan.training.ppo.data import load_prompts, tokenize_prompts

ROLLOUT, MINI_BATCH, TEMPERATURE = 8, 4, 0.7  # responses per step; 2 mini-batches of 4, 1 epoch


def timed(owner, name: str, log: list[float]) -> None:
    """Wrap `owner.name` so that every call appends its duration to `log`."""
    method = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        result = method(*args, **kwargs)
        log.append(time.perf_counter() - start)
        return result

    setattr(owner, name, wrapper)


def ours(args: argparse.Namespace, prompts: list[list[int]], workdir: Path) -> dict[str, list[float]]:
    """Seconds of each part of every PPO step; warm-up steps dropped."""
    tokenizer = load_tokenizer(args.model)
    steps = args.warmup + args.repeats
    config = PPOConfig(
        output_dir=str(workdir / "ppo"), rollout_batch_size=ROLLOUT, mini_batch_size=MINI_BATCH,
        max_new_tokens=args.response_length, temperature=TEMPERATURE, top_k=0, top_p=1.0, max_steps=steps,
        save_steps=10**9, logging_steps=10**9, use_cpu=True, report_to="none",
    )  # fmt: skip
    reward = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=1)
    critic = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=1)
    actor, reference = (AutoModelForCausalLM.from_pretrained(args.model) for _ in range(2))
    trainer = PPOTrainer(config, actor, critic, reward, tokenizer, prompts, reference=reference)
    trainer.generation_kwargs["min_new_tokens"] = args.response_length  # every response is exactly this long
    log = {"generate": [], "rollout": [], "update": [], "actor updates": [], "critic updates": []}
    timed(trainer.accelerator.unwrap_model(trainer.actor), "generate", log["generate"])
    timed(trainer, "make_rollout", log["rollout"])
    timed(trainer, "train_on_rollout", log["update"])
    timed(trainer.actor_optimizer, "step", log["actor updates"])
    timed(trainer.critic_optimizer, "step", log["critic updates"])
    history = trainer.train()
    lengths = {row["response/length"] for row in history}
    updates = (len(log["actor updates"]), len(log["critic updates"]))
    if lengths != {args.response_length} or updates != (2 * steps, 2 * steps):
        raise MismatchError(f"PPO: response lengths {lengths}, actor/critic updates {updates} over {steps} steps")
    parts = {
        "generation": log["generate"],
        "scoring (reward, actor, reference, critic forwards; GAE)": [
            r - g for r, g in zip(log["rollout"], log["generate"], strict=True)
        ],
        "update (2 mini-batches: actor and critic forward + backward + step)": log["update"],
        "whole step": [row["time/step_seconds"] for row in history],
    }
    return {name: values[args.warmup :] for name, values in parts.items()}


class RoundClock(TrainerCallback):
    """Seconds of every optimizer step, from the end of the previous one."""

    def __init__(self):
        self.times: list[float] = []

    def on_step_begin(self, args, state, control, **kwargs):
        if not self.times:
            self.times.append(time.perf_counter())

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter())


def grpo(args: argparse.Namespace, prompts: list[list[dict]], workdir: Path) -> list[float]:
    """Seconds per GRPO round (8 completions generated and scored, then 2 optimizer steps of 4); warm-up dropped."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    rounds = args.warmup + args.repeats
    config = GRPOConfig(
        output_dir=str(workdir / "grpo"), per_device_train_batch_size=MINI_BATCH, steps_per_generation=2,
        num_generations=2, max_completion_length=args.response_length, temperature=TEMPERATURE, top_k=0,
        generation_kwargs={"min_new_tokens": args.response_length}, beta=0.05, max_steps=2 * rounds,
        use_cpu=True, bf16=False, report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True,
    )  # fmt: skip
    clock = RoundClock()
    trainer = GRPOTrainer(
        model=args.model,
        reward_funcs=AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=1),
        args=config,
        train_dataset=Dataset.from_dict({"prompt": prompts[: 4 * rounds]}),
        processing_class=load_tokenizer(args.model),
        callbacks=[clock],
    )
    trainer.remove_callback(PrinterCallback)  # keep the logs (checked below) off the terminal
    trainer.train()
    lengths = {(log["completions/min_length"], log["completions/max_length"]) for log in trainer.state.log_history
               if "completions/min_length" in log}  # fmt: skip
    if lengths != {(args.response_length, args.response_length)} or trainer.state.global_step != 2 * rounds:
        raise MismatchError(f"GRPO: completion lengths {lengths}, {trainer.state.global_step} steps for {rounds}")
    steps = [end - start for start, end in zip(clock.times, clock.times[1:], strict=False)]
    return [a + b for a, b in zip(steps[::2], steps[1::2], strict=True)][args.warmup :]


def run(args: argparse.Namespace) -> Section:
    records = load_prompts([args.prompts])
    tokenizer = load_tokenizer(args.model)
    prompt_ids, _ = tokenize_prompts(records, tokenizer, None, max_length=256)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        parts = ours(args, prompt_ids, Path(tmp))
        reference = grpo(args, [r.messages for r in records], Path(tmp)) if args.grpo else None
    rows = [Row(name, "s", Spread(values).to_dict()) for name, values in parts.items()]
    if reference is not None:
        rows[-1] = Row("whole step", "s", rows[-1].ours, Spread(reference).to_dict(),
                       note="baseline: TRL GRPOTrainer, a different algorithm; no ratio")  # fmt: skip
    return Section(
        key="ppo_step_time",
        title="PPO step time (no peer: TRL ≥ 1.13 has no PPOTrainer)",
        baseline="None for PPO: TRL removed PPOTrainer in 1.13 and no maintained PPO trainer runs on this stack. "
        "For scale only, the whole-step row's baseline is TRL's GRPOTrainer (beta 0.05, so it runs a reference; "
        "reward from a sequence-classification model): a different algorithm, so no ratio is given.",
        matched_work=f"Tiny random-weight model from create_model.py for every role, fp32, the embedded RL prompts "
        f"(chat template, no system prompt), sampling at temperature {TEMPERATURE}, every response exactly "
        f"{args.response_length} tokens (min_new_tokens). Ours per step: {ROLLOUT} responses, then 2 mini-batches "
        f"of {MINI_BATCH}, each one actor and one critic optimizer step. GRPO per round: {ROLLOUT} completions "
        f"({ROLLOUT // 2} prompts x 2), then 2 optimizer steps of {MINI_BATCH} (steps_per_generation 2).",
        check="No equality to check between different algorithms; checked after the runs that every response had "
        f"exactly {args.response_length} tokens and that ours stepped actor and critic twice per step and GRPO "
        "took two optimizer steps per round.",
        rows=rows,
        notes=[
            "Ours is the project's own PPOTrainer.train() loop (checkpointing at the end is outside the step "
            "time); parts are timed by wrapping generate, make_rollout and train_on_rollout."
        ],  # fmt: skip
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Causal LM folder used for every role.")
    parser.add_argument("--prompts", required=True, help="RL prompts JSONL (the embedded data's rl/prompts.jsonl).")
    parser.add_argument("--response_length", type=int, default=32)
    parser.add_argument("--no_grpo", dest="grpo", action="store_false", help="Leave out the GRPO reference row.")
    bench_main(parser, run)


if __name__ == "__main__":
    main()
