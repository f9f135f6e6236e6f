"""How the perplexity and safety filters treat the embedded corpus's planted defects and its clean documents
(a quality report: deterministic, so measured once; --repeats and --warmup do not apply).

    python benchmarks/lm_safety_filters.py --data_dir DATA [--kenlm DIR]

Runs both filters on every raw document (traditional Chinese first converted with OpenCC `t2s`, as the
pipeline's normalization does) and counts, per filter setting, the documents removed of each planted kind
(`pretrain/planted.jsonl`) and of the clean ones. Without `--kenlm` the KenLM models are made first by the tiny
pipeline's own stages (reference world, KenLM build check, training), in a temporary folder.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import opencc
from datatrove.data import Document
from harness import MismatchError, Row, Section, bench_main, single

from xuanyuan.data.processing.perplexity import KenLMScorer, load_thresholds
from xuanyuan.data.processing.safety import SafetyFilter, SafetyFilterConfig
from xuanyuan.data.records import iter_records

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"perplexity": ("noise", "spam"), "safety": ("spam",)}  # planted kinds each filter exists to remove
KENLM_STAGES = "reference_data,build_kenlm,kenlm"


def load_corpus(data: Path) -> list[tuple[str, str, str]]:
    """(kind, lang, text) of every raw document; kind is `clean` or the planted defect."""
    planted = {r.data["id"]: r.data["kind"] for r in iter_records(data / "planted.jsonl")}
    t2s = opencc.OpenCC("t2s")
    corpus = []
    for record in iter_records(data / "raw.jsonl"):
        kind = planted.get(record.data["id"], "clean")
        text = t2s.convert(record.data["text"]) if kind == "traditional" else record.data["text"]
        corpus.append((kind, record.data["lang"], text))
    if missing := len(planted) - sum(kind != "clean" for kind, _, _ in corpus):
        raise MismatchError(f"{missing} planted documents are not in raw.jsonl")
    return corpus


def make_kenlm(data_dir: Path, work: Path) -> Path:
    """The tiny pipeline's KenLM models, made by its own stages with `data_dir` as the pipeline's data."""
    (work / "data").symlink_to(data_dir.resolve(), target_is_directory=True)
    command = [sys.executable, ROOT / "recipes/run_pipeline.py", "--config", ROOT / "recipes/tiny/pipeline.yaml"]
    subprocess.run([*command, "--only", KENLM_STAGES, "--output_dir", work], check=True, cwd=ROOT)
    return work / "kenlm"


def caught(safety: SafetyFilter, doc: Document) -> bool:
    """Whether the safety filter dropped the document or (paragraph mode) cut paragraphs from it."""
    return safety.filter(doc) is not True or "unsafe_paragraphs_removed" in doc.metadata


def removals(corpus, kenlm: Path, percentiles: list[float], safety_threshold: float) -> tuple[dict, dict, int]:
    """Per setting, whether it removed (or cut) each document; perplexities per (lang, kind); documents scored."""
    thresholds = {p: load_thresholds(kenlm, "kenlm", p) for p in percentiles}
    scorer = KenLMScorer(kenlm, thresholds[percentiles[0]])
    scored = [scorer.perplexity(text, lang) if lang in scorer.paths else None for _, lang, text in corpus]
    by_lang_kind = defaultdict(list)
    for (kind, lang, _), perplexity in zip(corpus, scored, strict=True):
        if perplexity is not None:
            by_lang_kind[lang, kind].append(perplexity)
    settings = {
        f"perplexity p{p:g}": [ppl is not None and ppl > limits.get(lang, math.inf)
                               for ppl, (_, lang, _) in zip(scored, corpus, strict=True)]
        for p, limits in thresholds.items()
    }  # fmt: skip
    for mode in ("document", "paragraph"):
        safety = SafetyFilter(SafetyFilterConfig(enabled=True, mode=mode, threshold=safety_threshold))
        settings[f"safety {mode}"] = [
            caught(safety, Document(text=text, id=str(i))) for i, (_, _, text) in enumerate(corpus)
        ]
    return settings, by_lang_kind, sum(p is not None for p in scored)


def share_row(name: str, removed: Counter, total: Counter, kinds: list[str]) -> Row:
    gone, of = sum(removed[k] for k in kinds), sum(total[k] for k in kinds)
    return Row(name, "% caught", single(100 * gone / of), note=f"{gone} of {of}")


def run(args: argparse.Namespace) -> Section:
    data = Path(args.data_dir)
    corpus = load_corpus(data / "pretrain")
    with tempfile.TemporaryDirectory() as tmp:
        kenlm = Path(args.kenlm) if args.kenlm else make_kenlm(data, Path(tmp))
        settings, by_lang_kind, scored = removals(corpus, kenlm, args.percentiles, args.safety_threshold)
    total = Counter(kind for kind, _, _ in corpus)
    rows, matrix = [], {}
    for name, removed in settings.items():
        counts = Counter(kind for (kind, _, _), gone in zip(corpus, removed, strict=True) if gone)
        matrix[name] = dict(counts)
        targets = TARGETS[name.split()[0]]
        others = sorted(set(total) - {"clean", *targets})
        rows += [
            *(share_row(f"{name}: {kind} (should go)", counts, total, [kind]) for kind in targets),
            share_row(f"{name}: clean documents (should stay)", counts, total, ["clean"]),
            share_row(f"{name}: other planted kinds (not its job)", counts, total, others),
        ]
    quantiles = {f"{lang}/{kind}": [float(np.percentile(v, q)) for q in (10, 50, 90, 100)]
                 for (lang, kind), v in sorted(by_lang_kind.items())}  # fmt: skip
    medians = ", ".join(f"{key} {values[1]:.1f}" for key, values in quantiles.items() if key.startswith("zh/"))
    return Section(
        key="lm_safety_filters",
        title="Perplexity and safety filters on the planted defects",
        baseline="None: a quality report of the project's own filters, not a race (no other filter is run).",
        matched_work=f"Every setting sees the same {len(corpus)} raw documents of the embedded corpus; the "
        f"perplexity settings use the KenLM models and held-out thresholds (percentiles {args.percentiles}) of the "
        f"tiny pipeline, the safety settings the shipped demo fastText classifier at threshold "
        f"{args.safety_threshold}.",
        check=f"{scored} of {len(corpus)} documents had a KenLM model for their language and were scored (the rest "
        "are never removed by perplexity); every document of planted.jsonl is in raw.jsonl.",
        rows=rows,
        notes=[
            "Caught: removed by a perplexity setting or by safety in document mode; in paragraph mode, the document "
            "lost at least one paragraph (the whole document only when every paragraph was unsafe).",
            "Other planted kinds: duplicates (dedup's job), figure-only variants (kept), whitespace, half-width "
            "punctuation, repeated symbols and traditional text (repaired by normalization), and for safety also "
            "noise; they are filtered as generated (only traditional text converted), not after normalization.",
            f"Median KenLM perplexity (zh): {medians}.",
        ],
        details={"documents": dict(total), "removed": matrix, "perplexity_p10_p50_p90_max": quantiles},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", required=True, help="Embedded data folder (pretrain/raw.jsonl, planted.jsonl).")
    parser.add_argument("--kenlm", help="recipes/train_kenlm.py output folder (default: made by the tiny pipeline).")
    parser.add_argument("--percentiles", type=float, nargs="+", default=[95, 99, 100])
    parser.add_argument("--safety_threshold", type=float, default=0.5)
    bench_main(parser, run)


if __name__ == "__main__":
    main()
