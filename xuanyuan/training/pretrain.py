"""Continued pretraining on bucket-packed sequences with per-domain loss and a dynamic domain mixture.

`PretrainTrainer` is a `transformers.Trainer`: the loop, optimizer, schedule (`cosine_with_min_lr`),
checkpointing, accelerate / DeepSpeed / FSDP and TensorBoard are the Trainer's. It adds:
- the data loader: `MixtureBatchSampler` batches (one bucket per batch, domains in the mixture's ratios)
  collated by `PackedCollator`;
- one cross-entropy pass (`compute_loss_func`) gives both the loss and the per-domain loss: every row is
  one domain, so the per-token loss of each row is summed into its domain (all-reduced over processes)
  and logged as `loss/<domain>`, with the ratios in force as `mixture/<domain>` and the share of real
  tokens as `token_utilization`, at every logging step;
- the mixture controller every `mixture_interval` steps (`xuanyuan.data.mixture.domains.reweight`); each change
  is logged (logger; the `mixture/<domain>` curves) and saved, with the partial loss sums, as
  `pretrain_state.json` in every checkpoint, so `train(resume_from_checkpoint=...)` continues with the
  same data order and mixture.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils import logging

from ..data.mixture import normalize
from ..data.mixture.domains import (
    ControllerConfig,
    MixtureBatchSampler,
    MixtureChange,
    MixtureState,
    implied_epochs,
    parse_domain_weights,
    reweight,
)
from ..data.packing import DOCUMENT_ATTENTION_MODES, PackedCollator, PackedDataset
from .checkpoints import resolve_resume
from .group_losses import GroupLossTracker
from .kernels import apply_liger_kernel
from .loss_curves import LossCurveCallback

logger = logging.get_logger(__name__)

LOSS_WINDOWS = ("log", "control", "total")
STATE_FILE = "pretrain_state.json"


@dataclass
class PretrainConfig(TrainingArguments):
    """`TrainingArguments` plus packing and mixture settings; defaults suit continued pretraining."""

    max_length: int = field(
        default=2048,
        metadata={"help": "Reference length: a device batch holds per_device_train_batch_size x max_length tokens."},
    )
    bucket_lengths: list[int] = field(
        default_factory=lambda: [2048, 4096, 8192, 16384], metadata={"help": "Packed sequence lengths."}
    )
    packing_min_utilization: float = field(
        default=0.99, metadata={"help": "Re-wrap the most padded sequences until this share is real tokens (0: off)."}
    )
    document_attention: str = field(
        default="concat",
        metadata={"help": "'concat' (attend across packed documents, as the reports) or 'isolated' (position_ids)."},
    )
    domain_weights: list[str] = field(
        default_factory=list,
        metadata={"help": "Token share per domain as name=weight (normalized); empty: the corpus's own shares."},
    )
    mixture_interval: int = field(default=0, metadata={"help": "Re-weight the mixture every N steps (0: fixed)."})
    mixture_flat_threshold: float = field(default=0.01, metadata={"help": "Relative loss drop that counts as flat."})
    mixture_step_size: float = field(default=0.5, metadata={"help": "Log-ratio change per unit of score."})
    mixture_level_weight: float = field(default=0.5, metadata={"help": "Weight of the loss level in the score."})
    mixture_min_ratio: float = field(default=0.25, metadata={"help": "Lowest ratio, times the configured one."})
    mixture_max_ratio: float = field(default=4.0, metadata={"help": "Highest ratio, times the configured one."})
    lr_scheduler_type: str = field(default="cosine_with_min_lr", metadata={"help": "Learning-rate schedule."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Packed rows carry bookkeeping keys."})
    report_to: str | list[str] = field(default="tensorboard", metadata={"help": "Logging integrations."})

    def __post_init__(self):
        super().__post_init__()
        kwargs = self.lr_scheduler_kwargs if isinstance(self.lr_scheduler_kwargs, dict) else {}
        if "min_lr" in kwargs:  # as a rate: DeepSpeed's optimizer wrapper lacks the `defaults` min_lr needs
            kwargs = dict(kwargs)
            kwargs["min_lr_rate"] = kwargs.pop("min_lr") / self.learning_rate
            self.lr_scheduler_kwargs = kwargs
        if self.document_attention not in DOCUMENT_ATTENTION_MODES:
            raise ValueError(f"document_attention must be one of {DOCUMENT_ATTENTION_MODES}")

    @property
    def controller(self) -> ControllerConfig:
        return ControllerConfig(
            flat_threshold=self.mixture_flat_threshold,
            step_size=self.mixture_step_size,
            level_weight=self.mixture_level_weight,
            min_ratio=self.mixture_min_ratio,
            max_ratio=self.mixture_max_ratio,
        )


def token_losses(logits: torch.Tensor, labels: torch.Tensor, chunk_tokens: int = 8192) -> torch.Tensor:
    """Next-token cross-entropy of every position, `(batch, length)` in fp32, 0 where there is no target (the
    last position, and labels of -100). Computed `chunk_tokens` positions at a time, so that half-precision
    logits are upcast to fp32 one chunk at a time, never as a second full copy."""
    targets = F.pad(labels[:, 1:], (0, 1), value=-100).reshape(-1)
    flat = logits.reshape(-1, logits.shape[-1])
    chunks = [
        F.cross_entropy(flat[i : i + chunk_tokens].float(), targets[i : i + chunk_tokens], reduction="none")
        for i in range(0, flat.shape[0], chunk_tokens)
    ]
    return torch.cat(chunks).view(labels.shape)


def domain_sums(
    losses: torch.Tensor, labels: torch.Tensor, domain_ids: torch.Tensor, real: torch.Tensor, num_domains: int
) -> torch.Tensor:
    """One batch's `(4, num_domains)` sums, the rows `PretrainTrainer.losses` keeps: token loss (of
    `token_losses`), predicted tokens, real tokens, token slots (real + padding)."""
    rows = torch.stack(
        [
            losses.detach().sum(dim=1).double().cpu(),
            (labels[:, 1:] != -100).sum(dim=1).double().cpu(),
            real.double().cpu(),
            torch.full((labels.shape[0],), float(labels.shape[1]), dtype=torch.float64),
        ]
    )
    return torch.zeros(4, num_domains, dtype=torch.float64).index_add_(1, domain_ids.cpu(), rows)


class PretrainTrainer(Trainer):
    def __init__(self, model, args: PretrainConfig, train_dataset: PackedDataset, **kwargs):
        kwargs.setdefault("data_collator", PackedCollator(args.document_attention))
        kwargs.setdefault("compute_loss_func", self.causal_lm_loss)
        super().__init__(model=model, args=args, train_dataset=train_dataset, **kwargs)
        apply_liger_kernel(self.model, args)
        domains = train_dataset.domain_names
        domain_tokens = {d: 0 for d in domains}
        for sequence in train_dataset.sequences:
            domain_tokens[sequence.domain] += sequence.num_real_tokens
        weights = parse_domain_weights(args.domain_weights) if args.domain_weights else domain_tokens
        self.domain_tokens = domain_tokens
        self.mixture = MixtureState(base_ratios=normalize(weights))
        self.losses = GroupLossTracker(domains, LOSS_WINDOWS, rows=4)
        self.sampler = MixtureBatchSampler(
            [s.length for s in train_dataset.sequences],
            [s.domain for s in train_dataset.sequences],
            [s.num_real_tokens for s in train_dataset.sequences],
            self.mixture,
            tokens_per_batch=args.per_device_train_batch_size * args.max_length,
            seed=args.data_seed if args.data_seed is not None else args.seed,
            num_processes=args.world_size,
        )
        if args.mixture_interval > 0:
            self.add_callback(MixtureControllerCallback(self))
        self.add_callback(LossCurveCallback("pretraining", group_kind="domain"))
        self.add_callback(PretrainStateCallback(self))

    # ---- data ----
    def get_train_dataloader(self) -> torch.utils.data.DataLoader:
        loader = torch.utils.data.DataLoader(
            self.train_dataset,
            batch_sampler=self.sampler,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
        )
        return self.accelerator.prepare(loader)

    # ---- loss ----
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        self._batch_domains = inputs.pop("domain_ids"), inputs.pop("num_real_tokens")
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def causal_lm_loss(self, outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
        """The Trainer's `compute_loss_func`: the causal-LM loss (summed over tokens, divided by the tokens
        predicted in the whole accumulated batch, as transformers' own loss) from one cross-entropy pass, whose
        per-token values also make the per-domain sums while training."""
        losses = token_losses(outputs.logits, labels)
        if self.model.training:
            domain_ids, real = self._batch_domains
            self.losses.add(domain_sums(losses, labels, domain_ids, real, len(self.losses.groups)), LOSS_WINDOWS)
        if num_items_in_batch is None:
            num_items_in_batch = (labels[:, 1:] != -100).sum()
        return losses.sum() / torch.as_tensor(num_items_in_batch, device=losses.device)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self.model.training:  # a training log step: add per-domain losses
            sums = self.losses.drain(self.accelerator, "log")
            logs.update({f"loss/{d}": v for d, v in self.losses.mean_losses(sums).items()})
            logs["token_utilization"] = float(sums[2].sum() / max(sums[3].sum(), 1))
            logs.update({f"mixture/{d}": r for d, r in self.mixture.ratios.items()})
        super().log(logs, start_time)

    # ---- mixture controller ----
    def control_mixture(self) -> None:
        sums = self.losses.drain(self.accelerator, "control")
        losses = self.losses.mean_losses(sums)
        self.mixture.loss_history.append(losses)
        mixture = self.mixture
        ratios, scores = reweight(mixture.ratios, mixture.base_ratios, mixture.loss_history, self.args.controller)
        first_batch = torch.tensor([self.sampler.next_batch], device=self.accelerator.device)
        if self.accelerator.num_processes > 1:  # every process must agree on where the change starts
            first_batch = self.accelerator.gather(first_batch)
        first_batch = int(first_batch.max())
        self.mixture.changes.append(MixtureChange(self.state.global_step, first_batch, ratios, losses, scores))
        logger.info("step %d: mixture %s (losses %s)", self.state.global_step, ratios, losses)

    # ---- checkpoints and resume ----
    def state_dict_for_checkpoint(self) -> dict:
        """Mixture and loss sums, summed over processes (a collective: every process must call it)."""
        return {
            "mixture": self.mixture.to_dict(),
            "loss_sums": {w: self.losses.reduce(self.accelerator, w).tolist() for w in LOSS_WINDOWS},
            "domains": self.losses.groups,
        }

    def load_pretrain_state(self, checkpoint: str) -> None:
        with open(os.path.join(checkpoint, STATE_FILE), encoding="utf-8") as handle:
            state = json.load(handle)
        if state["domains"] != self.losses.groups:
            raise ValueError(f"checkpoint domains {state['domains']} differ from the corpus's {self.losses.groups}")
        restored = MixtureState.from_dict(state["mixture"])
        self.mixture.base_ratios, self.mixture.changes = restored.base_ratios, restored.changes
        self.mixture.loss_history = restored.loss_history
        for window, sums in state["loss_sums"].items():  # global sums, kept by process 0 only
            self.losses.sums[window] = torch.tensor(sums, dtype=torch.float64)
            if self.args.process_index != 0:
                self.losses.sums[window].zero_()

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        resume_from_checkpoint = resolve_resume(resume_from_checkpoint, self.args.output_dir, STATE_FILE)
        if resume_from_checkpoint:
            self.load_pretrain_state(resume_from_checkpoint)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    # ---- report ----
    def summary(self) -> dict:
        """Per-domain losses of the last logging window, tokens seen, utilization and the mixture history."""
        total = self.losses.reduce(self.accelerator, "total")
        final = [h for h in self.state.log_history if "loss" in h] or [{}]
        tokens_seen = {d: int(total[2, i]) for i, d in enumerate(self.losses.groups)}
        return {
            "final_train_loss": final[-1].get("loss"),
            "final_domain_losses": {k[5:]: v for k, v in final[-1].items() if k.startswith("loss/")},
            "domain_losses_whole_run": self.losses.mean_losses(total),
            "tokens_seen": int(total[2].sum()),
            "token_slots_seen": int(total[3].sum()),
            "token_utilization": float(total[2].sum() / max(total[3].sum(), 1)),
            "tokens_seen_per_domain": tokens_seen,
            "epochs_seen_per_domain": {d: tokens_seen[d] / n for d, n in self.domain_tokens.items() if n},
            "planned_epochs_per_domain": implied_epochs(
                self.mixture.base_ratios,
                self.domain_tokens,
                self.state.max_steps
                * self.args.per_device_train_batch_size
                * self.args.max_length
                * self.args.gradient_accumulation_steps
                * self.args.world_size,
            ),
            "mixture": self.mixture.to_dict(),
            "world_size": self.args.world_size,
            "global_step": self.state.global_step,
        }


class MixtureControllerCallback(TrainerCallback):
    """Runs the trainer's mixture controller every `mixture_interval` optimizer steps."""

    def __init__(self, trainer: PretrainTrainer):
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % args.mixture_interval == 0:
            self.trainer.control_mixture()


class PretrainStateCallback(TrainerCallback):
    """Writes the mixture and loss sums into each checkpoint once the Trainer has saved it, so the state file
    marks a complete checkpoint (`resolve_resume` only picks those)."""

    def __init__(self, trainer: PretrainTrainer):
        self.trainer = trainer

    def on_save(self, args, state, control, **kwargs):
        saved = self.trainer.state_dict_for_checkpoint()  # a collective: every process gets here
        folder = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
        if args.should_save:
            with open(os.path.join(folder, STATE_FILE), "w", encoding="utf-8") as handle:
                json.dump(saved, handle, indent=2)


__all__ = [
    "MixtureControllerCallback",
    "PretrainConfig",
    "PretrainStateCallback",
    "PretrainTrainer",
]
