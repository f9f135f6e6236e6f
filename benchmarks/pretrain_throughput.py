"""Pretraining real tokens/s: the tiny recipe as shipped vs the standard concatenate-and-chunk `Trainer`.

    python benchmarks/pretrain_throughput.py --data_files DIR/pretrain/raw.jsonl --model DIR/init [--steps 30]

Ours: `recipes/tiny/pretrain.yaml` as the main job runs it (bucketed packing, per-domain loss, mixture
sampler), only `max_steps`, saving and logging changed. Baseline: what `run_clm.py` and the transformers
course do, and what a user of the library would pick: the same documents, tokenized the same way
(`<s> text </s>`), concatenated and cut into blocks of the largest bucket length, a plain `Trainer` with the
same optimizer, schedule, precision, threads and token budget per optimizer step (ours fills it with the
row count nearest to it in each bucket; the section states our mean). Both train the same initial weights.
Before timing, both losses are computed on the same batches and must agree.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from harness import Row, Section, bench_main, check_close, paired_rows, single, steady_tokens_per_second
from transformers import AutoModelForCausalLM, Trainer, TrainingArguments, default_data_collator

from xuanyuan.cli import parse_recipe_args
from xuanyuan.data.corpus import load_corpus
from xuanyuan.data.packing import PackedCollator, pack_corpus, tokenize_documents
from xuanyuan.tokenization import load_tokenizer
from xuanyuan.training.pretrain import PretrainTrainer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from script_loading import load_script  # noqa: E402

RECIPE = ROOT / "recipes" / "tiny" / "pretrain.yaml"
# TrainingArguments both sides share, taken from the recipe's config
SHARED = ("learning_rate", "lr_scheduler_type", "lr_scheduler_kwargs", "warmup_steps", "weight_decay", "adam_beta1",
          "adam_beta2", "adam_epsilon", "max_grad_norm", "optim", "seed", "bf16", "use_cpu", "max_steps",
          "dataloader_num_workers")  # fmt: skip


def recipe_config(args, output_dir: str):
    overrides = [
        "--max_steps",
        str(args.steps),
        "--save_strategy",
        "no",
        "--report_to",
        "none",
        "--logging_steps",
        "100000",
    ]
    if args.fp32:
        overrides += ["--bf16", "false"]
    argv = ["--config", str(RECIPE), "--data_files", *args.data_files, "--output_dir", output_dir, *overrides]
    script = load_script("recipes/pretrain.py").PretrainScriptArguments
    _, config, _ = parse_recipe_args([script], ["xuanyuan.training.pretrain:PretrainConfig", "trl:ModelConfig"], argv)
    config.include_num_input_tokens_seen = "non_padding"  # the command line only takes true/false
    return config


def concat_and_chunk(documents: list[list[int]], block: int) -> Dataset:
    """run_clm.py's `group_texts`: all tokens in one stream, cut into `block`-token rows (the tail dropped)."""
    stream = np.fromiter((t for d in documents for t in d), dtype=np.int64)
    rows = stream[: len(stream) // block * block].reshape(-1, block)
    return Dataset.from_dict({"input_ids": rows.tolist(), "labels": rows.tolist()})


def split_share_of_chunking(documents: list[list[int]], block: int) -> float:
    ends = np.cumsum([len(d) for d in documents])
    starts = ends - np.array([len(d) for d in documents])
    return float(np.mean(starts // block != (ends - 1) // block))


def run(args: argparse.Namespace) -> Section:
    tokenizer = load_tokenizer(args.model)
    corpus = load_corpus(args.data_files, on_bad_record="skip")
    work = tempfile.mkdtemp()
    config = recipe_config(args, f"{work}/ours")
    packed, stats = pack_corpus(
        tokenizer, corpus.texts, corpus.domains, config.bucket_lengths, config.packing_min_utilization
    )
    largest = max(config.bucket_lengths)
    tokens_per_step = config.per_device_train_batch_size * config.max_length
    documents = tokenize_documents(tokenizer, corpus.texts)
    initial = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).state_dict()

    def fresh_model():
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
        model.load_state_dict(initial)
        return model

    def baseline_trainer(block: int) -> Trainer:
        arguments = TrainingArguments(
            output_dir=f"{work}/baseline", per_device_train_batch_size=tokens_per_step // block, save_strategy="no",
            report_to="none", logging_steps=100000, include_num_input_tokens_seen="non_padding",
            **{name: getattr(config, name) for name in SHARED},
        )  # fmt: skip
        return Trainer(fresh_model(), arguments, train_dataset=concat_and_chunk(documents, block),
                       data_collator=default_data_collator, processing_class=tokenizer)  # fmt: skip

    slots_per_step = []  # ours: each bucket's row count is the one nearest the token budget

    def ours() -> float:
        trainer = PretrainTrainer(fresh_model(), config, packed, processing_class=tokenizer)
        tokens_per_second = steady_tokens_per_second(trainer)
        summary = trainer.summary()
        slots_per_step.append(summary["token_slots_seen"] / summary["global_step"])
        return tokens_per_second

    check = same_loss(tokenizer, config, packed, baseline_trainer(largest))
    precision = "bf16 autocast" if config.bf16 else "fp32"
    rows = paired_rows(
        "real tokens/s",
        "tokens/s",
        ours,
        {f"blocks of {b}": lambda b=b: steady_tokens_per_second(baseline_trainer(b)) for b in (largest, largest // 2)},
        args.repeats,
        args.warmup,
        notes={f"blocks of {largest}": "our longest row", f"blocks of {largest // 2}": "shorter attention, more cuts"},
    )
    section = Section(
        key="pretrain_throughput",
        title=f"Pretraining ({precision}): bucketed packing (tiny recipe) vs concatenate-and-chunk `Trainer`",
        baseline=f"`transformers.Trainer` on run_clm.py-style blocks (documents concatenated and cut, the tail "
        f"dropped) of {largest} tokens, our longest row, and of {largest // 2}; `default_data_collator`, "
        f"{tokens_per_step} tokens per batch, no attention mask",
        matched_work=f"same documents and tokenizer, same initial weights, {tokens_per_step} token slots per "
        f"optimizer step (ours: {np.mean(slots_per_step):.0f} on average, each bucket's row count being the one "
        f"nearest to {tokens_per_step} tokens), {args.steps} steps, same optimizer ({config.optim.value}), "
        f"schedule, {precision}, {args.threads} threads; rate from the end of step 1 to the end of the last step",
        check=check,
    )
    section.rows = [
        *rows,
        Row("non-pad share of token slots", "share", single(stats.utilization), single(1.0)),
        Row(f"documents split across rows (baseline: blocks of {largest})", "share", single(stats.split_share),
            single(split_share_of_chunking(documents, largest))),
    ]  # fmt: skip
    section.notes = [
        f"Ours packs {stats.num_documents} documents into {stats.num_sequences} rows "
        f"({', '.join(f'{n}×{length}' for length, n in sorted(stats.sequences_per_bucket.items()))}), "
        "one domain per row so the mixture controller can re-weight domains; the baseline's rows mix domains.",
    ]
    return section


def same_loss(tokenizer, config, packed, theirs: Trainer) -> str:
    """Both trainers' `compute_loss` on the same rows: a full block, and a padded packed row (ours passes no
    attention mask; the model's own loss with one must agree)."""
    model = theirs.model.eval()
    ours = PretrainTrainer(model, config, packed, processing_class=tokenizer)
    block = default_data_collator([theirs.train_dataset[0]])
    with torch.no_grad():
        mine = ours.compute_loss(model, {**block, "domain_ids": torch.tensor([0]), "num_real_tokens": torch.tensor(
            [block["input_ids"].shape[1]])})  # fmt: skip
        reference = theirs.compute_loss(model, dict(block))
        checks = [check_close("loss on one concatenated block, ours vs Trainer", mine, reference, atol=1e-5)]
        padded = next(i for i, s in enumerate(packed.sequences) if s.num_real_tokens < s.length)
        batch = PackedCollator(config.document_attention)([packed[padded]])
        domains, real = batch.pop("domain_ids"), batch.pop("num_real_tokens")
        mine = ours.compute_loss(model, {**batch, "domain_ids": domains, "num_real_tokens": real})
        masked = model(input_ids=batch["input_ids"], attention_mask=(batch["labels"] != -100).long(),
                       labels=batch["labels"]).loss  # fmt: skip
        checks.append(check_close("loss on a padded packed row, no mask vs the model's own with a mask", mine,
                                  masked, atol=1e-5))  # fmt: skip
    return "; ".join(checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_files", nargs="+", required=True)
    parser.add_argument("--model", required=True, help="Initial model folder (recipes/create_model.py).")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--fp32", action="store_true", help="Train in fp32 (the recipe says bf16: auto).")
    bench_main(parser, run)


if __name__ == "__main__":
    main()
