"""Questions per second: the prefix-cached batched multiple-choice scorer vs lm-eval's own `HFLM.loglikelihood`.

    python benchmarks/mc_eval_speed.py --model DIR --data_dir DATA/exam [--max_questions 16]

Both sides score the same C-Eval-layout questions (the embedded exam's val split, 5-shot, official C-Eval
prompts) with the same model in fp32, from prompt text to the four options' log-likelihoods, 8 model rows per
forward pass. Needs the bench extra (lm-eval).
"""

from __future__ import annotations

import argparse
import logging
from functools import partial

import torch
from harness import MismatchError, Section, bench_main, check_close, paired_row, rate
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
from transformers import AutoModelForCausalLM

import xuanyuan  # noqa: F401  (registers the Auto classes)
from xuanyuan.evaluation.mc_data import LETTERS, MCSubject, get_benchmark, load_local
from xuanyuan.evaluation.mc_prompts import STYLES, answer_text, build_prompt
from xuanyuan.evaluation.mc_requests import build_requests
from xuanyuan.evaluation.mc_scoring import score_cached
from xuanyuan.tokenization import load_tokenizer

ROWS_PER_QUESTION = {"letter": 1, "cloze": 4}  # one-token letters share one row (lm-eval: its logits cache)


def ours(model, tokenizer, subjects: list[MCSubject], scoring: str, args: argparse.Namespace) -> torch.Tensor:
    """(questions, 4) scores: encode the requests, then score them on the cached few-shot prefix."""
    per_batch = args.batch_size // ROWS_PER_QUESTION[scoring]
    return torch.cat([
        score_cached(model, build_requests(tokenizer, STYLES["ceval"], s, args.num_fewshot, scoring), scoring,
                     per_batch, "right", tokenizer.pad_token_id)
        for s in subjects
    ])  # fmt: skip


def lm_eval_scores(lm: HFLM, subjects: list[MCSubject], scoring: str, num_fewshot: int) -> torch.Tensor:
    """(questions, 4) scores from lm-eval: one (context, continuation) request per option, normalised as ours
    (the log-likelihood for letters, per character for cloze)."""
    requests, chars = [], []
    for subject in subjects:
        for question in subject.questions:
            context = build_prompt(STYLES["ceval"], subject.name_zh, subject.dev[:num_fewshot], question, scoring)
            for letter in LETTERS:
                continuation = answer_text(question, letter, scoring)
                requests.append(Instance("loglikelihood", {}, (context, continuation), len(requests)))
                chars.append(len(continuation) if scoring == "cloze" else 1)
    loglikelihoods = torch.tensor([ll for ll, _ in lm.loglikelihood(requests, disable_tqdm=True)])
    return (loglikelihoods / torch.tensor(chars)).view(-1, 4)


def run(args: argparse.Namespace) -> Section:
    logging.getLogger("lm-eval").setLevel(logging.ERROR)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    tokenizer = load_tokenizer(args.model)
    subjects = load_local(get_benchmark("ceval"), args.data_dir, "val", args.num_fewshot)
    for subject in subjects:
        subject.questions = subject.questions[: args.max_questions]
    questions = sum(len(s.questions) for s in subjects)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size, device="cpu")
    checks, rows = [], []
    for scoring in args.scorings:
        mine = ours(model, tokenizer, subjects, scoring, args)
        theirs = lm_eval_scores(lm, subjects, scoring, args.num_fewshot)
        checks.append(check_close(f"{scoring} scores", mine, theirs, atol=1e-4))
        if not torch.equal(mine.argmax(-1), theirs.argmax(-1)):
            raise MismatchError(f"{scoring}: predictions differ")
        checks.append(f"{scoring}: identical predictions on all {questions} questions")
        rows.append(paired_row(
            f"{scoring} scoring", "questions/s",
            rate(questions, partial(ours, model, tokenizer, subjects, scoring, args)),
            rate(questions, partial(lm_eval_scores, lm, subjects, scoring, args.num_fewshot)),
            args.repeats, args.warmup,
        ))  # fmt: skip
    return Section(
        key="mc_eval_speed",
        title="Multiple-choice scoring: prefix-cached batches vs lm-eval's HFLM.loglikelihood",
        baseline=f"lm-eval's own `HFLM(pretrained=model, tokenizer=tokenizer, batch_size={args.batch_size})"
        ".loglikelihood(requests)` with its defaults (length-sorted batches, right padding, logits cache that "
        "scores one-token continuations sharing a context in one row), one request per (prompt, option).",
        matched_work=f"The same {questions} questions ({len(subjects)} subjects x at most {args.max_questions} of "
        f"the embedded exam's val split, {args.num_fewshot}-shot official C-Eval prompts), the same fp32 tiny model "
        "with random weights, the same token ids (both encode context + continuation and split it), "
        f"{args.batch_size} model rows per forward pass (ours: {args.batch_size} questions per batch for letters, "
        f"{args.batch_size // 4} for cloze); both timed from prompt text to the four scores.",
        check="; ".join(checks) + ".",
        rows=rows,
        notes=[
            "No end-to-end row on lm-eval's shipped `ceval-valid` task: it reads the data from the Hub and scores "
            "' A' (its default target delimiter is a space) where the official prompt scores 'A'; running it on "
            "local files with identical requests needs a rewritten task YAML per subject, which is no longer the "
            "shipped task. The scoring engines are compared on identical requests instead.",
        ],
        details={"questions": questions, "num_fewshot": args.num_fewshot, "batch_rows": args.batch_size},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Model folder (run_all: the tiny random-weight model).")
    parser.add_argument("--data_dir", required=True, help="C-Eval-layout folder (the embedded exam).")
    parser.add_argument("--num_fewshot", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=8, help="Model rows per forward pass, both sides.")
    parser.add_argument("--max_questions", type=int, default=16, help="Questions per subject.")
    parser.add_argument("--scorings", nargs="+", default=["letter", "cloze"], choices=sorted(ROWS_PER_QUESTION))
    bench_main(parser, run)


if __name__ == "__main__":
    main()
