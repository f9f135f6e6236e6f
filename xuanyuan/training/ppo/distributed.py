"""How the PPO trainer's four models meet accelerate: plain/DDP, or DeepSpeed ZeRO 1-3 from `accelerate_configs/`.

Hand-written because PPO trains two models at once, which accelerate's DeepSpeed integration covers only
in part: one `prepare` call builds one engine from the *selected* plugin, `accelerator.backward` drives
only the first engine, and frozen models are not its business. So: actor and critic each get their own
`DeepSpeedPlugin` (a copy of the launch config with PPO's micro-batch and clipping) and their own engine,
optimizer and learning rate; each is stepped through its own engine. The frozen reference and reward
models go through TRL's `prepare_deepspeed` (ZeRO-3: partitioned, inference-only; ZeRO-1/2: whole on
each process) and generation from a ZeRO-3 actor through TRL's `unwrap_model_for_generation` (weights
gathered once for the whole rollout instead of per layer and per token).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch
from accelerate import Accelerator, DeepSpeedPlugin
from accelerate.utils import DistributedType, InitProcessGroupKwargs, LoggerType, TorchDynamoPlugin

from .config import PPOConfig

TRAINED = ("actor", "critic")


def launched_with_deepspeed() -> bool:
    """`accelerate launch --config_file accelerate_configs/zero*.yaml` (or `--use_deepspeed`) sets this."""
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"


def make_accelerator(config: PPOConfig) -> Accelerator:
    """The run's Accelerator. Under a DeepSpeed launch, with one plugin per trained model. Create it before
    loading the models: under ZeRO-3 with `zero3_init_flag`, `from_pretrained` then loads them partitioned."""
    common = {
        "mixed_precision": "bf16" if config.bf16 else "no",
        "kwargs_handlers": [InitProcessGroupKwargs(backend=config.ddp_backend)] if config.ddp_backend else [],
        "dynamo_plugin": compile_plugin(config),
        **tracking(config),
    }
    if not launched_with_deepspeed():
        return Accelerator(cpu=config.use_cpu, **common)
    if config.use_cpu:
        raise ValueError(
            "A DeepSpeed launch with use_cpu=true would silently run without DeepSpeed. On a CPU-only machine "
            "pass --use_cpu false --ddp_backend gloo."
        )
    plugins = {name: _training_plugin(config) for name in TRAINED}
    return Accelerator(deepspeed_plugins=plugins, **common)


def compile_plugin(config: PPOConfig) -> TorchDynamoPlugin | None:
    """`torch_compile` (`torch_compile_backend`, `torch_compile_mode`) as the Trainer hands it to accelerate, whose
    `prepare` then compiles the trained models: actor and critic. Generation runs the uncompiled module."""
    if not config.torch_compile:
        return None
    return TorchDynamoPlugin(backend=config.torch_compile_backend, mode=config.torch_compile_mode)


def tracking(config: PPOConfig) -> dict:
    """`report_to` as accelerate's trackers, writing under `<output_dir>/runs` like the Trainer-based stages."""
    supported = {tracker.value for tracker in LoggerType}
    unsupported = sorted(set(config.report_to) - supported)
    if unsupported:
        raise ValueError(
            f"report_to {unsupported}: PPO logs through accelerate's trackers, one of {sorted(supported)}"
        )
    if not config.report_to:
        return {}
    return {"log_with": list(config.report_to), "project_dir": str(Path(config.output_dir, "runs"))}


def _training_plugin(config: PPOConfig) -> DeepSpeedPlugin:
    """The launch config (zero stage, offload, ... read from the environment `accelerate launch` sets) with
    what PPO fixes itself: one PPO mini-batch per optimizer step, the config's gradient clipping, and ZeRO-3
    weights gathered on save (the actor is always written as a model folder)."""
    plugin = DeepSpeedPlugin()
    ds_config = plugin.deepspeed_config
    ds_config.update(
        train_micro_batch_size_per_gpu=config.mini_batch_size,
        gradient_accumulation_steps=1,
        gradient_clipping=config.max_grad_norm,
    )
    ds_config.pop("train_batch_size", None)  # DeepSpeed derives it: micro-batch x world size
    ds_config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] = True
    return plugin


def uses_deepspeed(accelerator: Accelerator) -> bool:
    return accelerator.distributed_type == DistributedType.DEEPSPEED


def zero_stage(accelerator: Accelerator) -> int | None:
    if not uses_deepspeed(accelerator):
        return None
    return int(accelerator.state.deepspeed_plugin.deepspeed_config["zero_optimization"]["stage"])


def prepare_trained(accelerator: Accelerator, actor, actor_optimizer, critic, critic_optimizer):
    """Actor and critic with their optimizers, wrapped for the run: one engine each under DeepSpeed."""
    if not uses_deepspeed(accelerator):
        return accelerator.prepare(actor, actor_optimizer, critic, critic_optimizer)
    prepared = []
    for name, model, optimizer in (("actor", actor, actor_optimizer), ("critic", critic, critic_optimizer)):
        accelerator.state.select_deepspeed_plugin(name)
        prepared += accelerator.prepare(model, optimizer)
    accelerator.state.select_deepspeed_plugin("actor")
    return tuple(prepared)


def prepare_frozen(accelerator: Accelerator, model: torch.nn.Module) -> torch.nn.Module:
    """A frozen model for inference: on the run's device, no gradients; under ZeRO-3 partitioned across
    processes like the trained ones (TRL's `prepare_deepspeed`). A model without parameters (a rule-based
    reward) has nothing to shard."""
    model = model.eval().requires_grad_(False)
    if not uses_deepspeed(accelerator) or next(model.parameters(), None) is None:
        return model.to(accelerator.device)
    from trl.models import prepare_deepspeed

    return prepare_deepspeed(model, accelerator)


@contextlib.contextmanager
def generation_model(accelerator: Accelerator, actor):
    """The bare actor for a rollout. Under ZeRO-3 its weights are gathered for the duration, so `generate`
    runs at full speed and processes that stop generating early do not wait on the others."""
    from trl.models import unwrap_model_for_generation

    with unwrap_model_for_generation(actor, accelerator) as model:
        yield model


def backward_and_step(accelerator: Accelerator, model, optimizer, loss: torch.Tensor, max_grad_norm: float):
    """One optimizer step of one trained model on `loss`. A DeepSpeed engine steps itself (clipping from
    its config); `accelerator.backward` would only ever drive the first engine."""
    if uses_deepspeed(accelerator):
        model.backward(loss)
        model.step()
        return
    accelerator.backward(loss)
    accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    optimizer.zero_grad()


def save_model(accelerator: Accelerator, model, path: str | Path, merge_adapters: bool = False) -> None:
    """Write `model` as a `from_pretrained` folder on the main process, LoRA adapters merged if asked (not
    under DeepSpeed, see `check_supported`). Every process must call it: under ZeRO-3 the full weights are
    gathered from all shards."""
    if uses_deepspeed(accelerator):
        state_dict = accelerator.get_state_dict(model)
        if accelerator.is_main_process:
            accelerator.unwrap_model(model).save_pretrained(path, state_dict=state_dict)
        return
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        if merge_adapters and hasattr(unwrapped, "merge_and_unload"):
            unwrapped = unwrapped.merge_and_unload()
        unwrapped.save_pretrained(path)


def close(accelerator: Accelerator, *models) -> None:
    """End the run on every process together: a barrier (no process tears down its connections while a peer
    still has a collective in flight), DeepSpeed's own teardown of each engine (its ZeRO-3 parameter hooks
    and optimizer state, rather than leaving them to interpreter exit), then the process group."""
    accelerator.wait_for_everyone()
    for model in models:
        if hasattr(model, "destroy"):  # a DeepSpeed engine
            model.destroy()
    accelerator.end_training()


def check_supported(accelerator: Accelerator, actor, critic) -> None:
    """LoRA under DeepSpeed is not wired: merging adapters into ZeRO-3 shards and a reference that is the
    engine's module with adapters disabled are untested here, so refuse rather than guess."""
    if uses_deepspeed(accelerator) and (hasattr(actor, "disable_adapter") or hasattr(critic, "disable_adapter")):
        raise NotImplementedError(
            "A LoRA actor/critic is supported single-process and under DDP, not under DeepSpeed yet: drop "
            "--use_peft, or launch with accelerate_configs/multi_gpu.yaml."
        )
