"""Align the SFT model with DPO on the reward model's preference pairs: TRL's `DPOTrainer`, no reward model.

    accelerate launch recipes/dpo.py --config recipes/tiny/dpo.yaml --model_name_or_path SFT_DIR \
        --data_files FILES --output_dir DIR [...]

An alternative to the reward-model + PPO stages on the same artifacts: the policy starts from the SFT model and
the reference is a frozen copy of it (with `--use_peft`, the same model with its LoRA adapters disabled).
Preference records (A3…B3 pairs, ranked lists, chosen/rejected) are split by prompt exactly as recipes/reward.py
splits them; the label strength weights a pair by repetition (`strength_weighting`, see xuanyuan/training/dpo.py).
Writes a plain causal LM (LoRA adapters merged; the adapter itself in `adapter/`) with tokenizer and generation
config to `output_dir`, the options the YAML and command line set as `dpo_args.yaml` (`--config` takes it back),
and `dpo_summary.json`: steps, losses, runtime and the held-out pairs' DPO implicit-reward accuracy and margin
before and after training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from xuanyuan.data.preferences import PreferenceDataArguments  # light: no torch or transformers

if TYPE_CHECKING:  # imported where used, so that `--help` answers without loading the training stack
    from trl import DPOConfig, ModelConfig


@dataclass
class DPOScriptArguments(PreferenceDataArguments):  # recipes/reward.py's files and split
    strength_weighting: str = field(
        default="repeat",
        metadata={"help": "'repeat': an A_k/B_k pair k times (A3 three times); 'none': every pair once."},
    )


def main(script_args: DPOScriptArguments, training_args: DPOConfig, model_args: ModelConfig) -> dict:
    if not model_args.model_name_or_path:
        raise SystemExit("error: dpo.py needs --model_name_or_path (the SFT model DPO starts from)")
    import torch
    from transformers import AutoModelForCausalLM

    from xuanyuan.cli import write_config, write_result
    from xuanyuan.model_cards import write_training_card
    from xuanyuan.tokenization import load_tokenizer
    from xuanyuan.training.adapters import lora_config, merge_adapter
    from xuanyuan.training.checkpoints import resolve_resume
    from xuanyuan.training.dpo import XuanYuanDPOTrainer, load_dpo_data, preference_metrics
    from xuanyuan.training.model_loading import from_pretrained_kwargs

    output_dir = Path(training_args.output_dir)
    train, test, data = load_dpo_data(
        script_args.data_files, script_args.test_fraction, script_args.split_seed, script_args.keep_ties,
        script_args.on_bad_record, script_args.strength_weighting,
    )  # fmt: skip
    if data.skipped:
        data.write_skipped(output_dir / "skipped_records.jsonl")
    if not len(test):
        raise SystemExit(f"error: no held-out pairs to score (test_fraction {script_args.test_fraction})")
    print(f"{len(train)} training rows ({script_args.strength_weighting} weighting), {len(test)} held-out pairs "
          f"({data.dropped_ties} ties dropped, {len(data.skipped)} bad records skipped)")  # fmt: skip

    tokenizer = load_tokenizer(model_args.model_name_or_path)
    loading = from_pretrained_kwargs(model_args)
    loading["dtype"] = loading["dtype"] or torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_args.model_name_or_path, **loading)
    # every linear layer unless named (peft's "all-linear" leaves out the LM head, whose weight TRL reads directly)
    peft_config = lora_config(model_args, "CAUSAL_LM") if model_args.use_peft else None

    trainer = XuanYuanDPOTrainer(
        model=model, args=training_args, train_dataset=train, eval_dataset=test, processing_class=tokenizer,
        peft_config=peft_config,
    )  # fmt: skip
    before = trainer.pair_log_probs()  # the initial policy, which is the reference
    result = trainer.train(resume_from_checkpoint=resolve_resume(training_args.resume_from_checkpoint, output_dir))
    after = trainer.pair_log_probs()

    if peft_config is None:
        trainer.save_model(str(output_dir))  # model, tokenizer; every process (ZeRO-3 gathers the weights)
    else:
        trainer.save_model(str(output_dir / "adapter"))
        if trainer.is_world_process_zero():
            merge_adapter(output_dir / "adapter", output_dir, model_args.model_name_or_path, loading["dtype"])
    summary = {}
    if trainer.is_world_process_zero():
        write_config(output_dir / "dpo_args.yaml", script_args, training_args, model_args)
        logged = [row["loss"] for row in trainer.state.log_history if "loss" in row]
        summary = {
            "data": {
                "train_rows": len(train),
                "strength_weighting": script_args.strength_weighting,
                "test_pairs": len(test),
                "dropped_ties": data.dropped_ties,
                "skipped_records": len(data.skipped),
            },
            "train_steps": trainer.state.global_step,
            "train_loss": result.training_loss,
            "final_train_loss": logged[-1] if logged else result.training_loss,  # the last logging window's
            "train_runtime_s": result.metrics["train_runtime"],
            "beta": training_args.beta,
            "test": preference_metrics(before, after, training_args.beta),
        }
        write_result(output_dir, "dpo_summary.json", summary)
        base = model_args.model_name_or_path
        write_training_card(output_dir, "dpo", summary, base_model=base, datasets=script_args.data_files)
    trainer.accelerator.wait_for_everyone()
    return summary


def parse_args(argv: list[str] | None = None) -> tuple:
    from xuanyuan.cli import parse_recipe_args

    return parse_recipe_args([DPOScriptArguments], ["trl:DPOConfig", "trl:ModelConfig"], argv=argv)


if __name__ == "__main__":
    from xuanyuan.utils.distributed_exit import exit_finished_process

    main(*parse_args())
    exit_finished_process()
