"""Real (non-pad) tokens per second: this recipe's trainer vs plain `transformers.Trainer` + pad-to-max.

    python benchmarks/pretrain_throughput.py [--data_files outputs/tiny/data/pretrain/raw.jsonl] [--steps 10]

Same tiny model (preset `tiny`, same initial weights), same optimizer settings, same token slots per
batch (2,048: ours 16x128, 8x256 or 4x512 packed rows; the baseline 4 documents each truncated and
padded to 512). Runs alternate (ours, baseline, ours, baseline) so that load on shared machines hits
both; real tokens are the Trainer's own `num_input_tokens_seen` with `"non_padding"`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from datasets import Dataset
from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments, set_seed

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
from xuanyuan.data.corpus import load_corpus
from xuanyuan.data.packing import pack_corpus, tokenize_documents
from xuanyuan.tokenization import load_tokenizer
from xuanyuan.training.pretrain import PretrainConfig, PretrainTrainer

COMMON = dict(
    learning_rate=1e-3, max_grad_norm=1.0, warmup_steps=2, use_cpu=True, report_to="none", save_strategy="no",
    logging_steps=1000, include_num_input_tokens_seen="non_padding", dataloader_num_workers=0, seed=0,
)  # fmt: skip


def fresh_model(tokenizer):
    set_seed(0)
    config = XuanYuanConfig.from_preset(
        "tiny", pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=2
    )
    return XuanYuanForCausalLM(config)


def timed(trainer) -> tuple[float, int]:
    start = time.perf_counter()
    trainer.train()
    return time.perf_counter() - start, int(trainer.state.num_input_tokens_seen)


def run_ours(tokenizer, corpus, steps, output_dir):
    dataset, _ = pack_corpus(tokenizer, corpus.texts, corpus.domains, [128, 256, 512])
    args = PretrainConfig(
        output_dir=output_dir, per_device_train_batch_size=8, max_length=256, max_steps=steps,
        bucket_lengths=[128, 256, 512], lr_scheduler_type="cosine", **COMMON,
    )  # fmt: skip
    return timed(PretrainTrainer(fresh_model(tokenizer), args, dataset, processing_class=tokenizer))


def run_baseline(tokenizer, corpus, steps, output_dir):
    ids = [d[:512] for d in tokenize_documents(tokenizer, corpus.texts)]
    dataset = Dataset.from_dict({"input_ids": ids})
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False, pad_to_multiple_of=512)
    args = TrainingArguments(
        output_dir=output_dir, per_device_train_batch_size=4, max_steps=steps, lr_scheduler_type="cosine", **COMMON
    )
    trainer = Trainer(fresh_model(tokenizer), args, train_dataset=dataset, data_collator=collator)
    trainer.processing_class = tokenizer
    return timed(trainer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_files", nargs="+", default=["outputs/tiny/data/pretrain/raw.jsonl"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    tokenizer, corpus = load_tokenizer(), load_corpus(args.data_files)
    totals = {"ours": [0.0, 0], "baseline": [0.0, 0]}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for name, run in (("ours", run_ours), ("baseline", run_baseline)):
                seconds, tokens = run(tokenizer, corpus, args.steps, f"{tmp}/{name}")
                totals[name][0] += seconds
                totals[name][1] += tokens
                print(f"{name:9s} {tokens:8d} real tokens in {seconds:6.1f} s = {tokens / seconds:7.0f} tokens/s")
    rates = {name: tokens / seconds for name, (seconds, tokens) in totals.items()}
    result = {
        "real_tokens_per_second": rates,
        "speedup": rates["ours"] / rates["baseline"],
        "steps_per_run": args.steps,
        "rounds": args.rounds,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
