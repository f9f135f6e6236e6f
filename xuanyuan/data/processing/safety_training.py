"""Training a fastText safety classifier from labelled lines, with a held-out precision/recall check.

Input files are either fastText lines (`__label__unsafe some text`) or JSONL records with `label` and
`text`. Texts are segmented with `fasttext_input` (the filter's own segmentation) before training.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from xuanyuan.data.records import RecordError, iter_records, read_text, require_text
from xuanyuan.utils.extras import require

from .safety import fasttext_input

LABEL_PREFIX = "__label__"


def read_labelled(paths: Iterable[str | Path]) -> list[tuple[str, str]]:
    """(label, text) pairs from fastText-format text files or JSONL (`.jsonl`) files."""
    examples = []
    for path in paths:
        if str(path).endswith(".jsonl"):
            examples += [(require_text(r, "label"), require_text(r, "text")) for r in iter_records(path)]
            continue
        for number, line in enumerate(read_text(path).splitlines(), start=1):
            if not line.strip():
                continue
            label, _, text = line.strip().partition(" ")
            if not label.startswith(LABEL_PREFIX) or len(label) == len(LABEL_PREFIX) or not text.strip():
                raise RecordError(path, number, None, "expected '__label__<name> <text>'")
            examples.append((label.removeprefix(LABEL_PREFIX), text))
    return examples


@dataclass
class FastTextParams:
    dim: int = 16
    epoch: int = 10
    lr: float = 0.5
    word_ngrams: int = 2
    bucket: int = 200_000
    min_count: int = 1
    seed: int = 0
    quantize: bool = False
    cutoff: int = 0  # quantize: keep only the `cutoff` most important words and n-grams (0: all)


def train_classifier(examples: list[tuple[str, str]], output: str | Path, params: FastTextParams):
    """Train (single-threaded, so a seed gives the same model) and save to `output`; returns the model."""
    fasttext = require("fasttext")
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt") as data:
        data.writelines(f"{LABEL_PREFIX}{label} {fasttext_input(text)}\n" for label, text in examples)
        data.flush()
        model = fasttext.train_supervised(
            input=data.name, dim=params.dim, epoch=params.epoch, lr=params.lr, wordNgrams=params.word_ngrams,
            bucket=params.bucket, minCount=params.min_count, seed=params.seed, thread=1, verbose=0,
        )  # fmt: skip
        if params.quantize:
            model.quantize(input=data.name, qnorm=True, retrain=params.cutoff > 0, cutoff=params.cutoff, thread=1)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    model.save_model(str(output))
    return model


def precision_recall(predicted: list[bool], actual: list[bool]) -> dict[str, float | int]:
    """Precision and recall of the positive class (`unsafe`), with the counts they come from."""
    true_positive = sum(p and a for p, a in zip(predicted, actual, strict=True))
    return {
        "examples": len(actual),
        "positives": sum(actual),
        "predicted_positives": sum(predicted),
        "precision": true_positive / max(sum(predicted), 1),
        "recall": true_positive / max(sum(actual), 1),
    }
