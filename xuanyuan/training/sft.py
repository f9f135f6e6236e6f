"""`XuanYuanSFTTrainer`: TRL's `SFTTrainer` plus mixed fine-tuning and per-category control.

TRL does the chat template, assistant-only / completion-only labels, packing, padding-free batches,
NEFTune and PEFT. This subclass adds only:
- mixed fine-tuning: pretraining documents are prepared by TRL's own language-modelling path (labels =
  input ids, so every token carries loss) and concatenated with the instruction examples, whose labels
  keep TRL's assistant-only masking; both share one collator, padded or padding-free;
- a `group_id` per example (instruction category, or pretraining text) that the collator spreads over the
  example's tokens, so the per-token log-probabilities TRL's fused LM head already computes are summed
  per category and per source and logged, in training and on every evaluation set;
- `MixtureSampler` drawing examples at the configured ratios, and at each epoch's evaluation the
  optional `rebalance_shares` rule moving the category shares.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import torch
from datasets import Dataset, concatenate_datasets
from transformers.integrations import TensorBoardCallback
from trl import SFTConfig, SFTTrainer

from ..data.mixture.categories import PRETRAIN, Mixture, MixtureSampler, RatioRule, rebalance_shares
from ..hub import ModelCard, write_model_card
from .group_losses import GroupLossTracker
from .kernels import apply_liger_kernel
from .loss_curves import LossCurveCallback
from .trl_adapter import SFTHooks, fused_loss_outputs, fused_token_log_probs


@dataclass
class XuanYuanSFTConfig(SFTConfig):
    """`SFTConfig` plus the data mix. Every field works from YAML and from the command line."""

    pretrain_ratio: float = field(
        default=0.0, metadata={"help": "Share of training examples drawn from pretraining text (mixed fine-tuning)."}
    )
    dynamic_category_ratios: bool = field(
        default=False, metadata={"help": "At each epoch's evaluation, rebalance the instruction categories' shares."}
    )
    ratio_step: float = field(default=0.3, metadata={"help": "Relative change of a lowered or raised share."})
    converged_tolerance: float = field(
        default=0.01, metadata={"help": "Relative train-loss change below which a category counts as converged."}
    )
    high_loss_margin: float = field(
        default=0.2, metadata={"help": "A category this fraction above the mean loss counts as high-loss."}
    )
    min_category_share: float = field(default=0.02, metadata={"help": "Floor of any category's share."})

    @property
    def ratio_rule(self) -> RatioRule:
        return RatioRule(self.ratio_step, self.converged_tolerance, self.high_loss_margin, self.min_category_share)


@dataclass
class GroupTaggingCollator:
    """Wraps TRL's collator and adds `group_ids`: each token's example group, -1 on padding, laid out like
    `input_ids` (one row per example, or one flattened row when padding-free)."""

    collator: object
    padding_free: bool

    def __call__(self, examples: list[dict]) -> dict:
        batch = self.collator([{k: v for k, v in e.items() if k != "group_id"} for e in examples])
        rows = [torch.full((len(e["input_ids"]),), int(e["group_id"])) for e in examples]
        if self.padding_free:
            rows = [torch.cat(rows)]
        width = batch["input_ids"].shape[1]
        batch["group_ids"] = torch.stack([torch.nn.functional.pad(r, (0, width - len(r)), value=-1) for r in rows])
        return batch


class XuanYuanSFTTrainer(SFTHooks, SFTTrainer):
    """`SFTTrainer` with `pretrain_dataset` (mixed fine-tuning) and per-category / per-source losses.

    `train_dataset` holds instruction records (`messages` or `prompt`/`completion`) with a `category` column;
    `pretrain_dataset` holds documents in `args.dataset_text_field`. `eval_dataset` may be a dict of either
    kind (e.g. `{"sft": ..., "pretrain": ...}`): each reports its loss per category / source.
    """

    _tag_names = ["trl", "sft", "xuanyuan"]
    extra_columns = ("group_id",)

    def __init__(
        self,
        model,
        args: XuanYuanSFTConfig,
        train_dataset,
        pretrain_dataset: Dataset | None = None,
        eval_dataset=None,
        card: ModelCard | None = None,
        **kwargs,
    ):
        if args.pretrain_ratio > 0 and pretrain_dataset is None:
            raise ValueError(f"pretrain_ratio={args.pretrain_ratio} needs a pretrain_dataset")
        if args.packing and (args.pretrain_ratio > 0 or args.dynamic_category_ratios):
            raise ValueError("packing merges examples before sampling: use padding_free instead with a data mix")
        if args.dynamic_category_ratios and args.eval_strategy != "epoch":
            raise ValueError("dynamic_category_ratios rebalances at each epoch's evaluation: set eval_strategy=epoch")
        super().__init__(model, args, train_dataset=train_dataset, eval_dataset=eval_dataset, **kwargs)
        apply_liger_kernel(self.model, args)
        self.card = card
        self.add_callback(LossCurveCallback("SFT"))
        # transformers names TensorBoard's folder at `train()`; an evaluation before it (the recipe's held-out
        # losses before SFT) would open the writer in ./runs of the working directory instead.
        for callback in self.callback_handler.callbacks:
            if isinstance(callback, TensorBoardCallback) and callback.logging_dir is None:
                callback.logging_dir = os.path.join(args.output_dir, "runs")
        self.mixture: Mixture | None = None
        self.mixture_history: list[dict] = []
        self._mixture_sampler: MixtureSampler | None = None
        if args.packing or "category" not in self.train_dataset.column_names:
            return  # packed rows mix examples of different groups: no per-group accounting

        self.mixture = Mixture.from_counts(Counter(self.train_dataset["category"]), args.pretrain_ratio)
        train = self._tag(self.train_dataset, "train")
        if pretrain_dataset is not None and args.pretrain_ratio > 0:
            pretrain = self.prepare_dataset(pretrain_dataset, "pretrain")
            train = concatenate_datasets([train, self._tag(pretrain, "pretrain")])
        self.train_dataset = train
        if isinstance(self.eval_dataset, dict):
            self.eval_dataset = {name: self._tag(d, name) for name, d in self.eval_dataset.items()}
        elif self.eval_dataset is not None:
            self.eval_dataset = self._tag(self.eval_dataset, "eval")
        self.data_collator = GroupTaggingCollator(self.data_collator, self.padding_free)
        self.losses = GroupLossTracker(self.mixture.group_names, ("train", "eval", "epoch", "run"))
        self._previous_epoch: dict | None = None

    # --- data -------------------------------------------------------------------------------------
    def _tag(self, dataset: Dataset, name: str) -> Dataset:
        """Keep the model columns and add `group_id` (the example's category, or the pretraining group)."""
        pretrain_group = len(self.mixture.categories)
        if "category" in dataset.column_names:
            index = {c: g for g, c in enumerate(self.mixture.categories)}
            unknown = sorted(set(dataset["category"]) - index.keys())
            if unknown:
                raise ValueError(f"{name} dataset has categories absent from training: {unknown}")
            groups = [index[c] for c in dataset["category"]]
        else:
            groups = [pretrain_group] * len(dataset)
        keep = [c for c in ("input_ids", "labels") if c in dataset.column_names]
        return dataset.select_columns(keep).add_column("group_id", groups)

    def train_sampler(self, dataset):
        if self.mixture is None or not (self.args.pretrain_ratio > 0 or self.args.dynamic_category_ratios):
            return None
        groups = dataset["group_id"]
        instruction = sum(g < len(self.mixture.categories) for g in groups)
        # An epoch sees each instruction example about once, plus its share of pretraining text.
        num_samples = round(instruction / (1 - self.args.pretrain_ratio))
        lengths = None
        if self.args.train_sampling_strategy == "group_by_length":
            lengths = [len(ids) for ids in dataset["input_ids"]]
        self._mixture_sampler = MixtureSampler(
            groups, self.mixture.group_weights(), num_samples, self.args.seed, lengths, self.args.train_batch_size
        )
        return self._mixture_sampler

    # --- losses -----------------------------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        group_ids = inputs.pop("group_ids", None)
        if group_ids is None or self.mixture is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        with fused_loss_outputs(model) as captured:
            result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        self._accumulate(*fused_token_log_probs(captured), group_ids)
        return result

    def _accumulate(self, log_probs: torch.Tensor, label_mask: torch.Tensor, group_ids: torch.Tensor) -> None:
        groups = group_ids[:, 1:].to(log_probs.device)  # log_probs[:, t] scores the token at t + 1
        groups = torch.where(label_mask, groups, -1)
        windows = ("train", "epoch", "run") if self.model.training else ("eval",)
        self.losses.add_tokens(-log_probs, groups, windows)

    def group_losses(self, stats: torch.Tensor) -> dict[str, float]:
        """Mean per-token loss of every group with tokens, of each source, and the pretraining token share."""
        sums, counts = stats[GroupLossTracker.LOSS], stats[GroupLossTracker.TOKENS]
        metrics = {f"loss/{name}": loss for name, loss in self.losses.mean_losses(stats).items()}
        sft = slice(0, len(self.mixture.categories))
        if counts[sft].sum() > 0:
            metrics["loss/source/sft"] = (sums[sft].sum() / counts[sft].sum()).item()
        if counts.sum() > 0:
            metrics[f"token_share/source/{PRETRAIN}"] = (counts[-1] / counts.sum()).item()
        return metrics

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self.mixture is not None and self.model.training:
            logs.update(self.group_losses(self.losses.drain(self.accelerator, "train")))
        super().log(logs, start_time)

    def evaluation_loop(
        self, dataloader, description, prediction_loss_only=None, ignore_keys=None, metric_key_prefix="eval"
    ):
        if self.mixture is None:
            return super().evaluation_loop(
                dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix
            )
        self.losses.reset("eval")
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix)
        eval_losses = self.group_losses(self.losses.drain(self.accelerator, "eval"))
        output.metrics.update({f"{metric_key_prefix}_{k}": v for k, v in eval_losses.items()})
        if self.args.dynamic_category_ratios and self.is_in_train and "loss/source/sft" in eval_losses:
            self._rebalance(eval_losses)
        return output

    def _rebalance(self, eval_losses: dict[str, float]) -> None:
        """End of an epoch: move the category shares by `rebalance_shares` and hand them to the sampler."""
        train_losses = self.group_losses(self.losses.drain(self.accelerator, "epoch"))
        current = {
            c: (train_losses[f"loss/category/{c}"], eval_losses.get(f"loss/category/{c}"))
            for c in self.mixture.categories
            if f"loss/category/{c}" in train_losses
        }
        before = dict(self.mixture.shares)
        self.mixture.shares, verdicts = rebalance_shares(before, self._previous_epoch, current, self.args.ratio_rule)
        self._previous_epoch = current
        if self._mixture_sampler is not None:
            self._mixture_sampler.set_weights(self.mixture.group_weights())
        self.mixture_history.append(
            {
                "epoch": round(self.state.epoch or 0, 3),
                "losses": current,
                "verdicts": verdicts,
                "shares_before": before,
                "shares": dict(self.mixture.shares),
            }
        )

    # --- release ----------------------------------------------------------------------------------
    def create_model_card(self, model_name: str | None = None, dataset_name: str | None = None, tags=None, **_):
        """Write our card (see `xuanyuan.hub`) instead of TRL's; `push_to_hub` uploads it."""
        if not self.is_world_process_zero():
            return
        card = self.card or ModelCard(model_name=model_name or self.args.output_dir, base_model=None, stage="SFT")
        write_model_card(self.args.output_dir, card, self.processing_class)
