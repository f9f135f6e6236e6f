"""Generate answers for a JSONL of prompts + references and score them (BLEU, ROUGE; MRR/MAP for rankings).

python eval/generation.py --model outputs/tiny/sft --data_files data/sft/test.jsonl --output_dir outputs/tiny/eval/gen

`--model openai:<model>@<base_url>` asks an OpenAI-compatible server instead (`python -m xuanyuan.serve`, vLLM).

Writes predictions.jsonl (what eval/compare.py reads), generation_metrics.json and generation_metrics.md.
`--ranking_files` adds MRR/MAP over already-ranked candidates, records `{candidates: [...best first],
answers: [...correct]}` (e.g. retrieval hits or KBQA answer candidates), matched exactly after stripping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class GenerationEvalConfig:
    model: str = field(metadata={"help": "Causal LM folder or Hub id, or openai:<model>@<base_url>."})
    data_files: list[str] = field(
        metadata={"help": "JSONL: {messages} ending with the reference, or {prompt, reference}."}
    )
    output_dir: str = field(metadata={"help": "Where predictions.jsonl and generation_metrics.{json,md} go."})
    max_new_tokens: int = field(default=128, metadata={"help": "Longest answer in tokens."})
    batch_size: int = field(default=8, metadata={"help": "Prompts per generate call."})
    do_sample: bool = field(
        default=False, metadata={"help": "Sample with the model's generation config (default greedy)."}
    )
    rouge_tokenizer: str = field(default="jieba", metadata={"help": "ROUGE tokens: jieba words or char."})
    max_examples: int | None = field(default=None, metadata={"help": "Use only the first N records."})
    ranking_files: list[str] = field(
        default_factory=list, metadata={"help": "JSONL {candidates, answers} for MRR/MAP."}
    )
    seed: int = field(default=0, metadata={"help": "Seed for sampling."})
    device: str | None = field(default=None, metadata={"help": "cuda, cpu, …; default: cuda when available."})


def load_rankings(paths: list[str]) -> tuple[list[list[str]], list[set[str]]]:
    from xuanyuan.data.records import RecordError, iter_records

    rankings, relevant = [], []
    for path in paths:
        for record in iter_records(path):
            for name in ("candidates", "answers"):
                value = record.data.get(name)
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise RecordError(path, record.line, name, "expected a list of strings")
            if not record.data["answers"]:
                raise RecordError(path, record.line, "answers", "expected at least one correct answer")
            rankings.append([c.strip() for c in record.data["candidates"]])
            relevant.append({a.strip() for a in record.data["answers"]})
    return rankings, relevant


def main(config: GenerationEvalConfig) -> dict:
    from dataclasses import replace

    from transformers import set_seed

    from xuanyuan.data.synthesis.generators import GeneratorSpec, build_generator
    from xuanyuan.evaluation.generation import (
        Sampling,
        generation_report_markdown,
        load_generation_examples,
        score_answers,
    )
    from xuanyuan.evaluation.generation_metrics import ranking_metrics

    set_seed(config.seed)
    examples = load_generation_examples(config.data_files)[: config.max_examples]
    spec = replace(GeneratorSpec.parse(config.model), batch_size=config.batch_size, device=config.device)
    sampling = Sampling(max_new_tokens=config.max_new_tokens, temperature=1.0 if config.do_sample else 0.0)
    replies = build_generator(spec).complete([e.prompt for e in examples], sampling, seed=config.seed)
    predictions = [texts[0] for texts in replies]
    report = score_answers(examples, predictions, config.rouge_tokenizer)
    if config.ranking_files:
        report["ranking"] = ranking_metrics(*load_rankings(config.ranking_files))
    report.update(model=config.model, rouge_tokenizer=config.rouge_tokenizer, do_sample=config.do_sample)

    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with open(output_dir / "predictions.jsonl", "w", encoding="utf-8") as handle:
        for example, prediction in zip(examples, predictions, strict=True):
            row = {"id": example.id, "category": example.category, "prompt": example.prompt,
                   "reference": example.reference, "prediction": prediction}  # fmt: skip
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    (output_dir / "generation_metrics.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), "utf-8")
    markdown = generation_report_markdown(report, f"Generation evaluation: {config.model}")
    (output_dir / "generation_metrics.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    return report


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (config,) = parse_recipe_args([GenerationEvalConfig])
    main(config)
