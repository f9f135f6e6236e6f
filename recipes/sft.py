"""Supervised fine-tuning: base model → chat model, with mixed fine-tuning and per-category control.

    accelerate launch recipes/sft.py --config recipes/tiny/sft.yaml --model_name_or_path DIR --train_files FILES \
        --output_dir DIR [--eval_files ... --pretrain_files ... --max_steps N ...]

Instruction records (`messages` or `prompt`/`completion`, with a `category`) train with assistant-only
loss; `pretrain_files` documents are mixed in at `pretrain_ratio` with full-sequence loss. LoRA/QLoRA via
`use_peft` / `load_in_4bit` (ModelConfig); `merge_adapter` also writes the merged model to
{output_dir}/merged. Writes {output_dir}/sft_metrics.json (train and held-out losses, per category and source).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used, so that `--help` answers without loading the training stack
    from trl import ModelConfig

    from xuanyuan.training import XuanYuanSFTConfig, XuanYuanSFTTrainer


@dataclass
class SFTScriptArguments:
    train_files: list[str] = field(metadata={"help": "Instruction data: JSONL/parquet files or Hub ids (name:split)."})
    eval_files: list[str] | None = field(default=None, metadata={"help": "Held-out instruction data."})
    pretrain_files: list[str] | None = field(default=None, metadata={"help": "Pretraining text to mix in."})
    pretrain_eval_files: list[str] | None = field(default=None, metadata={"help": "Held-out pretraining text."})
    tokenizer_name_or_path: str | None = field(default=None, metadata={"help": "Default: the model's own."})
    on_bad_record: str = field(
        default="error", metadata={"help": "'error', or 'skip' (count it and write it to <output_dir>/rejects/)."}
    )
    eval_before_training: bool = field(default=True, metadata={"help": "Record the held-out losses before SFT."})
    merge_adapter: bool = field(default=False, metadata={"help": "With use_peft: also save the merged model."})


def load_data(script_args: SFTScriptArguments, output_dir: str) -> tuple[dict, dict]:
    """Datasets by role and their load reports; bad records go to {output_dir}/rejects/ when skipping."""
    from xuanyuan.data.sft_data import load_sft_dataset, load_text_dataset

    sources = {
        "train": script_args.train_files,
        "eval": script_args.eval_files,
        "pretrain": script_args.pretrain_files,
        "pretrain_eval": script_args.pretrain_eval_files,
    }
    datasets, reports = {}, {}
    for role, files in sources.items():
        if not files:
            continue
        loader = load_text_dataset if role.startswith("pretrain") else load_sft_dataset
        rejects = str(Path(output_dir, "rejects", f"{role}.jsonl"))
        datasets[role], report = loader(files, script_args.on_bad_record, rejects)
        reports[role] = report.to_dict()
    return datasets, reports


def collect_metrics(
    trainer: XuanYuanSFTTrainer, train_metrics: dict, before: dict, after: dict, reports: dict
) -> dict:
    """The metrics JSON: losses overall, per category and per source, the mix and the data reports."""

    def by_prefix(metrics: dict, prefix: str) -> dict:
        return {k.removeprefix(prefix): v for k, v in metrics.items() if k.startswith(prefix)}

    metrics = {
        "train_loss": train_metrics.get("train_loss"),
        "train_steps": trainer.state.global_step,
        "train_runtime_s": train_metrics.get("train_runtime"),
        "eval_before": {k.removeprefix("before_"): v for k, v in before.items() if k.endswith("_loss")},
        "eval": {k.removeprefix("eval_"): v for k, v in after.items() if k.endswith("_loss")},
        "data": reports,
    }
    if trainer.mixture is not None:
        metrics["train_loss_by_group"] = trainer.group_losses(trainer.losses.reduce(trainer.accelerator, "run"))
        metrics["eval_loss_by_group"] = {
            name: by_prefix(after, f"eval_{name}_loss/") for name in (trainer.eval_dataset or {})
        }
        metrics["mixture"] = {
            "pretrain_ratio": trainer.args.pretrain_ratio,
            "shares": trainer.mixture.shares,
            "history": trainer.mixture_history,
        }
    return metrics


def main(script_args: SFTScriptArguments, training_args: XuanYuanSFTConfig, model_args: ModelConfig) -> dict:
    if not model_args.model_name_or_path:
        raise SystemExit("error: sft.py needs --model_name_or_path (the base model to fine-tune)")
    from trl import get_peft_config, get_quantization_config

    from xuanyuan.hub import chat_generation_config
    from xuanyuan.model_cards import config_options, headline_metrics, invoked_command, training_card
    from xuanyuan.tokenization import load_tokenizer
    from xuanyuan.training import XuanYuanSFTTrainer
    from xuanyuan.training.adapters import merge_adapter
    from xuanyuan.training.checkpoints import resolve_resume
    from xuanyuan.training.model_loading import from_pretrained_kwargs

    training_args.model_init_kwargs = from_pretrained_kwargs(model_args) | (training_args.model_init_kwargs or {})
    data, reports = load_data(script_args, training_args.output_dir)
    eval_data = {k: data[v] for k, v in (("sft", "eval"), ("pretrain", "pretrain_eval")) if v in data} or None
    tokenizer = load_tokenizer(script_args.tokenizer_name_or_path or model_args.model_name_or_path)
    peft_config = get_peft_config(model_args)
    card = training_card(
        "sft",
        training_args.hub_model_id or Path(training_args.output_dir).name,
        base_model=model_args.model_name_or_path,
        command=invoked_command(),
        configs=config_options(sys.argv[1:]),
        stage="SFT ("
        + ("QLoRA adapter" if model_args.load_in_4bit else "LoRA adapter" if peft_config else "full fine-tuning")
        + ")",
        datasets=[f for role in ("train", "pretrain") for f in (getattr(script_args, f"{role}_files") or [])],
        training={
            "learning_rate": training_args.learning_rate,
            "epochs": training_args.num_train_epochs,
            "max_length": training_args.max_length,
            "pretrain_ratio": training_args.pretrain_ratio,
            "assistant_only_loss": training_args.assistant_only_loss,
            "neftune_noise_alpha": training_args.neftune_noise_alpha,
            "dynamic_category_ratios": training_args.dynamic_category_ratios,
        },
        is_adapter=peft_config is not None and not script_args.merge_adapter,
    )
    trainer = XuanYuanSFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=data["train"],
        pretrain_dataset=data.get("pretrain"),
        eval_dataset=eval_data,
        processing_class=tokenizer,
        peft_config=peft_config,
        quantization_config=get_quantization_config(model_args),
        card=card,
    )
    before = trainer.evaluate(metric_key_prefix="before") if eval_data and script_args.eval_before_training else {}
    resume = resolve_resume(training_args.resume_from_checkpoint, training_args.output_dir)
    train_metrics = trainer.train(resume_from_checkpoint=resume).metrics
    after = trainer.evaluate() if eval_data else {}
    metrics = collect_metrics(trainer, train_metrics, before, after, reports)

    card.metrics, card.parameters = headline_metrics("sft", metrics), trainer.model.num_parameters()
    trainer.model.generation_config = chat_generation_config(tokenizer)
    trainer.create_model_card()
    trainer.save_model(training_args.output_dir)  # pushes (card, tokenizer + chat template, generation config)
    if peft_config is not None and script_args.merge_adapter and trainer.is_world_process_zero():
        merge_adapter(
            training_args.output_dir, Path(training_args.output_dir, "merged"), model_args.model_name_or_path
        )
    if trainer.is_world_process_zero():
        Path(training_args.output_dir, "sft_metrics.json").write_text(
            json.dumps(metrics, indent=2, ensure_ascii=False)
        )
        print(json.dumps({k: metrics[k] for k in ("train_loss", "eval_before", "eval")}, indent=2))
    trainer.end()
    return metrics


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args
    from xuanyuan.utils.distributed_exit import exit_finished_process

    main(*parse_recipe_args([SFTScriptArguments], ["xuanyuan.training:XuanYuanSFTConfig", "trl:ModelConfig"]))
    exit_finished_process()
