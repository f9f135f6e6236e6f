"""SFT throughput: this recipe vs plain TRL `SFTTrainer` defaults, and packing / padding-free on vs off.

    python benchmarks/sft_throughput.py --model /tmp/x/init --data_dir /tmp/x/data [--steps 8 --rounds 3]

Every variant trains the same model from the same instruction records (assistant-only loss in all, so
the objective is the same) with the same batch size; variants run interleaved, round after round, and
the median tokens/s (real, non-pad tokens) is reported as a ratio to TRL's defaults. Then the masking
proof: one batch of the same records is scored under TRL's default collation (padded) and under the
recipe's (padding-free, group-tagged); the tokens that carry loss and each token's loss must match.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, TrainerCallback
from trl import SFTConfig, SFTTrainer

import xuanyuan  # noqa: F401
from xuanyuan.data.sft_data import load_sft_dataset, load_text_dataset
from xuanyuan.tokenization import load_tokenizer
from xuanyuan.training import XuanYuanSFTConfig, XuanYuanSFTTrainer

CPU = dict(use_cpu=True, bf16=False)  # TRL's bf16 default fails on CPU-only machines (README, "two traps")
COMMON = dict(report_to=[], save_strategy="no", logging_steps=1000, assistant_only_loss=True, seed=0)

# name -> (trainer class, config overrides on top of TRL's SFTConfig defaults, uses pretraining text)
VARIANTS = {
    "trl_default": (SFTTrainer, {}, False),
    "trl_padding_free": (SFTTrainer, dict(padding_free=True, max_length=None), False),
    "trl_packing_bfd": (SFTTrainer, dict(packing=True, max_length=512), False),
    "trl_no_checkpointing": (SFTTrainer, dict(gradient_checkpointing=False), False),
    "recipe_padding_free": (XuanYuanSFTTrainer, dict(gradient_checkpointing=False, padding_free=True), False),
    "recipe": (
        XuanYuanSFTTrainer,
        dict(gradient_checkpointing=False, train_sampling_strategy="group_by_length", max_length=512),
        False,
    ),
    "recipe_mixed_20pct_pretrain": (
        XuanYuanSFTTrainer,
        dict(gradient_checkpointing=False, train_sampling_strategy="group_by_length", max_length=512,
             pretrain_ratio=0.2),
        True,
    ),
}  # fmt: skip


def build(name, model_dir, tokenizer, sft, pretrain, batch_size, steps, out):
    trainer_cls, overrides, mixed = VARIANTS[name]
    config_cls = XuanYuanSFTConfig if trainer_cls is XuanYuanSFTTrainer else SFTConfig
    args = config_cls(
        output_dir=str(Path(out, name)), per_device_train_batch_size=batch_size, max_steps=steps,
        **CPU, **COMMON, **overrides,
    )  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    kwargs = {"pretrain_dataset": pretrain} if mixed else {}
    return trainer_cls(model, args=args, train_dataset=sft, processing_class=tokenizer, **kwargs)


class StepClock(TrainerCallback):
    """(time, real tokens trained so far) at the end of every step."""

    def __init__(self, trainer):
        self.trainer, self.marks = trainer, []

    def on_step_end(self, args, state, control, **kwargs):
        self.marks.append((time.perf_counter(), self.trainer._total_train_tokens))


def tokens_per_second(trainer) -> float:
    """Steady-state rate: from the end of the first step to the end of the last (setup and warm-up excluded)."""
    clock = StepClock(trainer)
    trainer.add_callback(clock)
    trainer.train()
    trainer.remove_callback(clock)
    (t0, n0), (t1, n1) = clock.marks[0], clock.marks[-1]
    return (n1 - n0) / (t1 - t0)


def per_token_losses(model, batch, rows_of_examples) -> list[dict[int, float]]:
    """For each example: {position in the example: loss} over the tokens that carry loss (full logits)."""
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids") if k in batch}
    with torch.no_grad():
        logp = torch.log_softmax(model(**inputs, use_cache=False).logits.double(), dim=-1)
    labels = batch["labels"]
    result = []
    for row, start, length in rows_of_examples:
        losses = {}
        for t in range(1, length):
            label = int(labels[row, start + t])
            if label != -100:
                losses[t] = -logp[row, start + t - 1, label].item()
        result.append(losses)
    return result


def masking_proof(model_dir, tokenizer, sft, out, n: int = 32) -> dict:
    default = build("trl_default", model_dir, tokenizer, sft, None, n, 1, out)
    recipe = build("recipe_padding_free", model_dir, tokenizer, sft, None, n, 1, out)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    a = [default.train_dataset[i] for i in range(n)]
    b = [recipe.train_dataset[i] for i in range(n)]
    padded = default.data_collator([{k: e[k] for k in ("input_ids", "labels")} for e in a])
    flat = recipe.data_collator(b)
    offsets = torch.tensor([0] + [len(e["input_ids"]) for e in b]).cumsum(0).tolist()
    losses_a = per_token_losses(model, padded, [(i, 0, len(e["input_ids"])) for i, e in enumerate(a)])
    losses_b = per_token_losses(model, flat, [(0, offsets[i], len(e["input_ids"])) for i, e in enumerate(b)])
    same_mask = all(x.keys() == y.keys() for x, y in zip(losses_a, losses_b, strict=True))
    diffs = [abs(x[t] - y[t]) for x, y in zip(losses_a, losses_b, strict=True) for t in x.keys() & y.keys()]
    return {
        "examples": n,
        "same_input_ids": [e["input_ids"] for e in a] == [e["input_ids"] for e in b],
        "same_loss_tokens": same_mask,
        "loss_tokens": sum(map(len, losses_a)),
        "max_abs_token_loss_diff": max(diffs),
        "mean_loss_trl_default": statistics.fmean(v for x in losses_a for v in x.values()),
        "mean_loss_recipe": statistics.fmean(v for x in losses_b for v in x.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--examples", type=int, default=1024, help="instruction records used")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--output", default="/tmp/sft_throughput")
    args = parser.parse_args()
    torch.manual_seed(0)
    tokenizer = load_tokenizer(args.model)
    sft, _ = load_sft_dataset([str(Path(args.data_dir, "sft", "train.jsonl"))])
    sft = sft.select(range(min(args.examples, len(sft))))
    pretrain, _ = load_text_dataset([str(Path(args.data_dir, "pretrain", "raw.jsonl"))])
    pretrain = Dataset.from_dict({"text": pretrain["text"]})

    proof = masking_proof(args.model, tokenizer, sft, args.output)
    print("masking proof:", json.dumps(proof, indent=2))
    trainers = {n: build(n, args.model, tokenizer, sft, pretrain, args.batch_size, args.steps, args.output)
                for n in args.variants}  # fmt: skip
    rates = {name: [] for name in trainers}
    for round_index in range(args.rounds):
        for name, trainer in trainers.items():
            rates[name].append(tokens_per_second(trainer))
            print(f"round {round_index}: {name:30s} {rates[name][-1]:8.0f} tokens/s", flush=True)
    baseline = statistics.median(rates["trl_default"]) if "trl_default" in rates else None
    print(f"\n| variant | tokens/s (median of {args.rounds}) | vs TRL default |\n|---|---|---|")
    for name, values in rates.items():
        median = statistics.median(values)
        ratio = f"{median / baseline:.2f}x" if baseline else "-"
        print(f"| {name} | {median:.0f} | {ratio} |")
    result = {"rates": rates, "masking_proof": proof, "settings": vars(args)}
    Path(args.output).mkdir(parents=True, exist_ok=True)
    Path(args.output, "sft_throughput.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
