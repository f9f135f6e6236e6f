"""Size and quality of every quantized variant of one model, measured side by side in one run.

    PYTHONPATH=. python benchmarks/quantization.py --data_dir /tmp/q/data --work_dir /tmp/q/bench [--model DIR]

Without `--model` a tiny model is trained briefly first (tests/tiny_trained.py). GPTQ rows need the
`gptq` extra and are left out without it. Prints a Markdown table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

from tests.tiny_trained import train_tiny_model
from xuanyuan.quantization import (
    GPTQSettings,
    ReportSettings,
    load_calibration,
    quality_report,
    quantize_bnb,
    quantize_gptq,
)
from xuanyuan.tokenization import load_tokenizer

BNB_VARIANTS = {
    "bnb 8-bit": dict(bits=8),
    "bnb 4-bit nf4": dict(bits=4, quant_type="nf4"),
    "bnb 4-bit nf4 + double quant": dict(bits=4, quant_type="nf4", double_quant=True),
    "bnb 4-bit fp4": dict(bits=4, quant_type="fp4"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data_dir", required=True, help="Embedded data folder (recipes/generate_data.py).")
    parser.add_argument("--work_dir", required=True)
    parser.add_argument("--model", help="Trained model folder (default: train a tiny one).")
    parser.add_argument("--train_steps", type=int, default=80)
    parser.add_argument("--max_eval_documents", type=int, default=None)
    args = parser.parse_args()
    data, work = Path(args.data_dir), Path(args.work_dir)
    model = args.model or str(train_tiny_model(data / "pretrain/raw.jsonl", work / "trained", steps=args.train_steps))
    settings = ReportSettings(
        eval_data_files=[str(data / "pretrain/heldout.jsonl")], max_eval_documents=args.max_eval_documents
    )
    outputs = {name: quantize_bnb(model, work / re.sub(r"\W+", "_", name), **kw) for name, kw in BNB_VARIANTS.items()}
    if importlib.util.find_spec("gptqmodel"):
        calibration = load_calibration(str(data / "pretrain/raw.jsonl"), load_tokenizer(model), 128, 512)
        outputs["GPTQ 4-bit g128"] = quantize_gptq(model, work / "gptq_4bit", calibration, GPTQSettings())
    rows = [
        "| variant | weights / fp32 | weights / bf16 | footprint / fp32 | perplexity (orig → quant) | ratio "
        "| KL mean (nats) | relative L2 | top-1 agree |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, path in outputs.items():
        r = quality_report(model, str(path), settings, method={"variant": name})
        size, agree = r["size"], r["logit_agreement"]
        before, after = r["reference"]["perplexity"]["perplexity"], r["quantized"]["perplexity"]["perplexity"]
        rows.append(
            f"| {name} | {size['ratio_to_fp32']:.3f} | {size['ratio_to_bf16']:.3f} | "
            f"{size['memory_footprint_ratio_to_fp32']:.3f} | {before:.3f} → {after:.3f} | "
            f"{r['perplexity_ratio']:.4f} | "
            f"{agree['kl_mean']:.5f} | {agree['relative_l2']:.4f} | {agree['top1_agreement']:.3f} |"
        )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
