"""The vectorised token-level pairwise loss vs the per-pair loop of the tests (DeepSpeed-Chat's shape),
side by side on the same random batches: equality and forward+backward time.

    PYTHONPATH=$PWD python benchmarks/reward_loss.py [--pairs 64 --length 512 --repeats 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reward_reference import per_pair_token_level_loss  # noqa: E402
from test_reward_loss import random_pairs  # noqa: E402

from xuanyuan.training.reward import token_level_pairwise_loss  # noqa: E402


def timed(fn, values, ids, mask, repeats):
    times = []
    for _ in range(repeats):
        leaf = values.detach().requires_grad_()
        start = time.perf_counter()
        loss = fn(leaf, ids, mask)[0]
        loss.backward()
        times.append(time.perf_counter() - start)
    return min(times)  # the least disturbed run: the machine may be shared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    values, ids, mask = random_pairs(torch.Generator().manual_seed(args.seed), args.pairs, args.length, vocab=4096)
    fast, slow = token_level_pairwise_loss(values, ids, mask), per_pair_token_level_loss(values, ids, mask)
    max_error = max((a - b).abs().max().item() for a, b in zip(fast, slow, strict=True))
    fast_s = timed(token_level_pairwise_loss, values, ids, mask, args.repeats)
    slow_s = timed(per_pair_token_level_loss, values, ids, mask, args.repeats)
    print(f"batch {args.pairs} pairs x {args.length} tokens, torch threads {torch.get_num_threads()}")
    print(f"max |vectorised - per-pair| over loss and scores: {max_error:.2e} (equal to 1e-6: {max_error <= 1e-6})")
    print(f"per-pair loop   {slow_s * 1e3:8.2f} ms  (forward + backward, best of {args.repeats})")
    print(f"vectorised      {fast_s * 1e3:8.2f} ms")
    print(f"speed-up        {slow_s / fast_s:8.1f}x")


if __name__ == "__main__":
    main()
