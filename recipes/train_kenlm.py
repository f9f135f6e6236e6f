"""Train the perplexity filter's per-language KenLM models and thresholds on a clean reference corpus.

    python recipes/train_kenlm.py --reference clean.jsonl --output_dir outputs/tiny/kenlm [--order 5 ...]

The reference is JSONL with `text` and `lang`. A fixed share of its documents (chosen by a hash of the
text, so the split does not depend on file order) is held out: the models train on the rest with
`lmplz`, and each language's thresholds are percentiles of the held-out documents' perplexities,
since documents a model was trained on look more fluent than new clean text. When the reference is
not the same kind of text as the corpus to be filtered (Wikipedia vs web pages; on the embedded
default, another synthetic world with other company names), its perplexities sit lower than those of
clean target text and its percentiles drop clean documents: pass a small clean sample of the target
(`--threshold_data`) to set the thresholds of the languages it has. Writes `{lang}.bin`
(or `{lang}.arpa` without `build_binary`) and `thresholds.json`. Needs `bash scripts/build_kenlm.sh`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from xuanyuan.data.records import split_heldout


@dataclass
class TrainKenLMConfig:
    reference: list[str] = field(metadata={"help": "Clean JSONL files with `text` and `lang`."})
    output_dir: str = field(metadata={"help": "Where {lang}.bin/.arpa and thresholds.json are written."})
    order: int = field(default=5, metadata={"help": "n-gram order (KenLM's default build supports up to 6)."})
    percentiles: list[float] = field(
        default_factory=lambda: [50, 75, 90, 95, 98, 99, 99.5, 100],
        metadata={"help": "Percentiles of the held-out perplexities stored as thresholds."},
    )
    heldout_fraction: float = field(
        default=0.1, metadata={"help": "Share of documents kept out of training to set thresholds (0: none)."}
    )
    threshold_data: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Clean JSONL of the corpus to be filtered, not trained on, whose perplexities set the thresholds "
            "of the languages it has (others: the reference's held-out share)."
        },
    )
    binary: bool = field(default=True, metadata={"help": "Convert to KenLM's binary format when possible."})
    memory: str = field(default="256M", metadata={"help": "lmplz sort memory (-S), e.g. 256M or 20%."})


def main(config: TrainKenLMConfig) -> dict:
    from xuanyuan.data.processing.kenlm_tools import build_binary, find_kenlm_tool, train_arpa
    from xuanyuan.data.processing.lm_tokens import lm_sentences
    from xuanyuan.data.processing.perplexity import KenLMScorer, read_reference, reference_thresholds, write_thresholds

    documents = read_reference(config.reference)
    heldout, training = split_heldout(documents, lambda doc: doc[0], config.heldout_fraction)
    languages = sorted({lang for _, lang in documents})
    target_data = read_reference(config.threshold_data) if config.threshold_data else []
    target = [doc for doc in target_data if doc[1] in languages]
    target_languages = {lang for _, lang in target}
    reference_share = heldout if config.heldout_fraction > 0 else training
    threshold_documents = target + [doc for doc in reference_share if doc[1] not in target_languages]
    if unscored := sorted(set(languages) - {lang for _, lang in threshold_documents}):
        raise ValueError(f"no held-out {unscored[0]!r} document: add reference text or raise heldout_fraction")

    output = Path(config.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    make_binary = config.binary and find_kenlm_tool("build_binary") is not None
    training_stats = {}
    for lang in languages:
        sentences = [s for text, doc_lang in training if doc_lang == lang for s in lm_sentences(text)]
        arpa = output / f"{lang}.arpa"
        train_arpa(sentences, arpa, config.order, config.memory)
        if make_binary:
            build_binary(arpa, output / f"{lang}.bin")
            arpa.unlink()
        training_stats[lang] = {
            "documents": sum(doc_lang == lang for _, doc_lang in training),
            "sentences": len(sentences),
            "tokens": sum(s.count(" ") + 1 for s in sentences),
        }

    languages_stats = reference_thresholds(KenLMScorer(output, languages), threshold_documents, config.percentiles)
    for lang, stats in languages_stats.items():
        stats["training"] = training_stats[lang]
        stats["threshold_source"] = "threshold_data" if lang in target_languages else "reference held-out share"
    write_thresholds(
        output,
        "kenlm",
        languages_stats,
        order=config.order,
        reference=config.reference,
        heldout_fraction=config.heldout_fraction,
        threshold_data=config.threshold_data,
    )
    print(json.dumps(languages_stats, indent=2, ensure_ascii=False))
    return languages_stats


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (config,) = parse_recipe_args([TrainKenLMConfig])
    main(config)
