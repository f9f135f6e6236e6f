"""Safety filter: a pluggable classifier scores documents (or their paragraphs) and unsafe text goes.

Backends: `fasttext` (a supervised fastText model, e.g. from `recipes/train_safety_classifier.py`;
without `model_path`, the shipped demo classifier) and `transformers` (any text-classification
model). In `document` mode a document whose unsafe probability reaches `threshold` is dropped; in
`paragraph` mode (a paragraph is a line, split as datatrove's `split_into_parts` does) only unsafe
paragraphs are cut, and a document is dropped when nothing else is left.

datatrove's `FastTextClassifierFilter` hands fastText the raw text, which fastText splits on
whitespace only, so unsegmented Chinese reaches it as a few giant "words"; this block feeds it
`lm_tokens` (one token per Chinese character), the segmentation the classifier was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter
from datatrove.utils.text import SPLIT_TEXT_DOCUMENTS, SPLIT_TEXT_PARAGRAPHS, split_into_parts

from xuanyuan.utils.extras import require

from .lm_tokens import lm_tokens

BACKENDS = ("fasttext", "transformers")
MODES = {"document": SPLIT_TEXT_DOCUMENTS, "paragraph": SPLIT_TEXT_PARAGRAPHS}
DEMO_CLASSIFIER = Path(__file__).resolve().parents[2] / "resources" / "safety" / "demo_safety.ftz"


def fasttext_input(text: str) -> str:
    """A text as the fastText classifier sees it in training and prediction: one line of `lm_tokens`."""
    return " ".join(lm_tokens(text))


@dataclass
class SafetyFilterConfig:
    enabled: bool = field(default=False, metadata={"help": "Run the safety filter."})
    backend: str = field(default="fasttext", metadata={"help": "Classifier: fasttext or transformers."})
    model_path: str | None = field(
        default=None, metadata={"help": "Classifier file/folder (fasttext default: the shipped demo classifier)."}
    )
    threshold: float = field(default=0.5, metadata={"help": "Drop text whose unsafe probability is at least this."})
    mode: str = field(default="document", metadata={"help": "document (drop documents) or paragraph (cut lines)."})
    unsafe_label: str = field(default="unsafe", metadata={"help": "The classifier's label for unsafe text."})
    max_length: int = field(default=512, metadata={"help": "transformers: tokens per text (longer is truncated)."})
    batch_size: int = field(default=16, metadata={"help": "transformers: texts per forward pass."})

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"safety backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.mode not in MODES:
            raise ValueError(f"safety mode must be one of {sorted(MODES)}, got {self.mode!r}")
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"safety threshold must be in [0, 1], got {self.threshold}")


class FastTextSafetyClassifier:
    def __init__(self, model_path: str | Path, unsafe_label: str):
        require("fasttext")
        if not Path(model_path).is_file():
            raise FileNotFoundError(f"fastText safety classifier not found: {model_path}")
        self.model_path, self.label = str(model_path), f"__label__{unsafe_label}"

    @cached_property
    def model(self):
        """Loaded lazily, in the worker process that scores."""
        from fasttext.FastText import _FastText  # the plain constructor; load_model() prints a warning

        model = _FastText(model_path=self.model_path)
        if self.label not in model.labels:
            raise ValueError(f"{self.model_path} has no label {self.label!r}; it has {model.labels}")
        return model

    def unsafe_probabilities(self, texts: Sequence[str]) -> list[float]:
        lines = [fasttext_input(text) for text in texts]
        labels, probabilities = self.model.predict(lines, k=-1)
        return [
            float(dict(zip(names, values, strict=True)).get(self.label, 0.0))
            for names, values in zip(labels, probabilities, strict=True)
        ]


class TransformersSafetyClassifier:
    def __init__(self, model_path: str, unsafe_label: str, max_length: int = 512, batch_size: int = 16):
        looks_local = Path(model_path).is_absolute() or model_path.startswith((".", "~"))
        if looks_local and not Path(model_path).expanduser().exists():
            raise FileNotFoundError(f"safety classifier not found: {model_path}")
        self.model_path, self.label = model_path, unsafe_label
        self.max_length, self.batch_size = max_length, batch_size

    @cached_property
    def pipeline(self):
        from transformers import pipeline

        import xuanyuan  # noqa: F401  (registers the XuanYuan Auto classes)

        classifier = pipeline("text-classification", model=self.model_path, device="cpu")
        labels = list(classifier.model.config.id2label.values())
        if self.label not in labels:
            raise ValueError(f"{self.model_path} has no label {self.label!r}; it has {labels}")
        return classifier

    def unsafe_probabilities(self, texts: Sequence[str]) -> list[float]:
        outputs = self.pipeline(
            list(texts), top_k=None, truncation=True, max_length=self.max_length, batch_size=self.batch_size
        )
        return [float(next(o["score"] for o in scores if o["label"] == self.label)) for scores in outputs]


def make_safety_classifier(config: SafetyFilterConfig) -> FastTextSafetyClassifier | TransformersSafetyClassifier:
    if config.backend == "fasttext":
        return FastTextSafetyClassifier(config.model_path or DEMO_CLASSIFIER, config.unsafe_label)
    if not config.model_path:
        raise ValueError("the transformers safety backend needs `model_path`")
    return TransformersSafetyClassifier(config.model_path, config.unsafe_label, config.max_length, config.batch_size)


class SafetyFilter(BaseFilter):
    """Drops unsafe documents (reason `unsafe`) or cuts unsafe paragraphs (reason `unsafe_paragraphs`
    when none is left). `metadata["unsafe_score"]` holds the document's (or its highest paragraph's) score."""

    name = "🛡 Safety"

    def __init__(self, config: SafetyFilterConfig, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.config = config
        self.classifier = make_safety_classifier(config)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        parts = list(split_into_parts(doc.text, mode=MODES[self.config.mode]))
        scored = [i for i, part in enumerate(parts) if part.strip()]
        scores = dict(zip(scored, self.classifier.unsafe_probabilities([parts[i] for i in scored]), strict=True))
        doc.metadata["unsafe_score"] = round(max(scores.values(), default=0.0), 4)
        unsafe = {i for i, score in scores.items() if score >= self.config.threshold}
        if self.config.mode == "document":
            return not unsafe or (False, "unsafe")
        if not unsafe:
            return True
        self.stat_update("unsafe_paragraphs", value=len(unsafe))
        if len(unsafe) == len(scored):
            return False, "unsafe_paragraphs"
        doc.text = "".join(part for i, part in enumerate(parts) if i not in unsafe).strip()
        doc.metadata["unsafe_paragraphs_removed"] = len(unsafe)
        return True
