"""Train the reward model: TRL's RewardTrainer with XuanYuan-6B's token-level pairwise loss.

    accelerate launch recipes/reward.py --config recipes/tiny/reward.yaml --model_name_or_path SFT_DIR \
        --data_files FILES --output_dir DIR [...]

The RM starts from an SFT causal-LM checkpoint: loaded as a sequence classifier with `num_labels=1`, the LM
head is dropped and a randomly initialized scalar value head (`score`) takes its place. Preference records
(A3…B3 pairs, ranked lists, chosen/rejected) are split 90/10 by prompt. With `two_stage` (XuanYuan3's
UFRM) it trains first on the general helpfulness/safety pairs (`general_categories`), then continues on the
finance pairs (all other categories); every epoch checkpoint of each stage is scored on both test sets and
`rm_report.{json,md}` + plots pick the checkpoint for PPO, which is saved to `output_dir`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from trl import ScriptArguments  # light: trl's script helpers, without its trainers, torch or transformers

from xuanyuan.data.preferences import PreferenceDataArguments  # light: no torch or transformers

if TYPE_CHECKING:  # imported where used, so that `--help` answers without loading the training stack
    from datasets import Dataset
    from trl import ModelConfig

    from xuanyuan.data.preferences import PreferencePair
    from xuanyuan.training.reward import XuanYuanRewardConfig


@dataclass
class RewardScriptArguments(PreferenceDataArguments, ScriptArguments):
    two_stage: bool = field(default=True, metadata={"help": "UFRM: general set first, then the finance set."})
    general_categories: list[str] = field(
        default_factory=lambda: ["general", "safety"],
        metadata={"help": "Categories of the general helpfulness/safety set; all others form the finance set."},
    )
    scale_range: list[float] = field(
        default_factory=lambda: [-1.0, 1.0], metadata={"help": "Reward range to flag in the report."}
    )


def to_dataset(pairs: list[PreferencePair], margin_per_strength: float) -> Dataset:
    from datasets import Dataset

    rows = [pair.to_trl() for pair in pairs]
    if margin_per_strength:
        for row, pair in zip(rows, pairs, strict=True):
            row["margin"] = margin_per_strength * (pair.strength or 0)
    return Dataset.from_list(rows)


def stages(script_args: RewardScriptArguments, pairs: list[PreferencePair]) -> dict[str, list[PreferencePair]]:
    """Stage (and test set) name -> its pairs, in training order."""
    if not script_args.two_stage:
        return {"all": pairs}
    general = set(script_args.general_categories)
    return {
        "general": [p for p in pairs if p.category in general],
        "finance": [p for p in pairs if p.category not in general],
    }


def load_reward_model(path: str, model_args: ModelConfig, seed: int):
    """A sequence classifier with one output; from a causal-LM checkpoint the value head starts random, the
    same for the same seed (the Trainer seeds only after the model exists)."""
    import torch
    from transformers import AutoModelForSequenceClassification, set_seed

    from xuanyuan.training.model_loading import from_pretrained_kwargs

    set_seed(seed)
    kwargs = from_pretrained_kwargs(model_args)
    kwargs["dtype"] = kwargs["dtype"] or torch.float32
    return AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, **kwargs)


def main(script_args: RewardScriptArguments, training_args: XuanYuanRewardConfig, model_args: ModelConfig) -> dict:
    if not model_args.model_name_or_path:
        raise SystemExit("error: reward.py needs --model_name_or_path (the SFT model the reward model starts from)")
    from trl import get_peft_config

    from xuanyuan.data.preferences import load_preference_pairs, split_by_prompt
    from xuanyuan.evaluation.reward_report import check_padding
    from xuanyuan.evaluation.reward_selection import CheckpointEvaluator, SelectionLog, write_selection_report
    from xuanyuan.model_cards import write_training_card
    from xuanyuan.tokenization import load_tokenizer
    from xuanyuan.training.reward import XuanYuanRewardTrainer

    data = load_preference_pairs(script_args.data_files, not script_args.keep_ties, script_args.on_bad_record)
    output_dir = Path(training_args.output_dir)
    if data.skipped:
        data.write_skipped(output_dir / "skipped_records.jsonl")
    train, test = split_by_prompt(data.pairs, script_args.test_fraction, script_args.split_seed)
    train_stages, test_sets = stages(script_args, train), stages(script_args, test)
    print(f"pairs: {len(train)} train, {len(test)} test ({data.dropped_ties} ties dropped, {len(data.skipped)} bad)")

    tokenizer = load_tokenizer(model_args.model_name_or_path)
    model = load_reward_model(model_args.model_name_or_path, model_args, training_args.seed)
    check_padding(model, tokenizer)  # the reward is read at the EOS: pad must differ from it
    peft_config = get_peft_config(model_args)
    if peft_config is not None:
        peft_config.task_type = "SEQ_CLS"  # PEFT then trains and saves the new `score` head in full

    log = SelectionLog()
    scale_range = tuple(script_args.scale_range)
    step_offset = 0
    for stage_index, (stage, stage_pairs) in enumerate(train_stages.items(), start=1):
        stage_args = replace(training_args, output_dir=str(output_dir / f"stage{stage_index}_{stage}"))
        evaluator = CheckpointEvaluator(
            log, stage, step_offset, test_sets, tokenizer, batch_size=training_args.per_device_eval_batch_size,
            max_length=training_args.max_length, scale_range=scale_range,
        )  # fmt: skip
        trainer = XuanYuanRewardTrainer(
            model=model,
            args=stage_args,
            train_dataset=to_dataset(stage_pairs, training_args.margin_per_strength),
            processing_class=tokenizer,
            peft_config=peft_config if stage_index == 1 else None,
            callbacks=[evaluator],
        )
        trainer.train()
        model = trainer.model
        log.add_train_margins(stage, step_offset, trainer.margin_history)
        step_offset += trainer.state.global_step

    report = {}
    if trainer.accelerator.is_main_process:
        selection_set = list(test_sets)[-1]
        report = write_selection_report(log, output_dir, selection_set, scale_range)
        selected = report["selected"]["checkpoint"]
        print(f"selected {selected}: {report['selected']}")
        best = _load_checkpoint(selected, model_args, peft_config is not None, training_args.seed)
        best.save_pretrained(output_dir)
        tokenizer.save_pretrained(output_dir)
        (output_dir / "reward_config.json").write_text(training_args.to_json_string(), encoding="utf-8")
        write_training_card(
            output_dir, "reward", report, base_model=model_args.model_name_or_path, datasets=script_args.data_files
        )
    trainer.accelerator.wait_for_everyone()
    return report


def _load_checkpoint(path: str, model_args: ModelConfig, is_peft: bool, seed: int):
    """The full reward model of an epoch checkpoint (LoRA adapters merged into the base)."""
    if not is_peft:
        return load_reward_model(path, model_args, seed)
    from peft import PeftModel

    base = load_reward_model(model_args.model_name_or_path, model_args, seed)
    return PeftModel.from_pretrained(base, path).merge_and_unload()


def parse_args(argv: list[str] | None = None) -> tuple:
    from xuanyuan.cli import parse_recipe_args

    library = ["xuanyuan.training.reward:XuanYuanRewardConfig", "trl:ModelConfig"]
    return parse_recipe_args([RewardScriptArguments], library, argv=argv)


if __name__ == "__main__":
    from xuanyuan.utils.distributed_exit import exit_finished_process

    main(*parse_args())
    exit_finished_process()
