"""Thresholds of the perplexity filter's Hugging Face backend: score a clean reference corpus with a causal LM.

    python recipes/perplexity_thresholds.py --hf_model outputs/tiny/pretrain \
        --reference outputs/tiny/data/pretrain/heldout.jsonl --output_dir outputs/tiny/hf_perplexity

The reference is JSONL with `text` and `lang`, clean text of the kind the filter should keep, which the model
was not trained on (text it was trained on looks more fluent than new clean text and sets the thresholds too
low). Every language gets the requested percentiles of its documents' perplexities, written to
`output_dir/thresholds.json` in the layout KenLM's thresholds use; then filter with
`--perplexity '{"enabled": true, "backend": "hf", "hf_model": ..., "model_dir": <output_dir>}'` and the same
`max_length` (windows change perplexities).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class PerplexityThresholdsConfig:
    hf_model: str = field(metadata={"help": "Causal LM folder or Hub id, the one the filter will use."})
    reference: list[str] = field(metadata={"help": "Clean JSONL files with `text` and `lang`."})
    output_dir: str = field(metadata={"help": "Where thresholds.json is written (the filter's `model_dir`)."})
    percentiles: list[float] = field(
        default_factory=lambda: [50, 75, 90, 95, 98, 99, 99.5, 100],
        metadata={"help": "Percentiles of the reference perplexities stored as thresholds."},
    )
    max_length: int = field(default=1024, metadata={"help": "Window length in tokens (use the filter's)."})
    batch_size: int = field(default=8, metadata={"help": "Windows per forward pass."})


def main(config: PerplexityThresholdsConfig) -> dict:
    from xuanyuan.data.processing.perplexity import HFScorer, read_reference, reference_thresholds, write_thresholds

    documents = read_reference(config.reference)
    scorer = HFScorer(config.hf_model, config.max_length, config.batch_size)
    languages = reference_thresholds(scorer, documents, config.percentiles)
    write_thresholds(
        config.output_dir,
        "hf",
        languages,
        hf_model=config.hf_model,
        max_length=config.max_length,
        reference=config.reference,
    )
    print(json.dumps(languages, indent=2, ensure_ascii=False))
    return languages


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (config,) = parse_recipe_args([PerplexityThresholdsConfig])
    main(config)
