"""Multi-model ensemble: several generators answer each query, the reward model drops weak answers, and a merger
writes the final answer from the survivors.

    python recipes/ensemble_answers.py --config recipes/tiny/ensemble_answers.yaml \
        --generators outputs/tiny/sft outputs/tiny/ppo --merger outputs/tiny/sft --reward_model outputs/tiny/reward \
        --input_files outputs/tiny/data/rl/prompts.jsonl --output_dir outputs/tiny/synthesis/ensemble

Writes `ensemble.jsonl` (SFT records, category `ensemble`, every answer with its generator, reward and verdict in
`source`), `dropped.jsonl` (answers under the threshold, queries without a surviving answer, each with its reason),
`summary.json` and `funnel.md`. Rerunning the same command resumes an interrupted run. See
`xuanyuan.data.synthesis.ensemble`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from xuanyuan.data.synthesis.ensemble import EnsembleConfig


@dataclass
class EnsembleArguments(EnsembleConfig):
    input_files: list[str] = field(default_factory=list, metadata={"help": "SFT, RL-prompt or {id, prompt} records."})
    generators: list[str] = field(default_factory=list, metadata={"help": "GeneratorSpecs: model folders / Hub ids, "
                                  "openai:<model>@<url>, or mappings in the YAML; names must differ."})  # fmt: skip
    merger: str = field(default="", metadata={"help": "GeneratorSpec of the merger; default: the first generator."})
    reward_model: str = field(default="", metadata={"help": "Sequence-classification reward model folder."})
    output_dir: str = "outputs/tiny/synthesis/ensemble"
    templates: str | None = field(default=None, metadata={"help": "YAML replacing shipped templates by name."})
    max_queries: int | None = field(default=None, metadata={"help": "Answer only the first N queries."})
    max_new_tokens: int = 256
    temperature: float = field(default=0.0, metadata={"help": "Of the generators; 0 is greedy."})
    top_p: float = 0.95
    num_samples: int = field(default=1, metadata={"help": "Answers per generator and query."})
    merge_max_new_tokens: int = 384
    merge_temperature: float = 0.0
    reward_batch_size: int = 16
    device: str | None = field(default=None, metadata={"help": "Of the reward model; default cuda when available."})
    chunk_size: int = 16
    seed: int = 0
    overwrite: bool = field(default=False, metadata={"help": "Start the output folder afresh."})
    on_bad_record: str = field(default="error", metadata={"help": "error, or skip (written to rejects.jsonl)."})


def load_reward_scorer(args: EnsembleArguments):
    """`RewardModelJudge.score` of the reward model: it renders each answer with the chat template as in training."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from xuanyuan.evaluation.judge import RewardModelJudge
    from xuanyuan.tokenization import load_tokenizer

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    auto = AutoModelForSequenceClassification.from_pretrained
    model = auto(args.reward_model, num_labels=1, dtype=torch.float32).to(device)
    return RewardModelJudge(model, load_tokenizer(args.reward_model), args.reward_batch_size).score


def main(args: EnsembleArguments) -> dict:
    from xuanyuan.data.conversations import load_prompts
    from xuanyuan.data.synthesis.ensemble import ensemble_answers
    from xuanyuan.data.synthesis.generators import GeneratorSpec, build_generator
    from xuanyuan.data.synthesis.prompts import load_templates
    from xuanyuan.data.synthesis.runner import SynthesisRun, funnel_markdown
    from xuanyuan.evaluation.generation import Sampling

    if not args.input_files or not args.generators or not args.reward_model:
        raise SystemExit("error: --input_files, --generators and --reward_model are required")
    specs = [GeneratorSpec.parse(spec) for spec in args.generators]
    merger_spec = GeneratorSpec.parse(args.merger or specs[0])
    models = [spec.model for spec in [*specs, merger_spec]] + [args.reward_model]
    run = SynthesisRun(args.output_dir, args.seed, args.overwrite, models=models)
    queries, report = load_prompts(args.input_files, args.on_bad_record, Path(args.output_dir) / "rejects.jsonl")
    queries = queries[: args.max_queries]
    generators = [build_generator(spec) for spec in specs]
    merger = generators[specs.index(merger_spec)] if merger_spec in specs else build_generator(merger_spec)
    sampling = Sampling(args.max_new_tokens, args.temperature, args.top_p, args.num_samples)
    merge_sampling = Sampling(args.merge_max_new_tokens, args.merge_temperature, args.top_p)
    records = ensemble_answers(
        run, queries, generators, load_reward_scorer(args), args.reward_model, merger,
        load_templates("ensemble", args.templates), args, sampling, merge_sampling, args.chunk_size,
    )  # fmt: skip
    settings = {key: value for key, value in asdict(args).items() if key not in ("generators", "merger")}  # keys
    summary = run.finish({"ensemble": records}, [*generators, merger], {"queries": report.to_dict(),
                                                                        "config": settings})  # fmt: skip
    table = funnel_markdown(summary)
    print(table + f"\n{len(records)} records in {Path(args.output_dir) / 'ensemble.jsonl'}")
    return summary


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (arguments,) = parse_recipe_args([EnsembleArguments])
    main(arguments)
