"""Clean, deduplicate and mix a pretraining corpus on datatrove.

    python recipes/process_data.py --config recipes/tiny/data.yaml \
        --input outputs/tiny/data/pretrain/raw.jsonl --output_dir outputs/tiny/clean

Stages (each can be switched off): normalize → rule filters → perplexity → safety → MinHash dedup → domain
sampling. Writes `data/` shards of {text, id, lang, domain} for recipes/pretrain.py, `removed/<stage>/` and
`stats.json` / `stats.md`. Every field of the YAML can be overridden on the command line; the `perplexity`,
`safety`, `slurm`, `ray` and `domain_rates` sections take a JSON object there. Re-running the same command
skips finished tasks (resume) and reproduces the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class PlantedCheck:
    planted: str | None = field(
        default=None,
        metadata={"help": "planted.jsonl of the embedded corpus: check what was caught (writes planted_report.json)."},
    )


def main(run, normalize, rules, dedup, sampling, check) -> dict | None:
    from xuanyuan.data.processing.pipeline import DataPipeline
    from xuanyuan.data.processing.planted import planted_report

    report = DataPipeline(run=run, normalize=normalize, rules=rules, dedup=dedup, sampling=sampling).launch()
    if report is None:
        print(f"submitted; the report will be written to {run.output_dir}/stats.md")
        return None
    if check.planted:
        report["planted"] = planted_report(check.planted, run.input, run.output_dir)
        Path(run.output_dir, "planted_report.json").write_text(
            json.dumps(report["planted"], indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    print(Path(run.output_dir, "stats.md").read_text(encoding="utf-8"))
    if check.planted:
        print(json.dumps(report["planted"]["summary"], indent=2, ensure_ascii=False))
    return report


def parse_args(argv: list[str] | None = None) -> tuple:
    from xuanyuan.cli import parse_recipe_args
    from xuanyuan.data.processing.dedup import DedupConfig
    from xuanyuan.data.processing.normalize import NormalizeConfig
    from xuanyuan.data.processing.pipeline import ProcessDataConfig
    from xuanyuan.data.processing.rules import RuleFilterConfig
    from xuanyuan.data.processing.sampling import SamplingConfig

    sections = [ProcessDataConfig, NormalizeConfig, RuleFilterConfig, DedupConfig, SamplingConfig, PlantedCheck]
    return parse_recipe_args(sections, argv=argv)


if __name__ == "__main__":
    main(*parse_args())
