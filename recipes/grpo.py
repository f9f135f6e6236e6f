"""GRPO or RLOO on TRL's trainers, rewarded by the project's reward model and plain rules, weighted by TRL.

    accelerate launch recipes/grpo.py --config recipes/tiny/grpo.yaml --model_name_or_path SFT_DIR \
        --reward_model RM_DIR --prompt_files FILES --output_dir DIR [--algorithm rloo --max_steps 10 ...]

The policy starts from the SFT model; `num_generations` completions per RL prompt (with the XuanYuan system
prompt, as PPO's) are scored by each function in `reward_funcs` (`reward_model`, `finance_compliance`,
`answer_format`), which TRL sums with `reward_weights`. `--algorithm` picks TRL's GRPOTrainer (group-normalized
advantages; KL term in the loss, `beta`) or RLOOTrainer (leave-one-out baseline; KL in the reward), and with
it the options accepted (GRPOConfig's or RLOOConfig's). `--use_peft` trains LoRA adapters (merged before saving;
the reference is then the policy with adapters disabled). Writes the policy, tokenizer and generation config
to `output_dir` (a plain causal-LM folder) and `<algorithm>_summary.json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from xuanyuan.training.ppo.data import RLPromptArguments

if TYPE_CHECKING:  # imported where used, so that `--help` answers without loading the training stack
    from trl import ModelConfig


@dataclass
class GRPOScriptArguments(RLPromptArguments):
    algorithm: str = field(default="grpo", metadata={"help": "grpo or rloo (TRL's GRPOTrainer or RLOOTrainer)."})
    reward_model: str = field(default="", metadata={"help": "Trained reward model (a sequence classifier)."})
    reward_funcs: list[str] = field(
        default_factory=lambda: ["reward_model", "finance_compliance", "answer_format"],
        metadata={"help": "Reward functions, weighted by reward_weights in the same order."},
    )
    max_answer_chars: int = field(default=512, metadata={"help": "answer_format: longer answers are penalized."})
    reward_batch_size: int = field(default=16, metadata={"help": "Conversations per reward-model forward pass."})
    max_prompt_length: int = field(default=256, metadata={"help": "Longer prompts (in tokens) are left out."})


def load_dataset(script_args: GRPOScriptArguments, config, tokenizer) -> tuple:
    """RL prompts as TRL conversational prompts, checked before any model loads: bad records stop the run (or go
    to rejected_prompts.jsonl), and one generation batch must be filled."""
    from pathlib import Path

    from xuanyuan.training.grpo import prompt_dataset
    from xuanyuan.training.ppo.data import load_prompts, mix_by_source, require_prompts

    rejected = Path(config.output_dir, "rejected_prompts.jsonl")
    prompts = load_prompts(script_args.prompt_files, script_args.on_bad_record, rejected)
    prompts = mix_by_source(prompts, script_args.new_prompt_share, config.seed)
    dataset, too_long = prompt_dataset(prompts, tokenizer, script_args.system_prompt, script_args.max_prompt_length)
    needed = config.generation_batch_size // config.num_generations
    purpose = (
        f"one generation batch ({config.generation_batch_size} completions, {config.num_generations} per prompt; "
        f"{too_long} longer than max_prompt_length={script_args.max_prompt_length} left out)"
    )
    require_prompts(dataset, script_args.prompt_files, needed, purpose)
    return dataset, too_long


def main(script_args: GRPOScriptArguments, config, model_args: ModelConfig) -> dict:
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, GenerationConfig

    from xuanyuan.cli import write_result
    from xuanyuan.model_cards import write_training_card
    from xuanyuan.tokenization import load_tokenizer
    from xuanyuan.training.adapters import lora_config
    from xuanyuan.training.grpo import check_rewards, save_policy, summarize, trainer_class
    from xuanyuan.training.model_loading import from_pretrained_kwargs
    from xuanyuan.training.reward_functions import RewardModelScore, reward_functions

    if not (model_args.model_name_or_path and script_args.prompt_files):
        raise SystemExit("grpo.py needs --model_name_or_path (the SFT model) and --prompt_files")
    check_rewards(script_args.reward_funcs, config.reward_weights)
    sft = model_args.model_name_or_path
    tokenizer = load_tokenizer(sft)
    dataset, too_long = load_dataset(script_args, config, tokenizer)
    print(f"{len(dataset)} prompts ({too_long} longer than {script_args.max_prompt_length} tokens left out)")

    loading = from_pretrained_kwargs(model_args)
    policy = AutoModelForCausalLM.from_pretrained(sft, **loading)
    scorer = None
    if "reward_model" in script_args.reward_funcs:
        if not script_args.reward_model:
            raise SystemExit("the reward function 'reward_model' needs --reward_model")
        rm = AutoModelForSequenceClassification.from_pretrained(script_args.reward_model, num_labels=1, **loading)
        scorer = RewardModelScore(rm, load_tokenizer(script_args.reward_model), script_args.reward_batch_size)
    peft_config = lora_config(model_args, "CAUSAL_LM") if model_args.use_peft else None

    trainer = trainer_class(script_args.algorithm)(
        model=policy,
        reward_funcs=reward_functions(script_args.reward_funcs, scorer, script_args.max_answer_chars),
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    if scorer is not None:
        scorer.prepare(trainer.accelerator)  # where the policy runs
    trainer.train()
    save_policy(trainer, tokenizer, GenerationConfig.from_pretrained(sft), config.output_dir)
    summary = summarize(trainer.state.log_history, script_args.reward_funcs, trainer.state.global_step)
    summary |= {"algorithm": script_args.algorithm, "prompts": len(dataset), "prompts_left_out": too_long}
    if trainer.accelerator.is_main_process:
        write_result(config.output_dir, f"{script_args.algorithm}_summary.json", summary)
        kind, prompts = script_args.algorithm, script_args.prompt_files
        write_training_card(config.output_dir, kind, summary, base_model=sft, datasets=prompts)
    return summary


def parse_args(argv: list[str] | None = None) -> tuple:
    import sys

    from xuanyuan.cli import parse_recipe_args, peek_option
    from xuanyuan.training.grpo import config_class

    algorithm = peek_option(sys.argv[1:] if argv is None else argv, "algorithm", "grpo")
    try:
        library = [config_class(algorithm), "trl:ModelConfig"]  # GRPOConfig's or RLOOConfig's options
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    return parse_recipe_args([GRPOScriptArguments], library, argv=argv)


if __name__ == "__main__":
    from xuanyuan.utils.distributed_exit import exit_finished_process

    main(*parse_args())
    exit_finished_process()
