"""Direct preference optimisation on TRL's `DPOTrainer`: the project's preference records as DPO data, the
A3…B3 label strength as a sample weight, and the held-out preference accuracy of the trained policy.

Data: `load_preference_pairs` reads every record shape the reward model reads (A3…B3 labelled pairs, ranked
lists, chosen/rejected; a bad record is a `RecordError` naming file, line and field, or is set aside with
`on_bad_record="skip"`), and `split_by_prompt` with the reward recipe's `test_fraction`/`split_seed` holds out
exactly the reward model's test pairs. Each pair becomes TRL's conversational preference row
(`PreferencePair.to_trl`: prompt turns, one assistant turn each for chosen and rejected).

Strength: TRL 1.16's sigmoid DPO loss takes no per-example weight or margin (it averages −log σ(β·Δ) over the
batch), so the strength enters by repetition (`strength_weighting="repeat"`): an A_k/B_k pair appears k times
in the training set (A1/B1 once, A2/B2 twice, A3/B3 three times); chosen/rejected and ranked pairs, which carry no
strength, and kept A0/B0 ties appear once. Shuffled, that is the loss Σ w_i ℓ_i / Σ w_i in expectation, with the
strong pairs also seen more often per epoch. `"none"` uses every pair once.

Evaluation (hand-written: TRL logs batch means only, counting ties as wrong): `pair_log_probs` gives each held-out
pair's summed completion log-probabilities under the current policy, through `Trainer.predict` so that the
Trainer places and gathers as in training (DeepSpeed, several processes). Measured before training, they are the
reference's too (the reference is the initial policy: a frozen copy, or the model with its adapters disabled), so
`preference_metrics` needs no reference pass: DPO's implicit reward margin of a pair is
β·[(log π(c) − log π₀(c)) − (log π(r) − log π₀(r))], and its accuracy counts ties as half (0.5 before training).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import torch
from datasets import Dataset
from trl import DPOTrainer

from ..data.preferences import PreferenceData, PreferencePair, load_preference_pairs, split_by_prompt
from .ppo.core import token_logprobs

STRENGTH_WEIGHTINGS = ("repeat", "none")
PAIR_COLUMNS = ("prompt_ids", "chosen_ids", "rejected_ids")  # what TRL's preparation tokenizes a pair into


def check_weighting(weighting: str) -> None:
    if weighting not in STRENGTH_WEIGHTINGS:
        raise ValueError(f"strength_weighting must be one of {STRENGTH_WEIGHTINGS}, got {weighting!r}")


def strength_repeats(pair: PreferencePair, weighting: str = "repeat") -> int:
    """How many times `pair` enters the training set: its label strength (A2/B2 → 2) with `"repeat"`, else once
    (also for pairs without a strength and kept A0/B0 ties)."""
    check_weighting(weighting)
    return (pair.strength or 1) if weighting == "repeat" else 1


def to_dpo_dataset(pairs: list[PreferencePair], weighting: str = "none") -> Dataset:
    """TRL's conversational preference rows (`prompt`, `chosen`, `rejected`), each pair `strength_repeats` times."""
    return Dataset.from_list([pair.to_trl() for pair in pairs for _ in range(strength_repeats(pair, weighting))])


def load_dpo_data(
    paths: str | Path | Iterable[str | Path],
    test_fraction: float = 0.1,
    split_seed: int = 0,
    keep_ties: bool = False,
    on_bad_record: str = "error",
    weighting: str = "repeat",
) -> tuple[Dataset, Dataset, PreferenceData]:
    """(train rows weighted by strength, held-out rows once each, what was read): the reward model's split
    (`test_fraction` 0: no held-out rows)."""
    check_weighting(weighting)  # before any reading
    data = load_preference_pairs(paths, not keep_ties, on_bad_record)
    train, test = split_by_prompt(data.pairs, test_fraction, split_seed)
    if not train:
        raise ValueError(f"no training pairs: {len(data.pairs)} usable pairs, test_fraction={test_fraction}")
    return to_dpo_dataset(train, weighting), to_dpo_dataset(test), data


def completion_log_probs(logits: torch.Tensor, input_ids: torch.Tensor, completion_mask: torch.Tensor) -> torch.Tensor:
    """Per row, the summed log-probability (fp32) of the tokens where `completion_mask` is 1, given everything
    before them; `logits` (B, T, V) from the forward pass over `input_ids` (B, T)."""
    per_token = token_logprobs(logits[:, :-1], input_ids[:, 1:])
    return (per_token * completion_mask[:, 1:]).sum(dim=1)


def preference_metrics(before: torch.Tensor, after: torch.Tensor, beta: float) -> dict:
    """Held-out metrics from `pair_log_probs` of the initial (= reference) and the trained policy, both (N, 2):
    DPO's implicit reward accuracy (ties count half) and mean margin, and how often each policy itself gives the
    chosen response the higher log-probability."""
    reference = before.double()
    metrics = {"pairs": len(reference)}
    for when, policy in (("before", reference), ("after", after.double())):
        margins = beta * ((policy[:, 0] - reference[:, 0]) - (policy[:, 1] - reference[:, 1]))
        metrics[f"reward_accuracy_{when}"] = ((margins > 0).double() + 0.5 * (margins == 0).double()).mean().item()
        metrics[f"reward_margin_{when}"] = margins.mean().item()
        metrics[f"logp_accuracy_{when}"] = (policy[:, 0] > policy[:, 1]).double().mean().item()
    return metrics


class XuanYuanDPOTrainer(DPOTrainer):
    """TRL's `DPOTrainer` (its loss, reference handling, LoRA, DeepSpeed) plus `pair_log_probs` for evaluation."""

    scoring_pairs = False  # while True, `prediction_step` returns the pairs' log-probabilities

    def pair_log_probs(self, dataset: Dataset | None = None) -> torch.Tensor:
        """(N, 2) float64: each pair's summed chosen and rejected completion log-probabilities under the current
        policy, in dataset order; `dataset` is a prepared (tokenized) one, by default `eval_dataset`."""
        dataset = self.eval_dataset if dataset is None else dataset
        lengths = [len(p) + max(len(c), len(r)) for p, c, r in zip(*(dataset[k] for k in PAIR_COLUMNS), strict=True)]
        order = sorted(range(len(lengths)), key=lengths.__getitem__, reverse=True)  # batches of alike lengths
        with self._scoring():
            predictions = self.predict(dataset.select(order)).predictions
        scores = torch.empty(len(order), 2, dtype=torch.float64)
        scores[order] = torch.as_tensor(predictions, dtype=torch.float64)
        return scores

    @contextmanager
    def _scoring(self):
        self.scoring_pairs = True
        try:
            yield
        finally:
            self.scoring_pairs = False

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        if not self.scoring_pairs:
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)
        with torch.no_grad(), self.compute_loss_context_manager():
            outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False)
            logps = completion_log_probs(outputs.logits, inputs["input_ids"], inputs["completion_mask"])
        chosen, rejected = logps.chunk(2)  # the collator stacks [chosen; rejected]
        return None, torch.stack([chosen, rejected], dim=1), None
