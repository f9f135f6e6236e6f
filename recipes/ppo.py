"""RLHF with PPO (XuanYuan-6B report, after DeepSpeed-Chat) on the project's own trainer.

    accelerate launch recipes/ppo.py --config recipes/tiny/ppo.yaml --sft_model DIR --reward_model DIR \
        --prompt_files FILES --output_dir DIR [--max_steps 10 --kl_coef 0.1 ...]
    accelerate launch --config_file accelerate_configs/zero3.yaml recipes/ppo.py --config recipes/xuanyuan-6b/ppo.yaml

Actor and reference load from the SFT model (the reference from `--reference_model` when given: PEI-RLHF's later
rounds continue from the previous round's actor but keep the SFT model as the KL anchor); critic and reward model
from the trained reward model.
`--use_peft` trains LoRA adapters on actor and critic (the reference is then, without `--reference_model`, the
actor with adapters disabled). Writes the final actor to `output_dir`, checkpoints every `save_steps`,
`ppo_metrics.jsonl`, `ppo_metrics.png` and a `ppo_summary.json` for the pipeline report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from xuanyuan.training.ppo.data import RLPromptArguments

if TYPE_CHECKING:  # imported where used, so that `--help` answers without loading the training stack
    from trl import ModelConfig

    from xuanyuan.training.ppo import PPOConfig


@dataclass
class PPOScriptArguments(RLPromptArguments):
    sft_model: str = field(default="", metadata={"help": "SFT model: the actor and the frozen reference."})
    reference_model: str = field(
        default="", metadata={"help": "The KL term's frozen reference when not --sft_model (PEI's later rounds)."}
    )
    reward_model: str = field(default="", metadata={"help": "Trained reward model: the critic and the frozen RM."})
    ptx_files: list[str] = field(default_factory=list, metadata={"help": "Pretraining text for the ptx term."})


def prompt_token_ids(script_args: PPOScriptArguments, config: PPOConfig, tokenizer, processes: int) -> tuple:
    """Token ids of the RL prompts (mixed by source) and how many were too long, checked before any model loads:
    bad records stop the run (or go to rejected_prompts.jsonl), and one rollout batch must be filled."""
    from xuanyuan.training.ppo.data import load_prompts, mix_by_source, require_prompts, tokenize_prompts

    rejected = Path(config.output_dir, "rejected_prompts.jsonl")
    prompts = load_prompts(script_args.prompt_files, script_args.on_bad_record, rejected)
    prompts = mix_by_source(prompts, script_args.new_prompt_share, config.seed)
    prompt_ids, too_long = tokenize_prompts(prompts, tokenizer, script_args.system_prompt, config.max_prompt_length)
    purpose = (
        f"one rollout batch (rollout_batch_size {config.rollout_batch_size} × {processes} process(es); "
        f"{too_long} longer than max_prompt_length={config.max_prompt_length} left out)"
    )
    require_prompts(prompt_ids, script_args.prompt_files, config.rollout_batch_size * processes, purpose)
    return prompt_ids, too_long


def main(script_args: PPOScriptArguments, config: PPOConfig, model_args: ModelConfig, on_trained=None) -> dict:
    """`on_trained(trainer)`, if given, runs after training and before saving (tests inspect the models)."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer, GenerationConfig

    from xuanyuan.model_cards import write_training_card
    from xuanyuan.training.model_loading import from_pretrained_kwargs
    from xuanyuan.training.ppo import PPOTrainer
    from xuanyuan.training.ppo.data import load_ptx_texts
    from xuanyuan.training.ppo.distributed import make_accelerator, zero_stage

    if not (script_args.sft_model and script_args.reward_model and script_args.prompt_files):
        raise SystemExit("ppo.py needs --sft_model, --reward_model and --prompt_files")
    accelerator = make_accelerator(config)  # first: under ZeRO-3 the models below then load partitioned
    tokenizer = AutoTokenizer.from_pretrained(script_args.sft_model)
    prompt_ids, too_long = prompt_token_ids(script_args, config, tokenizer, accelerator.num_processes)
    loading = from_pretrained_kwargs(model_args)
    actor = AutoModelForCausalLM.from_pretrained(script_args.sft_model, **loading)
    critic = AutoModelForSequenceClassification.from_pretrained(script_args.reward_model, num_labels=1, **loading)
    reward_model = AutoModelForSequenceClassification.from_pretrained(
        script_args.reward_model, num_labels=1, **loading
    )
    reference = None  # with LoRA and no other reference: the actor with its adapters disabled
    if model_args.use_peft:
        from xuanyuan.training.adapters import lora_config

        actor = get_peft_model(actor, lora_config(model_args, "CAUSAL_LM"))
        critic = get_peft_model(critic, lora_config(model_args, "SEQ_CLS"))
    if not model_args.use_peft or script_args.reference_model:
        reference_path = script_args.reference_model or script_args.sft_model
        reference = AutoModelForCausalLM.from_pretrained(reference_path, **loading)

    ptx = load_ptx_texts(script_args.ptx_files, tokenizer, config.ptx_max_length) if config.ptx_coef > 0 else []
    print(f"{len(prompt_ids)} prompts ({too_long} longer than {config.max_prompt_length} tokens left out)")

    trainer = PPOTrainer(
        config,
        actor,
        critic,
        reward_model,
        tokenizer,
        prompt_ids,
        reference=reference,
        ptx_texts=ptx,
        generation_config=GenerationConfig.from_pretrained(script_args.sft_model),
        accelerator=accelerator,
    )
    history = trainer.train()
    if on_trained is not None:
        on_trained(trainer)
    trainer.save_actor(config.output_dir)
    summary = summarize(history, len(prompt_ids), too_long) | {
        "world_size": accelerator.num_processes,
        "zero_stage": zero_stage(accelerator),
    }
    if trainer.accelerator.is_main_process:
        Path(config.output_dir, "ppo_summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        write_training_card(
            config.output_dir, "ppo", summary, base_model=script_args.sft_model, datasets=script_args.prompt_files
        )
        print(json.dumps(summary, indent=2))
    trainer.close()  # every process together, so none exits while another still talks to it
    return summary


def summarize(history: list[dict], num_prompts: int, prompts_left_out: int) -> dict:
    """First vs last steps of the monitored metrics (a window of up to 5 steps each)."""
    import numpy as np

    window = max(1, min(5, len(history) // 2))

    def mean(rows, key):
        return float(np.mean([row[key] for row in rows])) if rows else float("nan")

    return {
        "steps": len(history),
        "prompts": num_prompts,
        "prompts_left_out": prompts_left_out,
        "reward_first": mean(history[:window], "reward/score"),
        "reward_last": mean(history[-window:], "reward/score"),
        "kl_last": mean(history[-window:], "kl/ref"),
        "response_length_last": mean(history[-window:], "response/length"),
        "guard_warnings": int(sum(row.get("guard/warnings", 0) for row in history)),
    }


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args
    from xuanyuan.utils.distributed_exit import exit_finished_process

    main(*parse_recipe_args([PPOScriptArguments], ["xuanyuan.training.ppo:PPOConfig", "trl:ModelConfig"]))
    exit_finished_process()
