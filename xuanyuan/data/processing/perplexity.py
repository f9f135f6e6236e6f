"""CCNet-style perplexity filter: drop documents a language model of clean text finds too surprising.

Documents are routed by `doc.metadata["lang"]`; each language has its own model and its own
threshold, the `percentile`-th percentile of the perplexities of held-out clean reference documents
(`thresholds.json`, written by `recipes/train_kenlm.py` for KenLM and `recipes/perplexity_thresholds.py` for a
Hugging Face model). A language without a threshold passes.

Backends: `kenlm` scores with per-language n-gram models (`{lang}.bin` or `{lang}.arpa` in
`model_dir`) on `lm_tokens` (characters for Chinese, lower-cased words for English); `hf` scores
with a Hugging Face causal LM (token perplexity of `<s> text </s>`, one model for every language).
datatrove ships KenLM helpers too, but they download CCNet's models from the Hub and segment text
their own way, so this block is written here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from xuanyuan.data.records import load_records, require_text
from xuanyuan.utils.extras import require

from .lm_tokens import lm_sentences

BACKENDS = ("kenlm", "hf")
THRESHOLDS_FILE = "thresholds.json"


@dataclass
class PerplexityFilterConfig:
    enabled: bool = field(default=False, metadata={"help": "Run the perplexity filter."})
    backend: str = field(default="kenlm", metadata={"help": "Scorer: kenlm (n-gram models) or hf (causal LM)."})
    model_dir: str | None = field(
        default=None,
        metadata={"help": f"Folder with {THRESHOLDS_FILE} and, for kenlm, one {{lang}}.bin/.arpa per language."},
    )
    hf_model: str | None = field(default=None, metadata={"help": "Causal LM folder or Hub id (backend hf)."})
    percentile: float = field(
        default=99.0, metadata={"help": "Per language, drop documents above this percentile of the reference."}
    )
    max_length: int = field(default=1024, metadata={"help": "hf: window length in tokens."})
    batch_size: int = field(default=8, metadata={"help": "hf: windows per forward pass."})

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"perplexity backend must be one of {BACKENDS}, got {self.backend!r}")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {self.percentile}")
        if self.backend == "hf" and self.enabled and not self.hf_model:
            raise ValueError("the hf perplexity backend needs `hf_model`")


def percentile_key(percentile: float) -> str:
    """The key of a percentile in thresholds.json: 99 -> "99", 99.5 -> "99.5"."""
    return f"{percentile:g}"


def reference_statistics(perplexities: dict[str, list[float]], percentiles: Iterable[float]) -> dict:
    """Per language: document count, mean and the requested percentiles (linear interpolation)."""
    return {
        lang: {
            "documents": len(values),
            "mean": float(np.mean(values)),
            "percentiles": {percentile_key(p): float(np.percentile(values, p)) for p in percentiles},
        }
        for lang, values in sorted(perplexities.items())
    }


def read_reference(paths: Iterable[str | Path]) -> list[tuple[str, str]]:
    """(text, lang) of every record of the reference JSONL files; RecordError names a bad record."""
    return load_records(list(paths), lambda r: (require_text(r, "text"), require_text(r, "lang")))[0]


def score_documents(scorer: KenLMScorer | HFScorer, documents: Iterable[tuple[str, str]]) -> dict[str, list[float]]:
    """Perplexities of (text, lang) documents, grouped by language (documents with no tokens skipped)."""
    grouped: dict[str, list[float]] = {}
    for text, lang in documents:
        if (perplexity := scorer.perplexity(text, lang)) is not None:
            grouped.setdefault(lang, []).append(perplexity)
    return grouped


def reference_thresholds(
    scorer: KenLMScorer | HFScorer, documents: Iterable[tuple[str, str]], percentiles: Iterable[float]
) -> dict:
    """Per-language statistics (and thresholds: the `percentiles`) of the reference documents' perplexities;
    ValueError when a language has no scorable document (its threshold would be missing)."""
    documents = list(documents)
    perplexities = score_documents(scorer, documents)
    if missing := sorted({lang for _, lang in documents} - set(perplexities)):
        raise ValueError(f"no scorable reference document for {missing}: every one was empty after tokenization")
    return reference_statistics(perplexities, percentiles)


def write_thresholds(model_dir: str | Path, backend: str, languages: dict, **details) -> Path:
    Path(model_dir).mkdir(parents=True, exist_ok=True)
    path = Path(model_dir, THRESHOLDS_FILE)
    payload = {"backend": backend, **details, "languages": languages}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_thresholds(model_dir: str | Path, backend: str, percentile: float) -> dict[str, float]:
    """Per-language maximum perplexity at `percentile`, from `model_dir/thresholds.json`."""
    path = Path(model_dir, THRESHOLDS_FILE)
    if not path.is_file():
        raise FileNotFoundError(
            f"perplexity thresholds not found: {path} (write them with recipes/train_kenlm.py for kenlm, "
            "recipes/perplexity_thresholds.py for hf)"
        )
    payload = json.loads(path.read_text(encoding="utf-8"))
    if payload.get("backend") != backend:
        raise ValueError(f"{path} holds thresholds of the {payload.get('backend')!r} backend, not {backend!r}")
    key, thresholds = percentile_key(percentile), {}
    for lang, stats in payload["languages"].items():
        if key not in stats["percentiles"]:
            raise ValueError(f"{path}: no percentile {key} for {lang!r}; available: {sorted(stats['percentiles'])}")
        thresholds[lang] = stats["percentiles"][key]
    return thresholds


def kenlm_model_path(model_dir: str | Path, lang: str) -> Path:
    """`{lang}.bin` if present, else `{lang}.arpa`; FileNotFoundError naming both when neither exists."""
    binary, arpa = Path(model_dir, f"{lang}.bin"), Path(model_dir, f"{lang}.arpa")
    if binary.is_file():
        return binary
    if arpa.is_file():
        return arpa
    raise FileNotFoundError(f"no KenLM model for {lang!r}: neither {binary} nor {arpa} exists")


class KenLMScorer:
    """Document perplexity under per-language KenLM models: every line is a sentence (`<s> … </s>`)."""

    def __init__(self, model_dir: str | Path, languages: Iterable[str]):
        require("kenlm")
        self.paths = {lang: kenlm_model_path(model_dir, lang) for lang in languages}
        self._models = {}  # loaded lazily, in the worker process that scores

    def perplexity(self, text: str, lang: str) -> float | None:
        sentences = lm_sentences(text)
        if not sentences:
            return None
        if lang not in self._models:
            self._models[lang] = require("kenlm").Model(str(self.paths[lang]))
        model = self._models[lang]
        log10_prob = sum(model.score(sentence, bos=True, eos=True) for sentence in sentences)
        predicted = sum(sentence.count(" ") + 2 for sentence in sentences)  # tokens + </s>
        return 10 ** (-log10_prob / predicted)


class HFScorer:
    """Token perplexity of `<s> text </s>` under a causal LM (the same model for every language)."""

    def __init__(self, model: str, max_length: int = 1024, batch_size: int = 8):
        self.model_name, self.max_length, self.batch_size = model, max_length, batch_size
        self._model = self._tokenizer = None

    def perplexity(self, text: str, lang: str) -> float | None:
        import torch
        from transformers import AutoModelForCausalLM

        import xuanyuan  # noqa: F401  (registers the XuanYuan Auto classes)
        from xuanyuan.evaluation.perplexity import summed_nll, token_windows
        from xuanyuan.tokenization import load_tokenizer

        if self._model is None:
            self._model = AutoModelForCausalLM.from_pretrained(self.model_name, dtype=torch.float32).eval()
            self._tokenizer = load_tokenizer(self.model_name)
        windows = token_windows(self._tokenizer, [text], self.max_length)
        if not windows:
            return None
        nll, tokens = summed_nll(self._model, windows, self.batch_size, self._tokenizer.pad_token_id, progress=False)
        return math.exp(nll / tokens)


def make_scorer(config: PerplexityFilterConfig, languages: Iterable[str]) -> KenLMScorer | HFScorer:
    if config.backend == "kenlm":
        return KenLMScorer(config.model_dir, languages)
    return HFScorer(config.hf_model, config.max_length, config.batch_size)


class PerplexityFilter(BaseFilter):
    """Drops a document whose perplexity exceeds its language's threshold (reason `perplexity_{lang}`).

    Every scored document keeps its perplexity in `metadata["perplexity"]`.
    """

    name = "📉 Perplexity"

    def __init__(self, config: PerplexityFilterConfig, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        if not config.model_dir:
            raise ValueError(f"the perplexity filter needs `model_dir` (the folder with {THRESHOLDS_FILE})")
        self.config = config
        self.thresholds = load_thresholds(config.model_dir, config.backend, config.percentile)
        if config.backend == "hf":
            path = Path(config.model_dir, THRESHOLDS_FILE)
            saved = json.loads(path.read_text(encoding="utf-8")).get("max_length", config.max_length)
            if saved != config.max_length:
                raise ValueError(f"{path} was scored with max_length {saved}, the filter uses {config.max_length}")
        self.scorer = make_scorer(config, self.thresholds)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        lang = doc.metadata.get("lang")
        threshold = self.thresholds.get(lang)
        if threshold is None:
            self.stat_update(f"unscored_lang_{lang}")
            return True
        perplexity = self.scorer.perplexity(doc.text, lang)
        if perplexity is None:
            self.stat_update("unscored_empty")
            return True
        doc.metadata["perplexity"] = round(perplexity, 3)
        return perplexity <= threshold or (False, f"perplexity_{lang}")
