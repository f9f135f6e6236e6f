"""Generated tokens/s of the synthesis local backend vs plain `generate` one prompt at a time.

    python benchmarks/synthesis_generation.py --model DIR --prompts DATA/sft/test.jsonl [--max_prompts 32]

Ours: `LocalGenerator.complete` (the chat template, batches longest first, left padding, KV cache, via
`complete_chats`). Baseline: what a user would write without it, `model.generate` on each conversation's
chat-template ids alone (no padding, KV cache on). Both answer the same prompts (the SFT test questions, the
reference answer left out) greedily with the same `max_new_tokens` and threads; before timing, every reply
must be identical on both sides and the generated-token counts equal.
"""

from __future__ import annotations

import argparse

import torch
from harness import MismatchError, Section, bench_main, paired_rows, rate
from transformers import AutoModelForCausalLM

import xuanyuan  # noqa: F401  (registers the Auto classes)
from xuanyuan.data.synthesis.generators import LocalGenerator
from xuanyuan.evaluation.generation import Sampling, load_generation_examples
from xuanyuan.tokenization import load_tokenizer


@torch.no_grad()
def one_at_a_time(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int) -> list[list[int]]:
    """Each conversation's greedy reply ids on its own, cut after the first EOS. The decoding settings are all
    given: the model's generation config (XuanYuan's: sampling, repetition penalty 1.1) would apply otherwise."""
    replies = []
    for prompt in prompts:
        ids = torch.tensor([tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True,
                                                          return_dict=False)])  # fmt: skip
        output = model.generate(
            ids, max_new_tokens=max_new_tokens, do_sample=False, temperature=None, top_p=None, top_k=None,
            repetition_penalty=1.0, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        )[0, ids.shape[1] :].tolist()  # fmt: skip
        eos = tokenizer.eos_token_id
        replies.append(output[: output.index(eos) + 1] if eos in output else output)
    return replies


def check_identical(ours: list[list[str]], baseline: list[str], prompts: list[list[dict]]) -> None:
    differing = [i for i, (mine, theirs) in enumerate(zip(ours, baseline, strict=True)) if mine != [theirs]]
    if differing:
        first = differing[0]
        raise MismatchError(
            f"{len(differing)} of {len(prompts)} replies differ, first prompt {prompts[first][-1]['content']!r:.60}: "
            f"batched {ours[first][0]!r:.80} vs one at a time {baseline[first]!r:.80}"
        )


def run(args: argparse.Namespace) -> Section:
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    tokenizer = load_tokenizer(args.model)
    prompts = [example.prompt for example in load_generation_examples([args.prompts])][: args.max_prompts]
    sampling = Sampling(max_new_tokens=args.max_new_tokens)

    generator = LocalGenerator(model, tokenizer, "benchmark", batch_size=args.batch_size)
    ours = generator.complete(prompts, sampling)
    reference = one_at_a_time(model, tokenizer, prompts, args.max_new_tokens)
    check_identical(ours, [tokenizer.decode(r, skip_special_tokens=True).strip() for r in reference], prompts)
    tokens = sum(len(r) for r in reference)
    if generator.stats.generated_tokens != tokens:
        raise MismatchError(f"generated tokens: batched {generator.stats.generated_tokens} vs one at a time {tokens}")

    rows = paired_rows(
        "generated tokens/s", "tokens/s",
        rate(tokens, lambda: generator.complete(prompts, sampling)),
        {"one prompt at a time": rate(tokens, lambda: one_at_a_time(model, tokenizer, prompts, args.max_new_tokens))},
        args.repeats, args.warmup,
    )  # fmt: skip
    ended = sum(tokenizer.eos_token_id in r for r in reference)
    return Section(
        key="synthesis_generation",
        title="Synthesis generation: batched local backend vs plain generate one prompt at a time",
        baseline="`model.generate(ids)` on each conversation's chat-template ids alone (no padding, KV cache on), "
        "greedy: what a user writes without a batching helper.",
        matched_work=f"The same {len(prompts)} SFT test questions (system prompt and question, reference answer left "
        f"out), the same fp32 tiny model with random weights, greedy decoding, max_new_tokens={args.max_new_tokens}; "
        f"ours in batches of {args.batch_size}, longest first, left-padded; both timed from conversations to "
        f"decoded replies; {tokens} generated tokens per round ({ended} replies end with EOS).",
        check=f"all {len(prompts)} replies identical on both sides, and {tokens} generated tokens counted on both.",
        rows=rows,
        notes=[
            "A batch decodes until its longest reply ends, so replies that end early cost the batched side steps "
            "the one-at-a-time side skips; with random weights replies rarely end early (the count is under Same "
            "work), so the ratio is the batching gain without that loss.",
        ],
        details={
            "prompts": len(prompts),
            "generated_tokens": tokens,
            "replies_ending_with_eos": ended,
            "batch_size": args.batch_size,
            "max_new_tokens": args.max_new_tokens,
        },  # fmt: skip
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Model folder (run_all: the tiny random-weight model).")
    parser.add_argument("--prompts", required=True, help="SFT-format JSONL; each record's last turn is left out.")
    parser.add_argument("--max_prompts", type=int, default=32)
    parser.add_argument("--max_new_tokens", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=8, help="Conversations per batch (ours).")
    bench_main(parser, run)


if __name__ == "__main__":
    main()
