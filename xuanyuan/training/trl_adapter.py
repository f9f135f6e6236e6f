"""Every use of a private name of TRL or transformers, in one place.

Where no public API exists, the trainers hook into TRL and transformers: SFT prepares pretraining text with
TRL's own dataset preparation, keeps a `group_id` column past the Trainer's column filter, draws with its own
sampler and reads the per-token log-probabilities of TRL's fused loss; the reward trainer logs through TRL's
metric store; PPO's vLLM rollouts read the defaults `generate` falls back to; `xuanyuan.serve` makes XuanYuan classes
visible to `transformers serve`. The mixins below own those hooks and hand the work to public methods of the subclass.
`TOUCHPOINTS` lists every private name used; `check_touchpoints` (run when a trainer is built, and by a test
per touchpoint) verifies each still exists with the parameters used, and importing this module warns once
when TRL or transformers is not the tested version. An upgrade that moves a name fails here, naming it.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version

import torch

TESTED = {"trl": "1.16.0", "transformers": "5.23.0"}
UPDATE = "update xuanyuan/training/trl_adapter.py"


@dataclass(frozen=True)
class Touchpoint:
    owner: str  # "module:Class"
    name: str
    parameters: tuple[str, ...] | None  # a method's leading parameters as used; None: an instance attribute


TOUCHPOINTS = (
    Touchpoint(
        "trl:SFTTrainer",
        "_prepare_dataset",
        ("dataset", "processing_class", "args", "packing", "formatting_func", "dataset_name"),
    ),
    Touchpoint("transformers:Trainer", "_set_signature_columns_if_needed", ()),
    Touchpoint("transformers:Trainer", "_get_train_sampler", ("train_dataset",)),
    Touchpoint("transformers:Trainer", "_signature_columns", None),
    Touchpoint("trl:RewardTrainer", "_metrics", None),
    Touchpoint("trl:RewardTrainer", "_total_train_tokens", None),
    Touchpoint("trl:RewardTrainer", "_tp_size", None),
    Touchpoint("transformers:GenerationConfig", "_get_default_generation_params", ()),
    # resolves the class to load with `getattr(transformers, config.architectures[0])`: see `expose_to_serve`
    Touchpoint(
        "transformers.cli.serving.model_manager:ModelManager",
        "_load_model",
        ("model_id_and_revision", "tqdm_class", "progress_callback", "gguf_file"),
    ),
)


class TRLAdapterError(RuntimeError):
    """A private name of TRL/transformers that the trainers use is gone or changed."""


def _versions() -> str:
    return ", ".join(f"{name}=={version(name)} (tested {tested})" for name, tested in TESTED.items())


def _owner(touchpoint: Touchpoint) -> type:
    module, _, name = touchpoint.owner.partition(":")
    return getattr(importlib.import_module(module), name)


def check_touchpoint(touchpoint: Touchpoint, instance: object | None = None) -> None:
    """Raise `TRLAdapterError` unless the private name exists (a method: with the parameters used; an
    instance attribute: on `instance`, when one is given)."""
    where = f"{touchpoint.owner.replace(':', '.')}.{touchpoint.name}"
    if touchpoint.parameters is None:
        if instance is not None and not hasattr(instance, touchpoint.name):
            raise TRLAdapterError(f"{where} is gone ({_versions()}): {UPDATE}")
        return
    method = getattr(_owner(touchpoint), touchpoint.name, None)
    if method is None:
        raise TRLAdapterError(f"{where} is gone ({_versions()}): {UPDATE}")
    parameters = tuple(inspect.signature(method).parameters)[1 : 1 + len(touchpoint.parameters)]
    if parameters != touchpoint.parameters:
        raise TRLAdapterError(
            f"{where} now takes {parameters}, the trainers pass {touchpoint.parameters} ({_versions()}): {UPDATE}"
        )


def check_touchpoints(instance: object) -> None:
    """Check every touchpoint whose owner `instance` is (its methods, and its attributes on it)."""
    for touchpoint in TOUCHPOINTS:
        if isinstance(instance, _owner(touchpoint)):
            check_touchpoint(touchpoint, instance)


if any(version(name) != tested for name, tested in TESTED.items()):
    warnings.warn(f"xuanyuan's trainers are tested with other versions: {_versions()}", stacklevel=2)


class SFTHooks:
    """Mixin before `trl.SFTTrainer`. Subclasses implement the public side: `extra_columns` (kept past the
    Trainer's column filter), `train_sampler(dataset)` (None: the Trainer's own) and, for padding-free
    batches without packing, get examples truncated to `max_length` (TRL leaves that to the caller)."""

    extra_columns: tuple[str, ...] = ()

    def __init__(self, model, args, *positional, **keywords):
        self.padding_free_max_length = None
        if args.padding_free and not args.packing and args.max_length is not None:
            # TRL refuses a max_length it would not enforce; `_prepare_dataset` below truncates instead
            self.padding_free_max_length, args.max_length = args.max_length, None
        try:
            super().__init__(model, args, *positional, **keywords)
        finally:
            if self.padding_free_max_length is not None:
                args.max_length = self.padding_free_max_length
        check_touchpoints(self)

    def prepare_dataset(self, dataset, name: str):
        """Tokenize `dataset` as TRL prepares an unpacked training set (text records: every token has loss)."""
        return self._prepare_dataset(dataset, self.processing_class, self.args, False, None, name)

    def _prepare_dataset(self, dataset, processing_class, args, packing, formatting_func, dataset_name):
        dataset = super()._prepare_dataset(dataset, processing_class, args, packing, formatting_func, dataset_name)
        if self.padding_free_max_length is None or packing:
            return dataset
        limit = self.padding_free_max_length
        dataset = dataset.map(lambda e: {"input_ids": e["input_ids"][:limit], "labels": e["labels"][:limit]})
        return dataset.filter(lambda e: any(label != -100 for label in e["labels"][1:]))

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        missing = [c for c in self.extra_columns if c not in self._signature_columns]
        self._signature_columns = [*self._signature_columns, *missing]

    def train_sampler(self, dataset):
        return None

    def _get_train_sampler(self, train_dataset=None):
        sampler = self.train_sampler(self.train_dataset if train_dataset is None else train_dataset)
        return sampler if sampler is not None else super()._get_train_sampler(train_dataset)


def expose_to_serve(*classes: type) -> None:
    """Let `transformers serve` load checkpoints of `classes`. Its `ModelManager._load_model` takes the class named
    by `config.architectures[0]` from the `transformers` module it imported, so only classes built into transformers
    load (the Auto classes, where XuanYuan is registered, are not asked; `--trust-remote-code` does not help). The
    classes are added to that module object: `transformers.processing_utils` re-executes `transformers/__init__.py`
    on first import and replaces `sys.modules["transformers"]`, so the object the server holds is the one to change.
    """
    from transformers.cli.serving import model_manager

    check_touchpoint(next(t for t in TOUCHPOINTS if t.name == "_load_model"))
    namespace = getattr(model_manager, "transformers", None)
    if namespace is None:
        raise TRLAdapterError(
            f"transformers' serving ModelManager no longer imports transformers ({_versions()}): {UPDATE}"
        )
    for cls in classes:
        setattr(namespace, cls.__name__, cls)


def generation_defaults() -> dict:
    """The values `generate` uses for settings that neither its call nor the model's generation config gives."""
    from transformers import GenerationConfig

    return GenerationConfig._get_default_generation_params()


@contextlib.contextmanager
def fused_loss_outputs(model: torch.nn.Module) -> Iterator[list]:
    """Collect the outputs of `model`'s forward passes while TRL computes its loss; `fused_token_log_probs`
    reads the per-token log-probabilities and label mask of TRL's fused LM-head loss from them."""
    captured: list = []
    handle = model.register_forward_hook(lambda _module, _args, output: captured.append(output))
    try:
        yield captured
    finally:
        handle.remove()


def fused_token_log_probs(captured: list) -> tuple[torch.Tensor, torch.Tensor]:
    """(log_probs, label_mask) of the forward pass that computed TRL's fused loss."""
    fused = next((o for o in captured if getattr(o, "log_probs", None) is not None), None)
    if fused is None:
        raise TRLAdapterError(f"TRL's loss returns no per-token log_probs ({_versions()}): {UPDATE}")
    return fused.log_probs.detach(), fused.label_mask


class RewardHooks:
    """Mixin before `trl.RewardTrainer`: logs a batch of pairs the way TRL's own `compute_loss` does."""

    def __init__(self, *positional, **keywords):
        super().__init__(*positional, **keywords)
        check_touchpoints(self)

    def log_pairs(self, mode: str, attention_mask: torch.Tensor, chosen: torch.Tensor, rejected: torch.Tensor):
        """Tokens seen, reward range, accuracy and margin of the batch in TRL's metric store; returns the
        margins gathered from every process."""
        if mode == "train":
            tokens = self.accelerator.gather_for_metrics(attention_mask.sum()).sum().item()
            self._total_train_tokens += tokens // self._tp_size
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        with torch.no_grad():
            scores = self.accelerator.gather_for_metrics(torch.cat([chosen, rejected]).detach())
            margins = self.accelerator.gather_for_metrics((chosen - rejected).detach())
            self._metrics[mode]["min_reward"].append(scores.min().item())
            self._metrics[mode]["mean_reward"].append(scores.mean().item())
            self._metrics[mode]["max_reward"].append(scores.max().item())
            self._metrics[mode]["accuracy"].append((margins > 0).float().mean().item())
            self._metrics[mode]["margin"].append(margins.mean().item())
            self._metrics[mode]["margin_var"].append(margins.var(unbiased=False).item())
        return margins
