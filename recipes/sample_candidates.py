"""Sample 2–4 candidate responses per prompt and write a labelling sheet for human preference labels (XuanYuan).

    python recipes/sample_candidates.py --config recipes/tiny/sample_candidates.yaml \
        --prompt_files outputs/tiny/data/rl/prompts.jsonl --generators outputs/tiny/sft outputs/tiny/ppo \
        --output_dir outputs/tiny/labelling

Every generator (a model folder or Hub id, or `openai:<model>@<base_url>`) gives `num_samples` replies per prompt;
empty and repeated replies, and prompts left with fewer than two, are set aside with their reasons. Writes
`sheet.csv` / `sheet.jsonl` for the labellers, `key.jsonl` (keep it: which generator wrote each letter),
`candidates.jsonl`, `dropped.jsonl` and `summary.json`. A rerun resumes; `recipes/import_labels.py` reads the
filled sheet back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class SampleCandidatesArguments:
    output_dir: str = field(default="outputs/tiny/labelling", metadata={"help": "Run folder; the sheet goes here."})
    prompt_files: list[str] = field(default_factory=list, metadata={"help": "SFT, RL prompt or {id, prompt} files."})
    generators: list[str] = field(
        default_factory=list, metadata={"help": "Model folders / Hub ids, or openai:<model>@<base_url>."}
    )
    num_samples: int = field(default=2, metadata={"help": "Replies per prompt from each generator."})
    temperature: float = 1.0
    top_p: float = 0.95
    max_new_tokens: int = 128
    chunk_size: int = field(default=16, metadata={"help": "Prompts per resumable chunk."})
    seed: int = field(default=0, metadata={"help": "Sampling and the sheet's per-prompt letter order."})
    overwrite: bool = field(default=False, metadata={"help": "Start the run folder afresh instead of resuming."})
    on_bad_record: str = field(default="error", metadata={"help": "'error', or 'skip' (to skipped_prompts.jsonl)."})


def main(args: SampleCandidatesArguments) -> dict:
    from xuanyuan.data.conversations import load_prompts
    from xuanyuan.data.synthesis.candidates import sample_candidates
    from xuanyuan.data.synthesis.generators import GeneratorSpec, build_generator
    from xuanyuan.data.synthesis.labelling import write_labelling_sheet
    from xuanyuan.data.synthesis.runner import SynthesisRun, funnel_markdown
    from xuanyuan.evaluation.generation import Sampling

    if not args.generators:
        raise SystemExit("error: give --generators (one or more models to sample from)")
    sampling = Sampling(args.max_new_tokens, args.temperature, args.top_p, args.num_samples)
    specs = [GeneratorSpec.parse(spec) for spec in args.generators]
    run = SynthesisRun(args.output_dir, args.seed, args.overwrite, models=[spec.model for spec in specs])
    prompts, loaded = load_prompts(args.prompt_files, args.on_bad_record, run.dir / "skipped_prompts.jsonl")
    generators = [build_generator(spec) for spec in specs]
    kept = sample_candidates(run, prompts, generators, sampling, args.chunk_size)
    sheet = write_labelling_sheet(kept, run.dir, args.seed) if kept else None
    summary = run.finish({"candidates": kept}, generators, {"prompts": loaded.to_dict(),
                                                            "sheet": asdict(sheet) if sheet else None})  # fmt: skip
    print(funnel_markdown(summary))
    if sheet is None:
        raise SystemExit(f"error: no prompt kept two distinct responses; see {run.dir / 'dropped.jsonl'}")
    print(f"labelling sheet: {sheet.sheet_csv} ({sheet.rows} prompts); keep {sheet.key} to import the labels")
    return summary


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (arguments,) = parse_recipe_args([SampleCandidatesArguments])
    main(arguments)
