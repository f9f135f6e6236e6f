"""The per-GPU micro-batches the recipe YAMLs train with, read from the YAMLs themselves.

Rows are sequences per micro-batch per GPU: the reward model stacks chosen and rejected (2 × pairs); PPO
trains on mini-batches of prompt + response and generates for a rollout batch of prompts.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import yaml

from .flops import ppo_step_flops, training_flops_per_token

REPO = Path(__file__).resolve().parents[2]
RECIPES_6B = REPO / "recipes" / "xuanyuan-6b"
ACCELERATE_CONFIGS = REPO / "accelerate_configs"
# Which accelerate config recipes/xuanyuan-6b/pipeline.yaml launches each stage with.
PIPELINE_STRATEGY = {"pretrain": "zero1", "sft": "zero3", "reward": "zero3", "ppo": "zero3"}


@dataclass(frozen=True)
class Workload:
    stage: str
    rows: int
    seq_len: int
    head: str  # "lm": a causal LM with logits over the vocabulary; "score": the reward model's scalar head
    activation_checkpointing: bool
    response_len: int = 0  # PPO: tokens generated per prompt (seq_len = prompt + response)
    rollout_rows: int = 0  # PPO: prompts generated for per GPU and step

    @property
    def tokens(self) -> int:
        return self.rows * self.seq_len


def score_config(config):
    """The same architecture with one score label: the reward model and the critic."""
    scored = copy.deepcopy(config)
    scored.num_labels = 1
    return scored


def step_flops(config, workload: Workload) -> tuple[float, int]:
    """Model FLOPs of one step of `workload` on the architecture `config`, and the tokens the step covers: a
    training micro-batch (the reward model with its one-label head), or a PPO step over its rollout batch."""
    if workload.stage == "ppo":
        prompt_len = workload.seq_len - workload.response_len
        flops = ppo_step_flops(config, score_config(config), workload.rollout_rows, prompt_len, workload.response_len)
        return flops, workload.rollout_rows * workload.seq_len
    model = score_config(config) if workload.head == "score" else config
    return workload.tokens * training_flops_per_token(model, workload.seq_len, workload.head), workload.tokens


def _read(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_workloads(recipe_dir: Path = RECIPES_6B) -> dict[str, Workload]:
    """Pretraining, SFT, reward and PPO micro-batches of the stage YAMLs in `recipe_dir`."""
    pretrain, sft = _read(recipe_dir / "pretrain.yaml"), _read(recipe_dir / "sft.yaml")
    reward, ppo = _read(recipe_dir / "reward.yaml"), _read(recipe_dir / "ppo.yaml")

    def trainer_stage(stage: str, config: dict, rows: int, head: str) -> Workload:
        checkpointing = bool(config.get("activation_checkpointing", False))
        return Workload(stage, rows, config["max_length"], head, checkpointing)

    return {
        "pretrain": trainer_stage("pretrain", pretrain, pretrain["per_device_train_batch_size"], "lm"),
        "sft": trainer_stage("sft", sft, sft["per_device_train_batch_size"], "lm"),
        "reward": trainer_stage("reward", reward, 2 * reward["per_device_train_batch_size"], "score"),
        "ppo": Workload(
            "ppo",
            rows=ppo["mini_batch_size"],
            seq_len=ppo["max_prompt_length"] + ppo["max_new_tokens"],
            head="lm",
            activation_checkpointing=bool(ppo.get("activation_checkpointing", False)),
            response_len=ppo["max_new_tokens"],
            rollout_rows=ppo["rollout_batch_size"],
        ),
    }


def world_size(strategy: str, config_dir: Path = ACCELERATE_CONFIGS) -> int:
    """`num_processes` of `accelerate_configs/<strategy>.yaml` (GPUs of the launch)."""
    return int(_read(config_dir / f"{strategy}.yaml")["num_processes"])
