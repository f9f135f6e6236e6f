"""Self-QA (XuanYuan-6B): SFT question/answer records from your own documents, tables and knowledge-graph triples.

    python recipes/self_qa.py --config recipes/tiny/self_qa.yaml --generator outputs/tiny/pretrain \
        --documents outputs/tiny/data/pretrain/raw.jsonl --tables outputs/tiny/data/knowledge/companies.csv \
        --triples outputs/tiny/data/knowledge/concept_triples.jsonl --output_dir outputs/tiny/self_qa

The generator (a model folder or Hub id, `openai:<model>@<base_url>`, or a YAML mapping of `GeneratorSpec`) writes
questions about each knowledge item and answers them by reading it; heuristic filters remove bad pairs
(`xuanyuan.data.synthesis.self_qa`). Writes `self_qa.jsonl` (SFT `messages` records), `dropped.jsonl` (every
item set aside, with its step and reason), `summary.json` (the funnel and the generator's throughput), `report.md`
(the funnel and a few records) and, with `on_bad_record: skip`, `knowledge_rejects.jsonl`. A rerun resumes from the
finished chunks.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field


@dataclass
class SelfQAArguments:
    output_dir: str = field(default="outputs/tiny/self_qa", metadata={"help": "Run folder (resumed when rerun)."})
    generator: str = field(
        default="",
        metadata={"help": "Model folder / Hub id, openai:<model>@<base_url>, or a GeneratorSpec mapping (YAML/JSON)."},
    )
    documents: list[str] = field(default_factory=list, metadata={"help": "JSONL/parquet files with a `text` field."})
    tables: list[str] = field(
        default_factory=list,
        metadata={"help": "CSV/parquet tables, or (YAML) mappings {path, title, key_columns}: one item per row."},
    )
    table_title: str | None = field(default=None, metadata={"help": "Title of the tables given as paths."})
    key_columns: list[str] = field(
        default_factory=list, metadata={"help": "Key columns of the tables given as paths (name a row, required)."}
    )
    triples: list[str] = field(
        default_factory=list, metadata={"help": "JSONL/parquet/CSV {head, relation, tail}: one item per entity."}
    )
    max_chars: int = field(default=600, metadata={"help": "Longest knowledge passage, in characters."})
    language: str = field(default="auto", metadata={"help": "zh, en, or auto (the record's own, else detected)."})
    max_items: int = field(
        default=0,
        metadata={"help": "Per kind (passages, table rows, entities): a seeded sample of this many; 0: all."},
    )
    num_questions: int = field(default=5, metadata={"help": "Questions asked of the generator per knowledge item."})
    instruction_sampling: str | None = field(
        default=None, metadata={"help": "Sampling of the questions: max_new_tokens, temperature, top_p, num_samples."}
    )
    answer_sampling: str | None = field(default=None, metadata={"help": "Sampling of the answers (num_samples 1)."})
    filters: str | None = field(default=None, metadata={"help": "FilterConfig fields (YAML mapping or JSON)."})
    templates: str | None = field(default=None, metadata={"help": "YAML file replacing some shipped templates."})
    chunk_size: int = field(default=16, metadata={"help": "Items per resumable chunk."})
    seed: int = field(default=0, metadata={"help": "Sampling seed and the max_items sample."})
    overwrite: bool = field(default=False, metadata={"help": "Start the run folder afresh instead of resuming."})
    on_bad_record: str = field(
        default="error", metadata={"help": "'error', or 'skip' (bad records to knowledge_rejects.jsonl)."}
    )


def _parsed(value: str | dict | None, name: str) -> str | dict | None:
    """A YAML mapping as it is; a JSON object given on the command line as a dict."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise SystemExit(f"error: --{name} is not a valid JSON object: {error}") from None
    return value


def _config(cls: type, value: str | dict | None, name: str):
    """`cls` built from the mapping `value`; an unknown key or a bad value is an error naming the option."""
    value = _parsed(value, name) or {}
    if not isinstance(value, dict):
        raise SystemExit(f"error: {name} must be a mapping of {cls.__name__} fields, got {value!r}")
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise SystemExit(f"error: {name}: unknown key(s) {unknown}; {cls.__name__} has {known}")
    try:
        return cls(**value)
    except (TypeError, ValueError) as error:
        raise SystemExit(f"error: {name}: {error}") from None


def _config_or(cls: type, value: str | dict, name: str, from_text):
    """`cls` from a mapping (YAML, or JSON on the command line), else `from_text(value)`."""
    value = _parsed(value, name)
    return _config(cls, value, name) if isinstance(value, dict) else from_text(value)


def report_markdown(funnel: str, records: list[dict], dropped: list[dict], shown: int = 3) -> str:
    """The funnel, a few kept records and a few set-aside items with their reasons (the whole lists are in
    self_qa.jsonl and dropped.jsonl)."""
    lines = ["### Self-QA funnel", "", funnel.rstrip("\n"), ""]
    if records:
        lines += [f"### {min(shown, len(records))} of {len(records)} kept records", ""]
    for record in records[:shown]:
        question, answer = (message["content"] for message in record["messages"])
        lines += [f"- `{record['source']['knowledge_id']}` **Q:** {question}", f"  **A:** {answer}"]
    if dropped:
        lines += ["", f"### {min(shown, len(dropped))} of {len(dropped)} items set aside", ""]
    for row in dropped[:shown]:
        lines.append(f"- step `{row['step']}`, `{row['item']['id']}`: {row['reason'][:160]}")
    return "\n".join(lines) + "\n"


def main(args: SelfQAArguments) -> dict:
    from xuanyuan.data.records import write_rejects
    from xuanyuan.data.synthesis.filters import FilterConfig
    from xuanyuan.data.synthesis.generators import GeneratorSpec, build_generator
    from xuanyuan.data.synthesis.knowledge import KnowledgeConfig, TableSpec, load_knowledge
    from xuanyuan.data.synthesis.runner import SynthesisRun, funnel_markdown
    from xuanyuan.data.synthesis.self_qa import SelfQAConfig, run_self_qa
    from xuanyuan.evaluation.generation import Sampling

    if not args.generator:
        raise SystemExit("error: give --generator (a model folder, or openai:<model>@<base_url>)")
    if not (args.documents or args.tables or args.triples):
        raise SystemExit("error: give knowledge: --documents, --tables and/or --triples")
    spec = _config_or(GeneratorSpec, args.generator, "generator", GeneratorSpec.parse)
    config = SelfQAConfig(
        num_questions=args.num_questions,
        instruction_sampling=_config(Sampling, args.instruction_sampling, "instruction_sampling"),
        answer_sampling=_config(Sampling, args.answer_sampling, "answer_sampling"),
        filters=_config(FilterConfig, args.filters, "filters"),
        templates=args.templates,
        chunk_size=args.chunk_size,
    )
    knowledge_config = KnowledgeConfig(args.max_chars, args.language, on_bad_record=args.on_bad_record,
                                       max_items=args.max_items, seed=args.seed)  # fmt: skip
    run = SynthesisRun(args.output_dir, args.seed, args.overwrite, models=[spec.model])

    def table_at(path: str) -> TableSpec:
        return TableSpec(path, args.table_title, args.key_columns)

    tables = [_config_or(TableSpec, table, "tables", table_at) for table in args.tables]
    knowledge = load_knowledge(knowledge_config, args.documents, tables, args.triples)
    if args.on_bad_record == "skip":
        write_rejects(run.dir / "knowledge_rejects.jsonl", knowledge.rejects)
    if not knowledge.items:
        raise SystemExit("error: the knowledge files hold no item to ask about")
    generator = build_generator(spec)
    records = run_self_qa(knowledge.items, generator, config, run)
    extra = {"knowledge": knowledge.counts, "knowledge_rejects": len(knowledge.rejects)}
    summary = run.finish({"self_qa": records}, [generator], extra)
    funnel = funnel_markdown(summary)
    (run.dir / "report.md").write_text(report_markdown(funnel, records, run.dropped), encoding="utf-8")
    print(funnel)
    return summary


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (arguments,) = parse_recipe_args([SelfQAArguments])
    main(arguments)
