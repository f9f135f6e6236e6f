"""Questions per second: the prefix-cached batched multiple-choice scorer vs the per-question reference.

    python benchmarks/mc_eval_speed.py [--model outputs/tiny/init] [--data_dir outputs/tiny/data/exam]

Same model, same requests (the embedded exam's val split, 5-shot, C-Eval prompts), measured side by side
subject by subject (reference then fast on the same questions, so load changes on a shared machine hit both).
Without --model the tiny preset is created with random weights and the shipped tokenizer; without --data_dir
the embedded data is generated into a temporary folder. Prints the ratio, whether predictions are identical,
and the largest score difference.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
from xuanyuan.data.embedded import EmbeddedDataConfig, generate_embedded_data
from xuanyuan.evaluation.mc_data import get_benchmark, load_local
from xuanyuan.evaluation.mc_prompts import STYLES
from xuanyuan.evaluation.mc_requests import build_requests
from xuanyuan.evaluation.mc_scoring import score_cached, score_reference
from xuanyuan.tokenization import load_tokenizer


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="Model folder (default: random tiny preset).")
    parser.add_argument("--data_dir", default=None, help="C-Eval-layout folder (default: generated embedded exam).")
    parser.add_argument("--num_fewshot", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--max_questions", type=int, default=16, help="Questions per subject (default 16).")
    parser.add_argument("--scorings", nargs="+", default=["letter", "cloze"])
    parser.add_argument("--padding_side", default="right")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser.parse_args()


def load(args: argparse.Namespace):
    if args.model:
        return AutoModelForCausalLM.from_pretrained(args.model).eval(), load_tokenizer(args.model)
    torch.manual_seed(0)
    tokenizer = load_tokenizer()
    config = XuanYuanConfig.from_preset("tiny", vocab_size=-(-len(tokenizer) // 128) * 128)
    return XuanYuanForCausalLM(config).eval(), tokenizer


def main() -> None:
    args = parse_args()
    model, tokenizer = load(args)
    model.to(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir
        if data_dir is None:
            generate_embedded_data(EmbeddedDataConfig(output_dir=tmp))
            data_dir = Path(tmp) / "exam"
        subjects = load_local(get_benchmark("ceval"), data_dir, "val", args.num_fewshot)
    for subject in subjects:
        subject.questions = subject.questions[: args.max_questions]
    rows = {}
    for scoring in args.scorings:
        totals = {"reference": 0.0, "cached": 0.0}
        questions, same, worst, tokens = 0, True, 0.0, 0
        for subject in subjects:
            requests = build_requests(tokenizer, STYLES["ceval"], subject, args.num_fewshot, scoring)
            start = time.perf_counter()
            reference = score_reference(model, requests, scoring)
            totals["reference"] += time.perf_counter() - start
            start = time.perf_counter()
            fast = score_cached(model, requests, scoring, args.batch_size, args.padding_side, tokenizer.pad_token_id)
            totals["cached"] += time.perf_counter() - start
            questions += len(requests)
            tokens += sum(len(r.context_ids) for r in requests)
            same &= torch.equal(reference.argmax(-1), fast.argmax(-1))
            worst = max(worst, (reference - fast).abs().max().item())
        rows[scoring] = {
            "questions": questions,
            "mean_prompt_tokens": round(tokens / questions, 1),
            "reference_q_per_s": round(questions / totals["reference"], 2),
            "cached_q_per_s": round(questions / totals["cached"], 2),
            "speedup": round(totals["reference"] / totals["cached"], 2),
            "identical_predictions": same,
            "max_abs_score_diff": worst,
        }
    settings = {"device": args.device, "threads": torch.get_num_threads(), "num_fewshot": args.num_fewshot,
                "batch_size": args.batch_size, "padding_side": args.padding_side,
                "parameters": sum(p.numel() for p in model.parameters())}  # fmt: skip
    print(json.dumps({"settings": settings, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
