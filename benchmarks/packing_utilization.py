"""Token utilization of bucketed packing vs TRL's packing vs pad-to-max, side by side on two corpora.

    python benchmarks/packing_utilization.py [--data_files outputs/tiny/data/pretrain/raw.jsonl]

For every method: the share of non-pad tokens in fixed-shape training rows (each row padded to its
length: its bucket for ours, the sequence length for the others), the share of documents split
across rows, and the share of tokens dropped. Ours packs every domain apart (one domain per row, so
rows can be sampled by domain); the "domains mixed" line shows what that costs. Corpora: the embedded
corpus (tokenized with the shipped tokenizer; buckets 128/256/512, others at 512) and a synthetic
long-tailed corpus (log-normal lengths, median 600 tokens, sigma 1.4; buckets 2k/4k/8k/16k, others
at 16k).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

import numpy as np
from datasets import Dataset
from trl import pack_dataset

from xuanyuan.data.corpus import load_corpus
from xuanyuan.data.packing import pack_by_domain, packing_stats, tokenize_documents
from xuanyuan.tokenization import load_tokenizer


def bucketed(lengths, domains, buckets):
    stats = packing_stats(lengths, pack_by_domain(lengths, domains, buckets))
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


def compare(name, lengths, domains, buckets) -> dict:
    largest = max(buckets)
    results = {
        f"bucketed {'/'.join(map(str, buckets))}": bucketed(lengths, domains, buckets),
        "  same, domains mixed in rows": bucketed(lengths, ["all"] * len(lengths), buckets),
        f"TRL bfd @{largest}": trl(lengths, largest, "bfd"),
        f"TRL bfd_split @{largest}": trl(lengths, largest, "bfd_split"),
        f"TRL wrapped @{largest}": trl(lengths, largest, "wrapped"),
        f"pad-to-max @{largest}": pad_to_max(lengths, largest),
    }
    print(f"\n{name}: {len(lengths)} documents, {sum(lengths)} tokens, median {int(np.median(lengths))}")
    print(f"{'method':32s} {'non-pad':>8s} {'split':>8s} {'dropped':>8s} {'rows':>7s}")
    for method, r in results.items():
        print(f"{method:32s} {r['non_pad']:8.2%} {r['split']:8.2%} {r['dropped']:8.2%} {r['rows']:7d}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_files", nargs="+", default=["outputs/tiny/data/pretrain/raw.jsonl"])
    parser.add_argument("--output", default=None, help="Also write the results as JSON here.")
    args = parser.parse_args()

    corpus = load_corpus(args.data_files)
    lengths = [len(ids) for ids in tokenize_documents(load_tokenizer(), corpus.texts)]
    results = {"embedded": compare("embedded corpus", lengths, corpus.domains, [128, 256, 512])}
    rng = np.random.default_rng(0)
    synthetic = np.clip(rng.lognormal(np.log(600), 1.4, 20_000).astype(int), 8, None).tolist()
    results["long_tailed"] = compare(
        "synthetic long-tailed corpus", synthetic, ["web"] * len(synthetic), [2048, 4096, 8192, 16384]
    )
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
