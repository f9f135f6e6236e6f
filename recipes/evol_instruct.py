"""Evol-Instruct: rewrite finance questions into harder or new ones, answer them, and eliminate failed rewrites.

    python recipes/evol_instruct.py --config recipes/tiny/evol_instruct.yaml --generator outputs/tiny/sft \
        --input_files outputs/tiny/data/sft/train.jsonl --output_dir outputs/tiny/synthesis/evol_instruct

Writes `evol_instruct.jsonl` (SFT records, category `evol_instruct`), `dropped.jsonl` (every eliminated rewrite
with its step and reason), `summary.json` (funnel, generator throughput) and `funnel.md`. Rerunning the same
command resumes an interrupted run. Rules and operations: `xuanyuan.data.synthesis.evol`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from xuanyuan.data.synthesis.evol import EvolConfig


@dataclass
class EvolArguments(EvolConfig):
    input_files: list[str] = field(default_factory=list, metadata={"help": "SFT or {id, question} records."})
    generator: str = field(default="", metadata={"help": "Model folder / Hub id, openai:<model>@<url>, or a "
                                                         "GeneratorSpec mapping in the YAML."})  # fmt: skip
    output_dir: str = "outputs/tiny/synthesis/evol_instruct"
    templates: str | None = field(default=None, metadata={"help": "YAML replacing shipped templates by name."})
    max_questions: int | None = field(default=None, metadata={"help": "Evolve only the first N questions."})
    evolve_max_new_tokens: int = 128
    evolve_temperature: float = 0.7
    answer_max_new_tokens: int = 256
    answer_temperature: float = 0.0
    top_p: float = 0.95
    chunk_size: int = 16
    seed: int = 0
    overwrite: bool = field(default=False, metadata={"help": "Start the output folder afresh."})
    on_bad_record: str = field(default="error", metadata={"help": "error, or skip (written to rejects.jsonl)."})


def main(args: EvolArguments) -> dict:
    from xuanyuan.data.synthesis.evol import evolve_questions, load_questions
    from xuanyuan.data.synthesis.generators import GeneratorSpec, build_generator
    from xuanyuan.data.synthesis.prompts import load_templates
    from xuanyuan.data.synthesis.runner import SynthesisRun, funnel_markdown
    from xuanyuan.evaluation.generation import Sampling

    if not args.input_files or not args.generator:
        raise SystemExit("error: --input_files and --generator are required")
    spec = GeneratorSpec.parse(args.generator)
    run = SynthesisRun(args.output_dir, args.seed, args.overwrite, models=[spec.model])
    rejects = Path(args.output_dir) / "rejects.jsonl"
    questions, report = load_questions(args.input_files, args.on_bad_record, rejects)
    questions = questions[: args.max_questions]
    generator = build_generator(spec)
    evolve_sampling = Sampling(args.evolve_max_new_tokens, args.evolve_temperature, args.top_p)
    answer_sampling = Sampling(args.answer_max_new_tokens, args.answer_temperature, args.top_p)
    templates = load_templates("evol", args.templates)
    records = evolve_questions(run, questions, generator, templates, args, evolve_sampling, answer_sampling,
                               args.chunk_size)  # fmt: skip
    settings = {key: value for key, value in asdict(args).items() if key != "generator"}  # a spec may hold a key
    summary = run.finish({"evol_instruct": records}, [generator], {"questions": report.to_dict(), "config": settings})
    table = funnel_markdown(summary)
    print(table + f"\n{len(records)} records in {Path(args.output_dir) / 'evol_instruct.jsonl'}")
    return summary


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (arguments,) = parse_recipe_args([EvolArguments])
    main(arguments)
