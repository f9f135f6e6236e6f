"""The pretraining domain mixture: token ratios, the batch sampler that follows them, the loss-driven controller.

Ratios are shares of training *tokens* per domain, as in GPT-3's data table: a domain whose share
exceeds its share of the corpus is repeated (more than one epoch of it per corpus-sized pass), a
smaller one is subsampled; `implied_epochs` says how many epochs of each domain a run will see.

The controller (`reweight`) is a pure function of the current ratios and the per-domain loss history
(one mean loss per domain per controller interval). It raises domains whose loss is still falling or
is above the mean, and lowers domains whose loss has gone flat (converged):

    trend_d = clip(drop_d / flat_threshold - 1, -1, 1)     drop_d = (L_prev - L_last) / L_prev
    level_d = clip(L_last_d / mean_d'(L_last_d') - 1, -1, 1)
    w_d    <- w_d * exp(step_size * (trend_d + level_weight * level_d))
    ratio_d = clip(s * w_d, min_ratio * base_d, max_ratio * base_d),  s chosen so the ratios sum to 1

so a bound holds exactly after normalization (clipping and then normalizing again would push a floored
domain back below its floor whenever the others' shares grew).

A domain with fewer than two observations keeps its score at 0. Every decision is a `MixtureChange`
in `MixtureState`, which is JSON-serialisable and saved with every checkpoint.

Exact resume: `MixtureBatchSampler` draws batch `i` from a generator seeded by `(seed, i)`, with the
ratios in force *for batch i*: a change made while batches up to `j` were already drawn (the data
loader prefetches) takes effect from batch `j + 1`, so replaying the schedule from a checkpoint
reproduces every batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from . import fit_to_bounds


def parse_domain_weights(items: Sequence[str]) -> dict[str, float]:
    """`["news=1", "web=2.5"]` -> `{"news": 1.0, "web": 2.5}` (command-line and YAML friendly)."""
    weights = {}
    for item in items:
        name, sep, value = str(item).partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not sep or not name.strip() or weight < 0 or not math.isfinite(weight):
            raise ValueError(f"domain weight {item!r} must look like 'name=weight' with weight >= 0")
        weights[name.strip()] = weight
    if weights and sum(weights.values()) <= 0:
        raise ValueError("at least one domain weight must be positive")
    return weights


def implied_epochs(ratios: Mapping[str, float], domain_tokens: Mapping[str, int], total_tokens: int) -> dict:
    """Epochs of each domain seen when training on `total_tokens` tokens with these ratios."""
    return {d: ratios.get(d, 0.0) * total_tokens / n for d, n in domain_tokens.items() if n > 0}


@dataclass
class ControllerConfig:
    flat_threshold: float = 0.01  # a relative loss drop per interval below this counts as flat
    step_size: float = 0.5
    level_weight: float = 0.5
    min_ratio: float = 0.25  # bounds, relative to the configured ratio
    max_ratio: float = 4.0

    def __post_init__(self):
        if not 0 <= self.min_ratio <= 1 <= self.max_ratio:
            bounds = f"min_ratio={self.min_ratio}, max_ratio={self.max_ratio}"
            raise ValueError(f"mixture bounds need 0 <= min_ratio <= 1 <= max_ratio, got {bounds}")


def reweight(
    ratios: Mapping[str, float],
    base_ratios: Mapping[str, float],
    history: Sequence[Mapping[str, float]],
    config: ControllerConfig,
) -> tuple[dict[str, float], dict[str, float]]:
    """New ratios from the per-domain loss `history` (oldest first); also returns each domain's score."""
    last = history[-1] if history else {}
    previous = history[-2] if len(history) > 1 else {}
    observed = [last[d] for d in ratios if d in last]
    mean_loss = sum(observed) / len(observed) if observed else 0.0
    scores = {}
    for domain in ratios:
        if domain not in last or domain not in previous or previous[domain] <= 0 or mean_loss <= 0:
            scores[domain] = 0.0
            continue
        drop = (previous[domain] - last[domain]) / previous[domain]
        trend = min(max(drop / config.flat_threshold - 1.0, -1.0), 1.0)
        level = min(max(last[domain] / mean_loss - 1.0, -1.0), 1.0)
        scores[domain] = trend + config.level_weight * level
    updated = {d: ratios[d] * math.exp(config.step_size * scores[d]) for d in ratios}
    lower = {d: config.min_ratio * base_ratios[d] for d in ratios}
    upper = {d: config.max_ratio * base_ratios[d] for d in ratios}
    return fit_to_bounds(updated, lower, upper), scores


@dataclass
class MixtureChange:
    step: int  # optimizer step at which it was decided
    first_batch: int  # global index of the first batch drawn with these ratios
    ratios: dict[str, float]
    losses: dict[str, float] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)


@dataclass
class MixtureState:
    """Configured ratios, every change of ratios, and the loss history the controller saw."""

    base_ratios: dict[str, float]
    changes: list[MixtureChange] = field(default_factory=list)
    loss_history: list[dict[str, float]] = field(default_factory=list)

    def __post_init__(self):
        if not self.changes:
            self.changes = [MixtureChange(step=0, first_batch=0, ratios=dict(self.base_ratios))]

    @property
    def ratios(self) -> dict[str, float]:
        return self.changes[-1].ratios

    def ratios_for_batch(self, batch_index: int) -> dict[str, float]:
        current = self.changes[0].ratios
        for change in self.changes:
            if change.first_batch > batch_index:
                break
            current = change.ratios
        return current

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> MixtureState:
        return cls(
            base_ratios=dict(data["base_ratios"]),
            changes=[MixtureChange(**c) for c in data["changes"]],
            loss_history=[dict(h) for h in data["loss_history"]],
        )


class MixtureBatchSampler:
    """Yields batches of row indices; every batch holds rows of one bucket length, in the mixture's ratios.

    For batch `i`: a bucket is drawn with probability proportional to the ratio-weighted share of tokens
    it holds (divided by its batch's token count, so each bucket receives its share of *tokens*); then
    each row's domain in proportion to `ratio_d x share of domain d's tokens in that bucket`, and the row
    is the next one of that (domain, bucket) queue, reshuffled each time it runs out. A bucket of length
    `L` gets `max(1, round(tokens_per_batch / L))` rows, the count nearest to the batch's token budget.

    One pass (`len`) is as many batches as hold the corpus's tokens, rounded up to a multiple of
    `num_processes` so that every process gets the same number. The state of the queues at epoch `e`
    is rebuilt by replaying all earlier batches, so any epoch can be restarted exactly.
    """

    def __init__(
        self,
        row_lengths: Sequence[int],
        row_domains: Sequence[str],
        row_tokens: Sequence[int],
        mixture: MixtureState,
        tokens_per_batch: int,
        seed: int = 0,
        num_processes: int = 1,
    ):
        self.mixture, self.seed, self.epoch, self.next_batch = mixture, seed, 0, 0
        self.buckets = sorted(set(int(n) for n in row_lengths))
        self.batch_rows = {b: max(1, round(tokens_per_batch / b)) for b in self.buckets}
        self.domains = sorted(set(row_domains))
        unknown = set(self.domains) - set(mixture.base_ratios)
        if unknown:
            raise ValueError(f"domains {sorted(unknown)} have no ratio in the mixture {sorted(mixture.base_ratios)}")
        self.queues: dict[tuple[str, int], np.ndarray] = {}
        tokens = np.zeros((len(self.domains), len(self.buckets)))
        domain_index = {d: i for i, d in enumerate(self.domains)}
        bucket_index = {b: i for i, b in enumerate(self.buckets)}
        groups: dict[tuple[str, int], list[int]] = {}
        for row, (length, domain, real) in enumerate(zip(row_lengths, row_domains, row_tokens, strict=True)):
            groups.setdefault((domain, int(length)), []).append(row)
            tokens[domain_index[domain], bucket_index[int(length)]] += real
        self.groups = {key: np.asarray(rows) for key, rows in groups.items()}
        self.share = tokens / tokens.sum(axis=1, keepdims=True)  # share of each domain's tokens per bucket
        self.batch_tokens = np.array([self.batch_rows[b] * b for b in self.buckets])
        mean_batch_tokens = self._bucket_probabilities(self.mixture.base_ratios) @ self.batch_tokens
        passes = math.ceil(tokens.sum() / mean_batch_tokens)
        self.length = max(1, -(-passes // num_processes) * num_processes)

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _ratio_vector(self, ratios: Mapping[str, float]) -> np.ndarray:
        return np.array([ratios.get(d, 0.0) for d in self.domains])

    def _bucket_probabilities(self, ratios: Mapping[str, float]) -> np.ndarray:
        weight = self._ratio_vector(ratios) @ self.share / self.batch_tokens
        return weight / weight.sum()

    def _draw(self, batch_index: int, cursors: dict) -> list[int]:
        ratios = self.mixture.ratios_for_batch(batch_index)
        rng = np.random.default_rng([self.seed, batch_index])
        bucket = int(rng.choice(len(self.buckets), p=self._bucket_probabilities(ratios)))
        domain_weight = self._ratio_vector(ratios) * self.share[:, bucket]
        rows = self.batch_rows[self.buckets[bucket]]
        domains = rng.choice(len(self.domains), size=rows, p=domain_weight / domain_weight.sum())
        return [self._next_row((self.domains[d], self.buckets[bucket]), cursors) for d in domains]

    def _next_row(self, key: tuple[str, int], cursors: dict) -> int:
        refills, position = cursors.get(key, (0, 0))
        rows = self.groups[key]
        if position == len(rows):
            refills, position = refills + 1, 0
        if position == 0:
            seed = [self.seed, self.domains.index(key[0]), key[1], refills]
            self.queues[key] = np.random.default_rng(seed).permutation(rows)
        cursors[key] = (refills, position + 1)
        return int(self.queues[key][position])

    def __iter__(self) -> Iterator[list[int]]:
        cursors: dict = {}
        start = self.epoch * self.length
        for batch_index in range(start):  # replay earlier epochs to rebuild the queues
            self._draw(batch_index, cursors)
        for batch_index in range(start, start + self.length):
            batch = self._draw(batch_index, cursors)
            self.next_batch = batch_index + 1
            yield batch
