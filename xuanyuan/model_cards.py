"""What each recipe's model is, and the card it gets when the recipe saves it.

One `ModelKind` per model-making recipe: what the model is for, which of its metrics head the card, how it is
used. `training_card` turns a run's facts (the command, its recipe YAMLs, data, metrics) into a `ModelCard` that
`xuanyuan.hub` renders; `write_training_card` is the one call a recipe makes after saving. `recipes/release.py`
builds the same card from a finished pipeline run, with the run's evaluations added.
"""

from __future__ import annotations

import json
import math
import shlex
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .hub import ModelCard, write_model_card
from .utils.report_numbers import dotted_get

COUNT_RECORDS_UP_TO = 64 << 20  # a data note counts the lines of a .jsonl file up to this size


@dataclass(frozen=True)
class ModelKind:
    stage: str  # the card's first words: "<stage> of <base model>"
    made_with: str
    summary: str
    metrics: tuple[str, ...]  # the keys (dotted) of its metrics JSON the card shows, in order
    task: str = "chat"  # "chat", "completion" or "reward" (see `ModelCard.task`)
    limitations: tuple[str, ...] = ()  # said before the general ones
    settings_files: tuple[str, ...] = ()  # files in its folder holding the run's settings (released with it)


KINDS = {
    "pretrain": ModelKind(
        "Continued pretraining",
        "`recipes/pretrain.py` (a `transformers` Trainer with bucketed packing and a dynamic domain mixture)",
        "A base model: continued pretraining on finance and general documents.",
        (
            "final_train_loss",
            "train_loss_mean",
            "global_step",
            "tokens_seen",
            "token_utilization",
            "final_domain_losses",
        ),
        task="completion",
        limitations=(
            "A base model continues text; it was not taught to follow instructions or to chat. Fine-tune "
            "it first (`recipes/sft.py`).",
        ),
    ),
    "sft": ModelKind(
        "SFT",
        "`recipes/sft.py` (a TRL `SFTTrainer` subclass)",
        "A chat model: supervised fine-tuning on conversations (loss on the assistant's turns only), mixed with "
        "pretraining text against forgetting.",
        (
            "train_loss",
            "train_steps",
            "eval_before.sft_loss",
            "eval.sft_loss",
            "eval_before.pretrain_loss",
            "eval.pretrain_loss",
        ),
    ),
    "reward": ModelKind(
        "Reward model",
        "`recipes/reward.py` (TRL's `RewardTrainer` with XuanYuan's token-level pairwise loss)",
        "A reward model: a sequence classifier with one output that scores a whole conversation, higher for a "
        "better answer. It judges answers for PPO, GRPO, RAFT and best-of-N; it does not write text.",
        ("selected.checkpoint", "selected.accuracy", "selected.margin_mean", "selected.reward_in_range"),
        task="reward",
        limitations=(
            "Its scores rank answers the way its training pairs did, on their topics; a policy optimized "
            "against it can find answers it scores high that people would not (reward hacking).",
        ),
        settings_files=("reward_config.json",),
    ),
    "ppo": ModelKind(
        "PPO (RLHF)",
        "`recipes/ppo.py` (the project's own PPO trainer: actor, critic, frozen reference and reward model)",
        "A chat model: the SFT model aligned with PPO against the reward model, with a per-token KL penalty that "
        "keeps it near the SFT model.",
        ("steps", "prompts", "reward_first", "reward_last", "kl_last", "response_length_last", "guard_warnings"),
    ),
    "dpo": ModelKind(
        "DPO",
        "`recipes/dpo.py` (TRL's `DPOTrainer`)",
        "A chat model: the SFT model aligned with DPO directly on the preference pairs, without a reward model.",
        (
            "train_steps",
            "final_train_loss",
            "beta",
            "test.reward_accuracy_before",
            "test.reward_accuracy_after",
            "test.reward_margin_after",
        ),
        settings_files=("dpo_args.yaml",),
    ),
    "grpo": ModelKind(
        "GRPO",
        "`recipes/grpo.py` (TRL's `GRPOTrainer`)",
        "A chat model: the SFT model aligned with GRPO (group-normalized advantages), rewarded by the reward model "
        "and by rules (compliance wording, answer format).",
        ("steps", "prompts", "reward_first", "reward_last", "kl_last", "completion_length_last"),
    ),
    "rloo": ModelKind(
        "RLOO",
        "`recipes/grpo.py --algorithm rloo` (TRL's `RLOOTrainer`)",
        "A chat model: the SFT model aligned with RLOO (leave-one-out baseline), rewarded by the reward model and "
        "by rules (compliance wording, answer format).",
        ("steps", "prompts", "reward_first", "reward_last", "kl_last", "completion_length_last"),
    ),
    "raft": ModelKind(
        "RAFT",
        "`recipes/raft.py` (rounds of best-of-N by the reward model, then SFT on the kept answers)",
        "A chat model: each RAFT round the policy answered each prompt several times, the reward model kept the "
        "best answer and the policy was fine-tuned on the kept ones. This is the last round's model.",
        ("total_rounds", "reward_first_round", "reward_last_round", "rounds"),
        settings_files=("raft_config.json",),
    ),
    "merge": ModelKind(
        "Weight merge",
        "`recipes/merge.py`",
        "A chat model made without training, by merging the weights of models that share a base.",
        ("method", "weights", "models", "base_model", "density"),
    ),
}


def headline_metrics(kind: str, metrics: dict) -> dict:
    """The metrics a card of `kind` shows, in order; missing ones left out."""
    values = {key: dotted_get(metrics, key) for key in KINDS[kind].metrics}
    return {key: value for key, value in values.items() if value is not None}


def count_parameters(folder: str | Path) -> int | None:
    """Parameters in the folder's safetensors files, read from their headers (no weights loaded)."""
    total, files = 0, sorted(Path(folder).glob("*.safetensors"))
    for path in files:
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        total += sum(math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__")
    return total if files else None


def data_note(path: str | Path) -> str:
    """'1,234 records, 2.1 MB' for a .jsonl file (records counted up to a size), else its size; '' if absent."""
    path = Path(path)
    if not path.is_file():
        return ""
    size = path.stat().st_size
    note = f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} KB"
    if path.suffix == ".jsonl" and size <= COUNT_RECORDS_UP_TO:
        with open(path, "rb") as handle:
            records = sum(1 for line in handle if line.strip())
        note = f"{records:,} records, {note}"
    return note


def recipe_section(configs: Sequence[str | Path], copies: str | None = None) -> str:
    """The recipe YAMLs the run used, each in a folded block (`copies`: where the repository holds them)."""
    where = f" Copies are in this repository's `{copies}`." if copies else ""
    lines = [f"The run's recipe YAMLs (the command line overrides them).{where}", ""]
    for config in configs:
        text = Path(config).read_text(encoding="utf-8").rstrip()
        lines += [f"<details><summary><code>{config}</code></summary>", "", "```yaml", text, "```", "</details>", ""]
    return "\n".join(lines)


def training_card(
    kind: str,
    model_name: str,
    *,
    base_model: str | list[str] | None,
    command: str | None = None,
    configs: Sequence[str | Path] = (),
    datasets: Sequence[str] = (),
    metrics: dict | None = None,
    parameters: int | None = None,
    config_copies: str | None = None,
    **fields,
) -> ModelCard:
    """The card of a `kind` model (a key of `KINDS`): what it is, the command and recipe YAMLs that made it, its
    data, its headline metrics. `fields` set or override any other `ModelCard` field."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known: {sorted(KINDS)}")
    about = KINDS[kind]
    configs = [config for config in configs if Path(config).is_file()]
    sections = {"Recipe": recipe_section(configs, config_copies)} if configs else {}
    described = dict(stage=about.stage, made_with=about.made_with, summary=about.summary, task=about.task)
    card = ModelCard(
        model_name=model_name,
        base_model=base_model,
        parameters=parameters,
        command=command,
        datasets=list(datasets),
        data_notes={name: data_note(name) for name in datasets},
        metrics=headline_metrics(kind, metrics or {}),
        sections=sections | fields.pop("sections", {}),
        **(described | fields),
    )
    card.limitations[:0] = about.limitations
    return card


def invoked_command() -> str:
    """The command line this process runs, as a shell would take it back."""
    return shlex.join(["python", *sys.argv])


def config_options(argv: Sequence[str]) -> list[str]:
    """The `--config` file named on a command line (`--config F` or `--config=F`), as a list (empty: none)."""
    from .cli import option_value

    found = option_value(list(argv), "config")
    return [found[1]] if found and found[1] is not None else []


def write_training_card(
    output_dir: str | Path,
    kind: str,
    metrics: dict,
    *,
    base_model: str | list[str] | None,
    datasets: Sequence[str] = (),
    configs: Sequence[str | Path] | None = None,
    tokenizer=None,
) -> Path:
    """After a recipe saved its model in `output_dir`: its card as README.md there, naming the command this
    process runs and its `--config` YAML (or `configs`). The tokenizer (by default the one saved in `output_dir`)
    renders the chat template's example."""
    from .tokenization import load_tokenizer

    if tokenizer is None and Path(output_dir, "tokenizer_config.json").is_file():
        tokenizer = load_tokenizer(output_dir)
    card = training_card(
        kind,
        Path(output_dir).name,
        base_model=base_model,
        command=invoked_command(),
        configs=config_options(sys.argv[1:]) if configs is None else configs,
        datasets=datasets,
        metrics=metrics,
        parameters=count_parameters(output_dir),
    )
    return write_model_card(output_dir, card, tokenizer)
