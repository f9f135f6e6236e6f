"""Token-level pairwise reward loss: the vectorised loss vs the per-pair loop (DeepSpeed-Chat's shape).

    python benchmarks/reward_loss.py [--pairs 64 --length 512 --calls 10]

Both sides compute loss, chosen and rejected scores and the gradient of the loss for the same random batch;
each measurement is the mean forward + backward time of `--calls` calls.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from harness import Section, bench_main, check_close, paired_row, seconds

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reward_reference import per_pair_token_level_loss  # noqa: E402
from test_reward_loss import random_pairs  # noqa: E402

from xuanyuan.training.reward import token_level_pairwise_loss  # noqa: E402


def forward_backward(loss_fn, values, ids, mask) -> tuple[torch.Tensor, ...]:
    """Loss, chosen scores, rejected scores and the loss's gradient with respect to `values`."""
    leaf = values.detach().requires_grad_()
    loss, chosen, rejected = loss_fn(leaf, ids, mask)
    loss.backward()
    return loss.detach(), chosen.detach(), rejected.detach(), leaf.grad


def milliseconds(loss_fn, batch, calls: int):
    return lambda: 1e3 * seconds(lambda: [forward_backward(loss_fn, *batch) for _ in range(calls)]) / calls


def run(args: argparse.Namespace) -> Section:
    batch = random_pairs(torch.Generator().manual_seed(args.seed), args.pairs, args.length, vocab=4096)
    ours, reference = (
        forward_backward(token_level_pairwise_loss, *batch),
        forward_backward(per_pair_token_level_loss, *batch),
    )
    names = ("loss", "chosen scores", "rejected scores", "gradient")
    check = "; ".join(check_close(name, a, b, atol=1e-6) for name, a, b in zip(names, ours, reference, strict=True))
    row = paired_row(
        "forward + backward", "ms", milliseconds(token_level_pairwise_loss, batch, args.calls),
        milliseconds(per_pair_token_level_loss, batch, args.calls), args.repeats, args.warmup, lower_is_better=True,
    )  # fmt: skip
    return Section(
        key="reward_loss",
        title="Token-level pairwise reward loss: vectorised vs per-pair loop",
        baseline="The per-pair Python loop of DeepSpeed-Chat's RewardModel.forward (tests/reward_reference.py): "
        "for each pair, find where chosen and rejected diverge and average -log σ(chosen - rejected) from there "
        "to the longer sequence's end.",
        matched_work=f"The same right-padded batch of {args.pairs} pairs x {args.length} tokens (random values, "
        "shared prefixes, about one pair in eight identical), fp32, loss + scores + backward to the values; "
        f"each measurement is the mean of {args.calls} calls.",
        check=check + ".",
        rows=[row],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--calls", type=int, default=10, help="Calls per measurement.")
    parser.add_argument("--seed", type=int, default=0)
    bench_main(parser, run)


if __name__ == "__main__":
    main()
