"""GRPO and RLOO: alignment without a critic, on TRL's `GRPOTrainer` / `RLOOTrainer`, as alternatives to PPO.

Both sample `num_generations` completions per prompt and use the group as the baseline: GRPO normalizes each
reward by its group's mean (and std), RLOO subtracts the mean of the other completions (leave-one-out). The
rewards are the project's reward model and plain rules (`reward_functions`), weighted and summed by TRL's own
`reward_weights`. This module holds what the recipe needs around TRL's trainers: which trainer an algorithm
name means, the RL prompts as TRL's conversational prompts (the same records, system prompt and length limit
as PPO), the policy saved as a plain causal-LM folder, and a summary of the run from the trainer's logs.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from pathlib import Path

from .ppo.data import PromptRecord, encode_prompts

ALGORITHMS = {"grpo": ("trl:GRPOConfig", "trl:GRPOTrainer"), "rloo": ("trl:RLOOConfig", "trl:RLOOTrainer")}


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {list(ALGORITHMS)}, got {algorithm!r}")


def config_class(algorithm: str) -> str:
    """TRL's config class of `algorithm`, as "module:Class" (what `parse_recipe_args` takes)."""
    _check_algorithm(algorithm)
    return ALGORITHMS[algorithm][0]


def trainer_class(algorithm: str) -> type:
    _check_algorithm(algorithm)
    module, _, name = ALGORITHMS[algorithm][1].partition(":")
    return getattr(importlib.import_module(module), name)


def check_rewards(names: Sequence[str], weights: Sequence[float] | None) -> None:
    """One weight per reward function (TRL checks it only once the models are loaded)."""
    if not names:
        raise ValueError("name at least one reward function (reward_funcs)")
    if weights is not None and len(weights) != len(names):
        raise ValueError(f"reward_weights {list(weights)} must give one weight per reward function {list(names)}")


def prompt_dataset(prompts: list[PromptRecord], tokenizer, system_prompt: str | None, max_prompt_length: int):
    """TRL's conversational prompt dataset (`prompt`: chat turns, plus `id` and `category` for the reward
    functions) and how many prompts were longer than `max_prompt_length` tokens and left out."""
    from datasets import Dataset

    encoded, too_long = encode_prompts(prompts, tokenizer, system_prompt, max_prompt_length)
    rows = [{"prompt": item.messages, "id": item.prompt.id, "category": item.prompt.category} for item in encoded]
    return Dataset.from_list(rows), too_long


def save_policy(trainer, tokenizer, generation_config, output_dir: str | Path) -> None:
    """The trained policy as a `from_pretrained` causal-LM folder (LoRA adapters merged; ZeRO-3 shards gathered)
    with its tokenizer and generation config. Every process must call it."""
    from .ppo.distributed import save_model

    trainer.accelerator.wait_for_everyone()
    save_model(trainer.accelerator, trainer.model_wrapped, output_dir, merge_adapters=True)
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(output_dir)
        generation_config.save_pretrained(output_dir)


def _mean(rows: list[dict], key: str) -> float | None:
    values = [row[key] for row in rows if key in row and not math.isnan(row[key])]
    return sum(values) / len(values) if values else None


def summarize(log_history: list[dict], reward_names: Sequence[str], steps: int, window: int = 5) -> dict:
    """First vs last logged steps (a window of up to `window` steps each, at most half the run) of the weighted
    total reward and of each reward function; the last KL (when β > 0) and completion length; `steps` (optimizer
    steps) and the runtime."""
    logged = [row for row in log_history if "reward" in row]
    size = max(1, min(window, len(logged) // 2))
    first, last = logged[:size], logged[-size:]
    runtime = next((row["train_runtime"] for row in reversed(log_history) if "train_runtime" in row), None)
    return {
        "steps": steps,
        "logged_steps": len(logged),
        "window": size,
        "reward_first": _mean(first, "reward"),
        "reward_last": _mean(last, "reward"),
        "rewards": {
            name: {"first": _mean(first, f"rewards/{name}/mean"), "last": _mean(last, f"rewards/{name}/mean")}
            for name in reward_names
        },
        "kl_last": _mean(last, "kl"),
        "completion_length_last": _mean(last, "completions/mean_length"),
        "train_runtime": runtime,
    }
