"""How the perplexity and safety filters treat the embedded corpus's planted defects vs clean documents.

    python benchmarks/lm_safety_filters.py --data outputs/tiny/data/pretrain --kenlm outputs/tiny/kenlm

Reads `raw.jsonl` and `planted.jsonl` (the generator's record of which document carries which
defect), runs both filters on every document (traditional Chinese first converted with OpenCC
`t2s`, as the pipeline's normalization stage does), and prints per language the perplexity
quantiles of clean and of each planted kind, then how many documents of each kind every filter
setting removes. Writes the same as JSON with `--output`.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import opencc
from datatrove.data import Document

from xuanyuan.data.processing.perplexity import KenLMScorer, load_thresholds
from xuanyuan.data.processing.safety import SafetyFilter, SafetyFilterConfig
from xuanyuan.data.records import iter_records


def load_corpus(data: Path) -> list[tuple[str, str, str]]:
    """(kind, lang, text) of every raw document; kind is `clean` or the planted defect."""
    planted = {r.data["id"]: r.data["kind"] for r in iter_records(data / "planted.jsonl")}
    t2s = opencc.OpenCC("t2s")
    corpus = []
    for record in iter_records(data / "raw.jsonl"):
        kind = planted.get(record.data["id"], "clean")
        text = t2s.convert(record.data["text"]) if kind == "traditional" else record.data["text"]
        corpus.append((kind, record.data["lang"], text))
    return corpus


def main(args: argparse.Namespace) -> dict:
    corpus = load_corpus(Path(args.data))
    kinds = Counter(kind for kind, _, _ in corpus)
    report: dict = {"documents": dict(kinds), "perplexity_quantiles": {}, "removed": {}}

    thresholds = {p: load_thresholds(args.kenlm, "kenlm", p) for p in args.percentiles}
    scorer = KenLMScorer(args.kenlm, thresholds[args.percentiles[0]])
    by_lang_kind = defaultdict(list)
    scored = []
    for kind, lang, text in corpus:
        perplexity = scorer.perplexity(text, lang) if lang in scorer.paths else None
        scored.append(perplexity)
        if perplexity is not None:
            by_lang_kind[lang, kind].append(perplexity)
    print("perplexity quantiles (p10 / p50 / p90 / max) per language and kind")
    for (lang, kind), values in sorted(by_lang_kind.items()):
        q = [float(np.percentile(values, p)) for p in (10, 50, 90, 100)]
        report["perplexity_quantiles"][f"{lang}/{kind}"] = {"n": len(values), "p10_p50_p90_max": q}
        print(f"  {lang} {kind:17s} n={len(values):5d}  " + " / ".join(f"{v:10.2f}" for v in q))

    settings = {}
    for p, limits in thresholds.items():
        languages = [lang for _, lang, _ in corpus]
        settings[f"perplexity p{p:g}"] = [
            ppl is not None and ppl > limits.get(lang, math.inf) for ppl, lang in zip(scored, languages, strict=True)
        ]
    for mode in ("document", "paragraph"):
        safety = SafetyFilter(SafetyFilterConfig(enabled=True, mode=mode, threshold=args.safety_threshold))
        settings[f"safety {mode}"] = [
            safety.filter(Document(text=text, id=str(i))) is not True for i, (_, _, text) in enumerate(corpus)
        ]
    print("\ndocuments removed, by planted kind (of how many)")
    print("  " + " ".join(f"{k[:12]:>12s}" for k in sorted(kinds)) + "   setting")
    print("  " + " ".join(f"{kinds[k]:12d}" for k in sorted(kinds)) + "   (documents)")
    for name, removed in settings.items():
        counts = Counter(kind for (kind, _, _), gone in zip(corpus, removed, strict=True) if gone)
        report["removed"][name] = dict(counts)
        print("  " + " ".join(f"{counts[k]:12d}" for k in sorted(kinds)) + f"   {name}")
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="outputs/tiny/data/pretrain", help="Folder with raw.jsonl, planted.jsonl.")
    parser.add_argument("--kenlm", default="outputs/tiny/kenlm", help="recipes/train_kenlm.py output folder.")
    parser.add_argument("--percentiles", type=float, nargs="+", default=[95, 99, 100])
    parser.add_argument("--safety_threshold", type=float, default=0.5)
    parser.add_argument("--output", help="Also write the report as JSON here.")
    main(parser.parse_args())
