"""Per-group token-loss sums over named windows: one tracker for pretraining's domains and SFT's categories.

A window ("log", "epoch", "total", …) accumulates, per group, the summed loss and the number of predicted
tokens (and any further rows a trainer adds, e.g. pretraining's real tokens and token slots) until it is
drained. Sums are kept per process and reduced over processes when read (a collective: every process
must call `reduce`/`drain` together). Neither transformers nor TRL logs losses per group, hence this class.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch


class GroupLossTracker:
    LOSS, TOKENS = 0, 1  # the first two rows; trainers may add more

    def __init__(self, groups: Sequence[str], windows: Sequence[str], rows: int = 2):
        self.groups, self.windows = list(groups), tuple(windows)
        self.sums = {w: torch.zeros(rows, len(self.groups), dtype=torch.float64) for w in self.windows}

    def add(self, update: torch.Tensor, windows: Iterable[str]) -> None:
        """Add a `(rows, groups)` update to each of `windows`."""
        update = update.detach().double().cpu()
        for window in windows:
            self.sums[window] += update

    def add_tokens(self, token_losses: torch.Tensor, groups: torch.Tensor, windows: Iterable[str]) -> None:
        """Add per-token losses with their group ids (same shape; tokens of group -1 are left out)."""
        keep = groups >= 0
        update = torch.zeros(self.sums[self.windows[0]].shape, dtype=torch.float64, device=token_losses.device)
        update[self.LOSS].index_add_(0, groups[keep], token_losses[keep].double())
        update[self.TOKENS].index_add_(0, groups[keep], torch.ones_like(groups[keep], dtype=torch.float64))
        self.add(update, windows)

    def reduce(self, accelerator, window: str) -> torch.Tensor:
        """`window`'s sums over all processes."""
        local = self.sums[window].to(accelerator.device)
        return (accelerator.reduce(local, "sum") if accelerator.num_processes > 1 else local).cpu().clone()

    def drain(self, accelerator, window: str) -> torch.Tensor:
        """`window`'s sums over all processes, then empty it."""
        sums = self.reduce(accelerator, window)
        self.reset(window)
        return sums

    def reset(self, window: str) -> None:
        self.sums[window].zero_()

    def mean_losses(self, sums: torch.Tensor) -> dict[str, float]:
        """Mean token loss of every group that has tokens in `sums`."""
        loss, tokens = sums[self.LOSS], sums[self.TOKENS]
        return {g: float(loss[i] / tokens[i]) for i, g in enumerate(self.groups) if tokens[i] > 0}
