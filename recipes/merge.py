"""Merge checkpoints that share a base into one causal LM folder: linear, task arithmetic or TIES.

    python recipes/merge.py --config recipes/tiny/merge.yaml --models outputs/tiny/sft outputs/tiny/ppo \
        --output_dir outputs/tiny/merged [--method task_arithmetic --base_model outputs/tiny/sft --weights 0.5]

`xuanyuan.training.merging` does the arithmetic over the safetensors state dicts; the folder gets the first model's
config, tokenizer (with its chat template) and generation config, and `merge_summary.json` (method, weights,
models, tensor counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MergeArguments:
    models: list[str] = field(default_factory=list, metadata={"help": "Model folders with the same tensors."})
    output_dir: str = "outputs/tiny/merged"
    method: str = field(default="linear", metadata={"help": "linear, task_arithmetic or ties."})
    weights: list[float] | None = field(default=None, metadata={"help": "One per model; default 1/n each."})
    base_model: str | None = field(default=None, metadata={"help": "The shared base (task_arithmetic, ties)."})
    density: float = field(default=0.5, metadata={"help": "ties: share of each task vector's entries kept."})


def main(args: MergeArguments) -> dict:
    from xuanyuan.cli import write_result
    from xuanyuan.model_cards import write_training_card
    from xuanyuan.training.merging import merge_models

    if not args.models:
        raise SystemExit("merge.py needs --models (two or more model folders)")
    summary = merge_models(args.method, args.models, args.output_dir, args.weights, args.base_model, args.density)
    write_result(args.output_dir, "merge_summary.json", summary)
    write_training_card(args.output_dir, "merge", summary, base_model=args.models)
    return summary


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (arguments,) = parse_recipe_args([MergeArguments])
    main(arguments)
