"""Reference-based metrics for Chinese QA/KBQA answers: BLEU, ROUGE-1/2/L, MRR and MAP.

- BLEU: sacrebleu's corpus BLEU (0–100) with its `zh` tokenizer, which splits every CJK character; the
  default `13a` tokenizer sees an unsegmented Chinese sentence as one word and scores it 0.
- ROUGE: rouge-score's F-measures (0–1, mean over examples) with our tokenizer, because its default one
  keeps only `[a-z0-9]` and drops Chinese entirely. Tokens are jieba words or single characters;
  whitespace and punctuation tokens are dropped, as rouge-score's own tokenizer drops punctuation.
- MRR / MAP over ranked candidate lists (retrieval hits, KBQA answer candidates) with exact-match
  relevance. These are a few lines of arithmetic with no well-kept library doing exactly this on string
  lists, so they are written here: reciprocal rank of the first relevant candidate (0 if none); average
  precision = sum of precision@k at each relevant hit / number of relevant items (TREC's definition: a
  relevant item never retrieved counts as a miss).
Never `evaluate.load(...)`: it downloads metric scripts from the Hub and fails offline.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence

import jieba
import sacrebleu
from rouge_score import rouge_scorer

jieba.setLogLevel(logging.WARNING)

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0–100) of predictions against one reference each, CJK-character tokenized."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    return sacrebleu.corpus_bleu(list(predictions), [list(references)], tokenize="zh").score


def _is_content(token: str) -> bool:
    return any(not unicodedata.category(char).startswith(("P", "Z", "C")) for char in token)


class ChineseTokenizer:
    """rouge-score tokenizer: jieba words (`mode="jieba"`) or characters (`mode="char"`), lower-cased,
    whitespace and punctuation dropped."""

    def __init__(self, mode: str = "jieba"):
        if mode not in {"jieba", "char"}:
            raise ValueError(f"ROUGE tokenizer must be 'jieba' or 'char', got {mode!r}")
        self.mode = mode

    def tokenize(self, text: str) -> list[str]:
        tokens = jieba.lcut(text.lower()) if self.mode == "jieba" else list(text.lower())
        return [token for token in tokens if _is_content(token)]


def rouge(predictions: Sequence[str], references: Sequence[str], tokenizer: str = "jieba") -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measure (0–1) over examples."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        return dict.fromkeys(ROUGE_TYPES, 0.0)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=ChineseTokenizer(tokenizer))
    scores = [scorer.score(target=r, prediction=p) for p, r in zip(predictions, references, strict=True)]
    return {name: sum(s[name].fmeasure for s in scores) / len(scores) for name in ROUGE_TYPES}


def reciprocal_rank(ranked: Sequence[str], relevant: set[str]) -> float:
    for rank, candidate in enumerate(ranked, start=1):
        if candidate in relevant:
            return 1.0 / rank
    return 0.0


def average_precision(ranked: Sequence[str], relevant: set[str]) -> float:
    if not relevant:
        raise ValueError("average precision needs at least one relevant item")
    hits, precision_sum, seen = 0, 0.0, set()
    for rank, candidate in enumerate(ranked, start=1):
        if candidate in relevant and candidate not in seen:  # a repeated hit is not a new relevant item
            seen.add(candidate)
            hits += 1
            precision_sum += hits / rank
    return precision_sum / len(relevant)


def ranking_metrics(rankings: Sequence[Sequence[str]], relevant: Sequence[set[str]]) -> dict[str, float]:
    """MRR and MAP over queries; `rankings[i]` is best first, `relevant[i]` the correct answers of query i."""
    if len(rankings) != len(relevant):
        raise ValueError(f"{len(rankings)} rankings but {len(relevant)} relevance sets")
    n = len(rankings)
    if n == 0:
        return {"mrr": 0.0, "map": 0.0, "num_queries": 0}
    return {
        "mrr": sum(reciprocal_rank(r, g) for r, g in zip(rankings, relevant, strict=True)) / n,
        "map": sum(average_precision(r, g) for r, g in zip(rankings, relevant, strict=True)) / n,
        "num_queries": n,
    }


def generation_metrics(predictions: Sequence[str], references: Sequence[str], tokenizer: str = "jieba") -> dict:
    """BLEU (0–100) and ROUGE-1/2/L F (0–1) of a set of answers."""
    return {
        "bleu": corpus_bleu(predictions, references),
        **rouge(predictions, references, tokenizer),
        "num_examples": len(predictions),
    }
