"""Size and quality of every quantized variant of one trained model against its fp32 original (a quality
report: deterministic, so measured once; --repeats and --warmup do not apply).

    python benchmarks/quantization.py --data_dir DATA [--model DIR] [--work_dir DIR]

Without `--model` the tiny preset is trained briefly first (tests/tiny_trained.py): quality numbers need a
trained model. GPTQ rows need the `gptq` extra and are left out without it.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import tempfile
from pathlib import Path

from harness import MismatchError, Row, Section, bench_main, single

from xuanyuan.quantization import (
    GPTQSettings,
    ReportSettings,
    load_calibration,
    quality_report,
    quantize_bnb,
    quantize_gptq,
)
from xuanyuan.tokenization import load_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tiny_trained import train_tiny_model  # noqa: E402

BNB_VARIANTS = {
    "bnb 8-bit": dict(bits=8),
    "bnb 4-bit nf4": dict(bits=4, quant_type="nf4"),
    "bnb 4-bit nf4 + double quant": dict(bits=4, quant_type="nf4", double_quant=True),
    "bnb 4-bit fp4": dict(bits=4, quant_type="fp4"),
}


def variant_rows(name: str, report: dict) -> list[Row]:
    """Weights on disk and held-out perplexity against fp32 (ratio > 1: better than fp32), and agreement."""
    size, agreement = report["size"], report["logit_agreement"]
    ours, fp32 = size["weights_bytes"] / 2**20, size["reference_weights_bytes_on_disk"] / 2**20
    after, before = report["quantized"]["perplexity"]["perplexity"], report["reference"]["perplexity"]["perplexity"]
    return [
        Row(f"{name}: weights on disk", "MiB", single(ours), single(fp32), single(fp32 / ours)),
        Row(
            f"{name}: held-out perplexity",
            "ppl",
            single(after),
            single(before),
            single(before / after),
            note=f"{100 * (after / before - 1):+.2f}% vs fp32",
        ),  # fmt: skip
        Row(f"{name}: top-1 agreement with fp32", "share", single(agreement["top1_agreement"])),
        Row(f"{name}: mean KL from fp32", "nats", single(agreement["kl_mean"])),
    ]


def run(args: argparse.Namespace) -> Section:
    data = Path(args.data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir or tmp)
        model = args.model or str(
            train_tiny_model(data / "pretrain/raw.jsonl", work / "trained", steps=args.train_steps)
        )
        settings = ReportSettings(
            eval_data_files=[str(data / "pretrain/heldout.jsonl")], max_eval_documents=args.max_eval_documents
        )
        outputs = {
            name: quantize_bnb(model, work / re.sub(r"\W+", "_", name), **kw) for name, kw in BNB_VARIANTS.items()
        }
        if importlib.util.find_spec("gptqmodel"):
            calibration = load_calibration(str(data / "pretrain/raw.jsonl"), load_tokenizer(model), 128, 512)
            outputs["GPTQ 4-bit g128"] = quantize_gptq(model, work / "gptq_4bit", calibration, GPTQSettings())
        vocab = len(load_tokenizer(model))
        reports = {
            name: quality_report(model, str(path), settings, method={"variant": name})
            for name, path in outputs.items()
        }
    fp32 = next(iter(reports.values()))["reference"]["perplexity"]
    if fp32["perplexity"] > vocab / 10:
        raise MismatchError(
            f"fp32 held-out perplexity {fp32['perplexity']:.1f}: untrained for a {vocab}-token vocabulary"
        )
    source = args.model or f"the tiny preset trained {args.train_steps} steps by tests/tiny_trained.py"
    return Section(
        key="quantization",
        title="Quantization: size and quality against the fp32 model",
        baseline="The fp32 model itself (not a competing tool): each variant's weights on disk and held-out "
        "perplexity against fp32's; agreement rows have no baseline.",
        matched_work=f"One model ({source}), quantized by bitsandbytes (8-bit, 4-bit nf4/fp4) and by GPTQ where "
        f"installed; the fp32 model and every variant scored on the same {fp32['num_documents']} held-out documents "
        f"({fp32['num_predicted_tokens']} predicted tokens) and the same fixed prompts, on CPU.",
        check=f"The fp32 model is trained (held-out perplexity {fp32['perplexity']:.2f}, far below the {vocab}-token "
        "vocabulary; on random weights every variant would look alike); every variant is scored after reloading its "
        "saved checkpoint.",
        rows=[row for name, report in reports.items() for row in variant_rows(name, report)],
        notes=[
            "Perplexity ratio is fp32 / quantized, so a quantized model that is worse shows as a loss; weights "
            "ratio is fp32 / quantized on disk (embeddings and norms stay unquantized in the tiny model)."
        ],  # fmt: skip
        details={name: {"size": r["size"], "logit_agreement": r["logit_agreement"]} for name, r in reports.items()},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", required=True, help="Embedded data folder (recipes/generate_data.py).")
    parser.add_argument("--work_dir", help="Keep the trained model and the quantized variants here.")
    parser.add_argument("--model", help="Trained model folder (default: train a tiny one).")
    parser.add_argument("--train_steps", type=int, default=80)
    parser.add_argument("--max_eval_documents", type=int, default=None)
    bench_main(parser, run)


if __name__ == "__main__":
    main()
