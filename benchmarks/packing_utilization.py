"""Token utilization of bucketed packing vs TRL's packing vs pad-to-max, side by side on two corpora.

    python benchmarks/packing_utilization.py --data_files DIR/pretrain/raw.jsonl

For every method: the share of non-pad tokens in fixed-shape training rows (each row padded to its
length: its bucket for ours, the sequence length for the others), the share of documents split
across rows, and the share of tokens dropped. Ours packs every domain apart (one domain per row, so
rows can be sampled by domain); the "domains mixed" line shows what that costs. Corpora: the embedded
corpus (tokenized with the shipped tokenizer; the tiny recipe's buckets and target, others at its
largest bucket) and a synthetic long-tailed corpus (log-normal lengths, median 600 tokens, sigma 1.4;
the 6B recipe's buckets 2k/4k/8k/16k, others at 16k). Deterministic: no timing, one run.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import yaml
from datasets import Dataset
from harness import Row, Section, bench_main, single
from trl import pack_dataset

from xuanyuan.data.corpus import load_corpus
from xuanyuan.data.packing import pack_by_domain, packing_stats, tokenize_documents
from xuanyuan.tokenization import load_tokenizer

ROOT = Path(__file__).resolve().parents[1]


def bucketed(lengths, domains, buckets, min_utilization):
    stats = packing_stats(lengths, pack_by_domain(lengths, domains, buckets, min_utilization))
    return {"non_pad": stats.utilization, "split": stats.split_share, "dropped": 0.0, "rows": stats.num_sequences}


def trl(lengths, seq_length, strategy):
    # Token values do not matter; each token carries its document id so splits can be counted.
    dataset = Dataset.from_dict({"input_ids": [[doc] * n for doc, n in enumerate(lengths)]})
    packed = pack_dataset(dataset, seq_length, strategy, map_kwargs={"desc": None})
    rows = packed["input_ids"]
    real = sum(len(r) for r in rows)
    pieces = Counter(doc for row in rows for doc in set(row))  # a document in two rows was split
    split = sum(1 for c in pieces.values() if c > 1)
    if strategy == "bfd":  # bfd truncates: a truncated document counts as split
        split += sum(1 for n in lengths if n > seq_length)
    return {
        "non_pad": real / (len(rows) * seq_length),
        "split": split / len(lengths),
        "dropped": 1 - real / sum(lengths),
        "rows": len(rows),
    }


def pad_to_max(lengths, seq_length):
    rows = sum(-(-n // seq_length) for n in lengths)  # long documents cut into max-length chunks
    return {
        "non_pad": sum(lengths) / (rows * seq_length),
        "split": sum(n > seq_length for n in lengths) / len(lengths),
        "dropped": 0.0,
        "rows": rows,
    }


def compare(lengths, domains, buckets, min_utilization) -> dict:
    largest = max(buckets)
    return {
        f"ours, buckets {'/'.join(map(str, buckets))} at {min_utilization:.0%}": bucketed(
            lengths, domains, buckets, min_utilization
        ),
        "  same, domains mixed in rows": bucketed(lengths, ["all"] * len(lengths), buckets, min_utilization),
        f"TRL bfd @{largest}": trl(lengths, largest, "bfd"),
        f"TRL bfd_split @{largest}": trl(lengths, largest, "bfd_split"),
        f"TRL wrapped @{largest}": trl(lengths, largest, "wrapped"),
        f"pad-to-max @{largest}": pad_to_max(lengths, largest),
    }


def table(name: str, lengths: list[int], results: dict) -> str:
    lines = [
        f"{name}: {len(lengths)} documents, {sum(lengths)} tokens, median {int(np.median(lengths))}",
        "",
        "| method | non-pad | documents split | tokens dropped | rows |",
        "|---|---:|---:|---:|---:|",
    ]
    for method, r in results.items():
        lines.append(f"| {method} | {r['non_pad']:.2%} | {r['split']:.2%} | {r['dropped']:.2%} | {r['rows']} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> Section:
    recipe = yaml.safe_load((ROOT / "recipes" / "tiny" / "pretrain.yaml").read_text(encoding="utf-8"))
    recipe_6b = yaml.safe_load((ROOT / "recipes" / "xuanyuan-6b" / "pretrain.yaml").read_text(encoding="utf-8"))
    corpus = load_corpus(args.data_files)
    lengths = [len(ids) for ids in tokenize_documents(load_tokenizer(), corpus.texts)]
    rng = np.random.default_rng(0)
    synthetic = np.clip(rng.lognormal(np.log(600), 1.4, 20_000).astype(int), 8, None).tolist()
    corpora = {
        "embedded corpus": (lengths, corpus.domains, recipe),
        "synthetic long-tailed corpus": (synthetic, ["web"] * len(synthetic), recipe_6b),
    }
    tables, rows = [], []
    for name, (doc_lengths, domains, config) in corpora.items():
        results = compare(doc_lengths, domains, config["bucket_lengths"], config["packing_min_utilization"])
        tables.append(table(name, doc_lengths, results))
        ours, best = next(iter(results.values())), results[f"TRL bfd_split @{max(config['bucket_lengths'])}"]
        rows += [
            Row(f"non-pad share, {name} (baseline: TRL bfd_split)", "share", single(ours["non_pad"]),
                single(best["non_pad"])),
            Row(f"documents split, {name} (baseline: TRL bfd_split)", "share", single(ours["split"]),
                single(best["split"])),
        ]  # fmt: skip
    return Section(
        key="packing_utilization",
        title="Packing: non-pad share and documents split, bucketed per domain vs TRL's packing",
        baseline="TRL 1.16 `pack_dataset` (bfd, bfd_split, wrapped) at the largest bucket, and pad-to-max; rows "
        "from TRL mix domains, ours keep one domain per row (the mixture controller samples rows by domain)",
        matched_work="the same token lengths (documents as `<s> text </s>` with the shipped tokenizer); the recipes' "
        "own bucket lengths and utilization targets",
        check="every method accounts for every token (dropped tokens are shown, not lost)",
        rows=rows,
        tables=tables,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_files", nargs="+", required=True)
    bench_main(parser, run)


if __name__ == "__main__":
    main()
