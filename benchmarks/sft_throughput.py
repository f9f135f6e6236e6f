"""SFT real tokens/s: the tiny recipe's trainer vs TRL's `SFTTrainer` with its packing / padding-free switches.

    python benchmarks/sft_throughput.py --model DIR/init --data_dir DIR [--steps 6]

Ours: `recipes/tiny/sft.yaml` as the main job runs it (length-grouped batches of whole examples,
assistant-only loss, batch, max_length, precision, no activation checkpointing), with the data mix off
(`pretrain_ratio 0`, no category re-balancing): TRL cannot mix pretraining text in, so both sides train
on the same instruction records. Baselines, TRL's documented switches with checkpointing off as in ours:
the same length-grouped sampler ours uses (`train_sampling_strategy="group_by_length"`), `padding_free=True`
(the same examples per step, flattened with restarting position ids), and `packing=True` (best-fit-
decreasing rows of `max_length`, padding-free; as many rows per step as hold the same number of tokens as
our batches). Before timing, the per-token losses of one batch collated by TRL
(padded) and by our trainer must agree token for token.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from harness import Section, bench_main, check_close, paired_rows, steady_tokens_per_second
from transformers import AutoModelForCausalLM
from trl import SFTConfig, SFTTrainer

import xuanyuan  # noqa: F401  (registers the model with the Auto classes)
from xuanyuan.cli import parse_recipe_args
from xuanyuan.data.sft_data import load_sft_dataset
from xuanyuan.tokenization import load_tokenizer
from xuanyuan.training import XuanYuanSFTTrainer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from script_loading import load_script  # noqa: E402

RECIPE = ROOT / "recipes" / "tiny" / "sft.yaml"
SHARED = ("learning_rate", "lr_scheduler_type", "warmup_steps", "weight_decay", "optim", "seed", "bf16", "use_cpu",
          "max_length", "assistant_only_loss", "max_steps", "dataloader_num_workers")  # fmt: skip


def recipe_config(args, output_dir: str):
    overrides = ["--max_steps", str(args.steps), "--save_strategy", "no", "--report_to", "none",
                 "--eval_strategy", "no", "--logging_steps", "100000", "--pretrain_ratio", "0",
                 "--dynamic_category_ratios", "false"]  # fmt: skip
    if args.fp32:
        overrides += ["--bf16", "false"]
    argv = ["--config", str(RECIPE), "--train_files", "unused", "--output_dir", output_dir, *overrides]
    script = load_script("recipes/sft.py").SFTScriptArguments
    _, config, _ = parse_recipe_args([script], ["xuanyuan.training:XuanYuanSFTConfig", "trl:ModelConfig"], argv)
    config.include_num_input_tokens_seen = "non_padding"  # the command line only takes true/false
    return config


def trl_config(config, output_dir: str, batch_size: int, **switches) -> SFTConfig:
    return SFTConfig(
        output_dir=output_dir, per_device_train_batch_size=batch_size, save_strategy="no", report_to="none",
        logging_steps=100000, gradient_checkpointing=False, include_num_input_tokens_seen="non_padding",
        **{**{name: getattr(config, name) for name in SHARED}, **switches},
    )  # fmt: skip


def run(args: argparse.Namespace) -> Section:
    tokenizer = load_tokenizer(args.model)
    records, _ = load_sft_dataset([str(Path(args.data_dir, "sft", "train.jsonl"))])
    work = tempfile.mkdtemp()
    config = recipe_config(args, f"{work}/ours")

    def model():
        return AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)

    ours = XuanYuanSFTTrainer(model(), config, train_dataset=records, processing_class=tokenizer)
    batch = config.per_device_train_batch_size
    lengths = [len(ids) for ids in ours.train_dataset["input_ids"]]
    if max(lengths) > config.max_length:  # TRL's padding-free path does not truncate
        raise ValueError(f"an example is longer than max_length {config.max_length}: the sides would differ")
    mean_tokens = float(np.mean(lengths))
    packed_rows = max(1, round(batch * mean_tokens / config.max_length))
    if config.gradient_checkpointing:
        raise ValueError("the recipe checkpoints activations: the baselines would do different work")
    baselines = {
        "TRL length-grouped": SFTTrainer(model(), args=trl_config(config, f"{work}/gl", batch,
                                         train_sampling_strategy="group_by_length"), train_dataset=records,
                                         processing_class=tokenizer),
        "TRL padding_free": SFTTrainer(model(), args=trl_config(config, f"{work}/pf", batch, padding_free=True,
                                                                   max_length=None),
                                       train_dataset=records, processing_class=tokenizer),
        "TRL packing (bfd)": SFTTrainer(model(), args=trl_config(config, f"{work}/pk", packed_rows, packing=True),
                                        train_dataset=records, processing_class=tokenizer),
    }  # fmt: skip
    check = same_token_losses(ours, config, records, tokenizer, work)
    rows = paired_rows(
        "real tokens/s",
        "tokens/s",
        lambda: steady_tokens_per_second(ours),
        {name: lambda t=trainer: steady_tokens_per_second(t) for name, trainer in baselines.items()},
        args.repeats,
        args.warmup,
        notes={"TRL packing (bfd)": f"{packed_rows} rows of {config.max_length} per step"},
    )
    precision = "bf16 autocast" if config.bf16 else "fp32"
    return Section(
        key="sft_throughput",
        title="SFT: the recipe's trainer vs TRL `SFTTrainer` length-grouped, padding-free or packed",
        baseline="TRL 1.16 `SFTTrainer`, gradient checkpointing off (as ours), with the Trainer's length-grouped "
        f"sampler (padded batches of {batch} examples, as ours), with `padding_free=True` (same batch), and with "
        f"`packing=True` (best-fit decreasing into rows of {config.max_length}, {packed_rows} rows per step ≈ the "
        "same tokens per step)",
        matched_work=f"same {len(records)} instruction records and tokenizer, same initial weights, assistant-only "
        f"loss, {args.steps} optimizer steps per round, same optimizer ({config.optim.value}) and schedule, "
        f"{precision}, {args.threads} threads; ours groups examples of similar length ({batch} per batch, "
        f"{mean_tokens:.0f} tokens on average) and pads each batch to its longest",
        check=check,
        rows=rows,
    )


def same_token_losses(ours: XuanYuanSFTTrainer, config, records, tokenizer, work: str, n: int = 16) -> str:
    """Per-token losses of the same `n` examples, collated by TRL's default (padded) collator and by ours: the
    tokens that carry loss and each token's loss must match."""
    reference = SFTTrainer(ours.model, args=trl_config(config, f"{work}/ref", n), train_dataset=records,
                           processing_class=tokenizer)  # fmt: skip
    examples = [reference.train_dataset[i] for i in range(n)]
    padded = reference.data_collator([{k: e[k] for k in ("input_ids", "labels")} for e in examples])
    mine = ours.data_collator([ours.train_dataset[i] for i in range(n)])

    def token_losses(batch):
        with torch.no_grad():
            logits = ours.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        losses = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2).double(), batch["labels"][:, 1:],
                                                   reduction="none")  # fmt: skip
        return torch.where(batch["labels"][:, 1:] != -100, losses, torch.nan)

    a, b = token_losses(padded), token_losses(mine)
    width = min(a.shape[1], b.shape[1])
    if not torch.equal(a[:, :width].isnan(), b[:, :width].isnan()):
        raise AssertionError("TRL's and our collation put the loss on different tokens")
    return check_close(f"per-token loss of {n} examples, TRL's padded collation vs ours", a[:, :width].nan_to_num(),
                       b[:, :width].nan_to_num(), atol=1e-5)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Initial model folder (recipes/create_model.py).")
    parser.add_argument("--data_dir", required=True, help="Embedded data folder (recipes/generate_data.py).")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--fp32", action="store_true", help="Train in fp32 (the recipe says bf16: auto).")
    bench_main(parser, run)


if __name__ == "__main__":
    main()
