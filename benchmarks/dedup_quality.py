"""Near-dedup quality and speed: our datatrove pipeline vs a single-process datasketch MinHash + LSH, side by
side on one generated corpus with planted near-duplicates (exact Jaccard ground truth), plus whole-pipeline
throughput with 1 and 2 workers.

    python benchmarks/dedup_quality.py --num_docs 3000 --output_dir /tmp/dedup_bench

Needs the bench extra (`pip install 'xuanyuan-recipes[bench]'`: datasketch).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import time
from pathlib import Path

from xuanyuan.data.processing.dedup import DedupConfig, shingles
from xuanyuan.data.processing.dedup_eval import planted_corpus, removal_scores, true_duplicate_edges
from xuanyuan.data.processing.normalize import NormalizeConfig
from xuanyuan.data.processing.pipeline import DataPipeline, ProcessDataConfig
from xuanyuan.data.processing.rules import RuleFilterConfig
from xuanyuan.utils.extras import require


def datasketch_baseline(texts: dict[str, str], config: DedupConfig) -> tuple[set[str], float]:
    """Keep a document unless LSH finds an already kept one within the threshold (the usual one-pass loop)."""
    datasketch = require("datasketch")
    num_perm = config.num_bands * config.rows_per_band
    start = time.perf_counter()
    lsh = datasketch.MinHashLSH(threshold=config.dedup_threshold, num_perm=num_perm)
    kept = set()
    for doc_id, text in texts.items():
        minhash = datasketch.MinHash(num_perm=num_perm, seed=config.minhash_seed)
        minhash.update_batch([item.encode() for item in shingles(text, config)])
        if not lsh.query(minhash):
            lsh.insert(doc_id, minhash)
            kept.add(doc_id)
    return kept, time.perf_counter() - start


def run_pipeline(input_file: Path, out: Path, config: DedupConfig, workers: int, full: bool) -> tuple[set[str], float]:
    shutil.rmtree(out, ignore_errors=True)
    run = ProcessDataConfig(output_dir=str(out), input=[str(input_file)], tasks=2, workers=workers)
    stages = (
        {} if full else {"normalize": NormalizeConfig(normalize=False), "rules": RuleFilterConfig(rule_filters=False)}
    )
    start = time.perf_counter()
    DataPipeline(run=run, dedup=config, **stages).launch()
    elapsed = time.perf_counter() - start
    kept = set()
    for path in (out / "data").glob("*.jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            kept.update(json.loads(line)["id"] for line in handle)
    return kept, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num_docs", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output_dir", default="/tmp/dedup_bench")
    args = parser.parse_args()
    root = Path(args.output_dir)
    root.mkdir(parents=True, exist_ok=True)
    docs = planted_corpus(args.num_docs, seed=args.seed)
    texts = {d.id: d.text for d in docs}
    input_file = root / "corpus.jsonl"
    with input_file.open("w", encoding="utf-8") as handle:
        for d in docs:
            handle.write(
                json.dumps({"id": d.id, "text": d.text, "lang": "zh", "domain": "bench"}, ensure_ascii=False) + "\n"
            )

    config = DedupConfig()
    edges = true_duplicate_edges(texts, config)
    near = [j for j in edges.values()]
    print(
        f"{len(docs)} docs, {len(edges)} true pairs with Jaccard >= {config.dedup_threshold} "
        f"({sum(0.65 <= j < 0.75 for j in near)} within 0.05 of it)"
    )
    ids = [d.id for d in docs]
    variants = [d for d in docs if d.kind == "numeric_variant"]

    rows = []
    for name, (kept, seconds) in {
        "datasketch MinHash+LSH (1 process)": datasketch_baseline(texts, config),
        "datatrove dedup, verify=none (1 worker)": run_pipeline(
            input_file, root / "none", DedupConfig(verify_pairs="none"), 1, False
        ),
        "datatrove dedup, verify=signature (1 worker)": run_pipeline(
            input_file, root / "sig", DedupConfig(verify_pairs="signature"), 1, False
        ),
        "datatrove dedup, verify=exact (1 worker)": run_pipeline(input_file, root / "exact1", config, 1, False),
        "datatrove dedup, verify=exact (2 workers)": run_pipeline(input_file, root / "exact2", config, 2, False),
    }.items():
        scores = removal_scores(ids, edges, kept)
        survived = sum(d.id in kept and d.source in kept for d in variants)
        rows.append((name, scores, seconds, survived))
    print("\n| method | precision | recall | removed / should | figure-only variants kept | seconds | docs/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, s, seconds, survived in rows:
        print(
            f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['removed']} / {s['should_remove']} | "
            f"{survived}/{len(variants)} | {seconds:.1f} | {len(docs) / seconds:.0f} |"
        )

    print("\nWhole pipeline (normalise, rule filters, dedup, output):")
    print("| workers | seconds | docs/s |\n|---:|---:|---:|")
    for workers in (1, 2):
        _, seconds = run_pipeline(input_file, root / f"full{workers}", config, workers, True)
        print(f"| {workers} | {seconds:.1f} | {len(docs) / seconds:.0f} |")


if __name__ == "__main__":
    main()
