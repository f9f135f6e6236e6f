"""recipes/ppo.py as a launcher runs it, plus, after training, the full weights of all four models
(gathered from ZeRO-3 shards) written to `<output_dir>/final_weights/<model>.safetensors` and the share of
each model's parameters that process 0 held (`local_share.json`), so the distributed tests can check which
models trained, which stayed frozen, and which were partitioned.

    accelerate launch --config_file accelerate_configs/zero3.yaml tests/ppo_launch_helper.py <recipe args>
"""

import contextlib
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from script_loading import load_script
from trl import ModelConfig

from xuanyuan.cli import parse_recipe_args
from xuanyuan.training.ppo import PPOConfig


def full_weights(model, zero3: bool) -> dict[str, torch.Tensor]:
    module = getattr(model, "module", model)  # a DeepSpeed engine or DDP wrapper holds the model here
    gathered = contextlib.nullcontext()
    if zero3:
        import deepspeed

        gathered = deepspeed.zero.GatheredParameters(list(module.parameters()))
    with gathered:
        return {name: tensor.detach().float().clone() for name, tensor in module.state_dict().items()}


def local_share(model) -> float:
    """Parameter elements held by this process / elements of the full model (ZeRO-3 keeps `ds_numel`)."""
    params = list(getattr(model, "module", model).parameters())
    local = sum(p.ds_tensor.numel() if hasattr(p, "ds_tensor") else p.numel() for p in params)
    return local / sum(getattr(p, "ds_numel", p.numel()) for p in params)


def dump_weights(trainer) -> None:
    from xuanyuan.training.ppo.distributed import zero_stage

    zero3 = zero_stage(trainer.accelerator) == 3
    models = {"actor": trainer.actor, "critic": trainer.critic, "reference": trainer.reference}
    models["reward"] = trainer.reward_model
    shares = {name: local_share(model) for name, model in models.items()}
    weights = {name: full_weights(model, zero3) for name, model in models.items()}  # collective: every rank
    if trainer.accelerator.is_main_process:
        folder = Path(trainer.config.output_dir, "final_weights")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "local_share.json").write_text(json.dumps(shares), encoding="utf-8")
        for name, tensors in weights.items():
            save_file(tensors, folder / f"{name}.safetensors")


if __name__ == "__main__":
    recipe = load_script("recipes/ppo.py")
    parsed = parse_recipe_args([recipe.PPOScriptArguments], [PPOConfig, ModelConfig], argv=sys.argv[1:])
    recipe.main(*parsed, on_trained=dump_weights)
