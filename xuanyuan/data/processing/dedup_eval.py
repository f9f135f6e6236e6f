"""Ground truth for near-dedup quality: a generated corpus with planted near-duplicates, exact pairwise
Jaccard over the same shingles MinHash uses, and removal precision/recall against the true components.

Scoring: the true duplicate graph joins documents with Jaccard ≥ threshold; ideally each connected component
keeps exactly one document. For a component with k kept of n, min(n - k, n - 1) removals are correct, one
is wrong if k = 0 (the whole component was lost, which includes a singleton being removed) and k - 1 copies
were missed. precision = correct / removed, recall = correct / Σ(n - 1).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass

from xuanyuan.data.processing.dedup import DedupConfig, component_roots, jaccard, shingles

_HAN = [chr(code) for code in range(0x4E00, 0x4E00 + 2500)]


@dataclass(frozen=True)
class PlantedDoc:
    id: str
    text: str
    kind: str  # original | near_duplicate | numeric_variant
    source: str | None = None


def _sentence(rng: random.Random) -> str:
    return "".join(rng.choices(_HAN, k=rng.randint(12, 30))) + rng.choice("，。；")


def _mutate(rng: random.Random, text: str, rate: float) -> str:
    chars = list(text)
    for index in rng.sample(range(len(chars)), k=round(rate * len(chars))):
        chars[index] = rng.choice(_HAN)
    return "".join(chars)


def _report(rng: random.Random, company: str) -> str:
    figures = [f"{rng.uniform(1, 999):.1f}" for _ in range(8)]
    return (
        f"{company}公布经营数据。当月实现营业收入{figures[0]}亿元，同比增长{figures[1]}%；实现净利润{figures[2]}亿元，"
        f"同比增长{figures[3]}%；毛利率为{figures[4]}%。总资产{figures[5]}亿元，负债率{figures[6]}%，"
        f"每股收益{figures[7]}元。上述数据未经审计，最终以定期报告为准。"
    )


def planted_corpus(num_docs: int = 1000, seed: int = 0, dup_share: float = 0.3, numeric_share: float = 0.1):
    """Originals of 8–16 random-Han sentences; near-duplicates made by substituting 0–8% of a source's
    characters (Jaccard spread from about 0.5 to 1, so some fall on either side of 0.7); finance reports
    that differ only in their figures."""
    rng = random.Random(seed)
    docs: list[PlantedDoc] = []
    while len(docs) < num_docs:
        roll = rng.random()
        originals = [doc for doc in docs if doc.kind == "original"]
        if roll < dup_share and originals:
            source = rng.choice(originals)
            text = _mutate(rng, source.text, rng.uniform(0.0, 0.08))
            docs.append(PlantedDoc(f"doc-{len(docs):06d}", text, "near_duplicate", source.id))
        elif roll < dup_share + numeric_share:
            company = "".join(rng.choices(_HAN, k=4))
            first = PlantedDoc(f"doc-{len(docs):06d}", _report(rng, company), "report")
            docs.append(first)
            docs.append(PlantedDoc(f"doc-{len(docs):06d}", _report(rng, company), "numeric_variant", first.id))
        else:
            text = "".join(_sentence(rng) for _ in range(rng.randint(8, 16)))
            docs.append(PlantedDoc(f"doc-{len(docs):06d}", text, "original"))
    return docs[:num_docs]


def true_duplicate_edges(texts: dict[str, str], config: DedupConfig) -> dict[tuple[str, str], float]:
    """Every pair with exact shingle Jaccard ≥ threshold. Pairs sharing no shingle have Jaccard 0, so only
    pairs found through an inverted shingle index are compared — every one of them exactly."""
    sets = {doc_id: shingles(text, config) for doc_id, text in texts.items()}
    index = defaultdict(set)
    for doc_id, items in sets.items():
        for item in items:
            index[item].add(doc_id)
    candidates = set()
    for holders in index.values():
        if 1 < len(holders) < 1000:
            ordered = sorted(holders)
            candidates.update((a, b) for i, a in enumerate(ordered) for b in ordered[i + 1 :])
    similarities = {(a, b): jaccard(sets[a], sets[b]) for a, b in candidates}
    return {pair: value for pair, value in similarities.items() if value >= config.dedup_threshold}


def components(ids: list[str], edges) -> list[list[str]]:
    roots, groups = component_roots(edges), defaultdict(list)
    for doc_id in ids:
        groups[roots.get(doc_id, doc_id)].append(doc_id)
    return list(groups.values())


def removal_scores(ids: list[str], edges, kept: set[str]) -> dict[str, float]:
    """Precision and recall of the removed documents against the true components (see module docstring)."""
    correct = wrong = missed = expected = 0
    for group in components(ids, edges):
        n, k = len(group), sum(doc_id in kept for doc_id in group)
        correct += min(n - k, n - 1)
        wrong += 1 if k == 0 else 0
        missed += max(k - 1, 0)
        expected += n - 1
    removed = correct + wrong
    return {
        "precision": correct / removed if removed else 1.0,
        "recall": correct / expected if expected else 1.0,
        "removed": removed,
        "should_remove": expected,
        "wrongly_removed": wrong,
        "missed": missed,
    }
