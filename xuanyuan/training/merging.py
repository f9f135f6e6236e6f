"""Model merging: linear, task arithmetic and TIES over the safetensors state dicts of checkpoints that share a base.

- linear: Σ wᵢ θᵢ / Σ wᵢ, a weighted average (model soups);
- task arithmetic (Ilharco et al. 2023): θ_base + Σ wᵢ (θᵢ − θ_base);
- TIES (Yadav et al. 2023): each task vector (θᵢ − θ_base) keeps its `density` share of largest-magnitude entries;
  per entry, the sign of Σ wᵢ τᵢ is elected and the weighted mean of the entries that agree with it is added to
  θ_base.
Every model must hold the same tensor names and shapes (a mismatch or a missing tensor is a `MergeError` naming
the tensor, the shapes and the folders); non-float tensors are copied from the first model. Arithmetic is in fp32,
cast back to each tensor's dtype. The merged folder takes the first model's config, tokenizer, generation config
and modeling code, so it loads like its inputs (`AutoModelForCausalLM`, or `trust_remote_code=True` elsewhere).

Written by hand: mergekit 0.1.5 was tried on two tiny XuanYuan checkpoints (the SFT and the PPO model). Its linear
and task-arithmetic tensors matched these exactly and it names mismatched shapes, but it has no architecture
definition for XuanYuanForCausalLM (it guesses one from the weight names, with a warning), and its output folder
keeps `auto_map` without `modeling_xuanyuan.py`, so loading it with `trust_remote_code=True` outside this
repository fails ("does not appear to have a file named modeling_xuanyuan.py"); it would also add mergekit,
sentencepiece and immutables to the requirements for a few lines of tensor arithmetic.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

METHODS = ("linear", "task_arithmetic", "ties")
# What a merged folder takes from the first model besides the weights: loading and chat files, not its card or
# metrics (they describe another model).
COPIED_FILES = ("config.json", "generation_config.json", "*.py", "tokenizer*", "special_tokens_map.json",
                "added_tokens.json", "chat_template.jinja", "vocab.*", "merges.txt")  # fmt: skip


class MergeError(ValueError):
    """Checkpoints that cannot be merged: the message names the tensor and the folders."""


def load_state_dict(folder: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of a saved model folder: `model.safetensors`, or the shards its index lists."""
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.exists():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    elif (folder / "model.safetensors").exists():
        shards = ["model.safetensors"]
    else:
        raise MergeError(f"{folder}: no model.safetensors or model.safetensors.index.json (a saved model folder?)")
    return {name: tensor for shard in shards for name, tensor in load_file(folder / shard).items()}


def check_compatible(state_dicts: Sequence[dict[str, torch.Tensor]], folders: Sequence[str]) -> None:
    """The same tensor names and shapes in every state dict, else `MergeError` naming the first difference."""
    first, first_folder = state_dicts[0], folders[0]
    for state, folder in zip(state_dicts[1:], folders[1:], strict=True):
        for name in sorted(first.keys() ^ state.keys()):
            has, lacks = (first_folder, folder) if name in first else (folder, first_folder)
            raise MergeError(f"tensor {name!r} is in {has} but missing from {lacks}")
        for name, tensor in first.items():
            if tensor.shape != state[name].shape:
                raise MergeError(f"tensor {name!r} has shape {tuple(tensor.shape)} in {first_folder} but "
                                 f"{tuple(state[name].shape)} in {folder}")  # fmt: skip


def linear(tensors: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    return sum(w * t for w, t in zip(weights, tensors, strict=True)) / sum(weights)


def task_arithmetic(base: torch.Tensor, tensors: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    return base + sum(w * (t - base) for w, t in zip(weights, tensors, strict=True))


def ties(
    base: torch.Tensor, tensors: Sequence[torch.Tensor], weights: Sequence[float], density: float
) -> torch.Tensor:
    """TIES-merging: trim each task vector to its top-`density` magnitudes, elect signs, average the agreeing."""
    trimmed = []
    for tensor in tensors:
        delta = tensor - base
        keep = max(1, round(density * delta.numel()))
        threshold = delta.abs().flatten().kthvalue(delta.numel() - keep + 1).values
        trimmed.append(torch.where(delta.abs() >= threshold, delta, 0.0))
    weighted = torch.stack([w * t for w, t in zip(weights, trimmed, strict=True)])
    sign = torch.sign(weighted.sum(dim=0))
    agree = (torch.sign(weighted) == sign) & (weighted != 0)
    scale = torch.tensor(weights, dtype=weighted.dtype).view(-1, *[1] * base.dim()).expand_as(weighted)
    total = (scale * agree).sum(dim=0)
    return base + torch.where(total > 0, (weighted * agree).sum(dim=0) / total.clamp(min=1e-12), 0.0)


def merge_state_dicts(
    method: str,
    state_dicts: Sequence[dict[str, torch.Tensor]],
    weights: Sequence[float],
    base: dict[str, torch.Tensor] | None = None,
    density: float = 0.5,
) -> dict[str, torch.Tensor]:
    """The merged tensors (see the module docstring); `base` is needed by task arithmetic and TIES."""
    if method not in METHODS:
        raise MergeError(f"unknown merge method {method!r}; methods are {METHODS}")
    if len(weights) != len(state_dicts):
        raise MergeError(f"{len(weights)} weight(s) for {len(state_dicts)} model(s)")
    if (method == "linear") == (base is not None):
        raise MergeError(f"{method} merging {'takes no' if base is not None else 'needs a'} base model")
    if method == "linear" and sum(weights) == 0:
        raise MergeError(f"linear merging divides by the sum of the weights, which is 0: {list(weights)}")
    if method == "ties" and not 0 < density <= 1:
        raise MergeError(f"ties density must be in (0, 1], got {density}")
    merged = {}
    for name, first in state_dicts[0].items():
        if not first.is_floating_point():
            merged[name] = first.clone()
            continue
        tensors = [state[name].float() for state in state_dicts]
        if method == "linear":
            result = linear(tensors, weights)
        elif method == "task_arithmetic":
            result = task_arithmetic(base[name].float(), tensors, weights)
        else:
            result = ties(base[name].float(), tensors, weights, density)
        merged[name] = result.to(first.dtype).contiguous()
    return merged


def merge_models(
    method: str,
    models: Sequence[str],
    output_dir: str | Path,
    weights: Sequence[float] | None = None,
    base_model: str | None = None,
    density: float = 0.5,
) -> dict:
    """Merge the model folders into `output_dir` (weights, plus the first model's loading files) and return the
    summary written to `merge_summary.json`. Default weights: equal, 1/n each."""
    if not models:
        raise MergeError("no models to merge")
    weights = list(weights) if weights else [1.0 / len(models)] * len(models)
    folders = [str(model) for model in models]
    state_dicts = [load_state_dict(folder) for folder in folders]
    base = load_state_dict(base_model) if base_model else None
    if base is None:
        check_compatible(state_dicts, folders)
    else:
        check_compatible([*state_dicts, base], [*folders, str(base_model)])
    merged = merge_state_dicts(method, state_dicts, weights, base, density)

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    for path in Path(folders[0]).iterdir():
        if path.is_file() and any(fnmatch.fnmatch(path.name, pattern) for pattern in COPIED_FILES):
            shutil.copy2(path, output / path.name)
    save_file(merged, output / "model.safetensors", metadata={"format": "pt"})
    floating = [name for name, tensor in merged.items() if tensor.is_floating_point()]
    summary = {
        "method": method,
        "models": folders,
        "weights": weights,
        "base_model": base_model,
        "density": density if method == "ties" else None,
        "tensors": len(merged),
        "tensors_merged": len(floating),
        "tensors_copied": len(merged) - len(floating),
        "parameters": sum(tensor.numel() for tensor in merged.values()),
    }
    (output / "merge_summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
