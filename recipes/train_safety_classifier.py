"""Train the safety filter's fastText classifier from labelled lines.

    python recipes/train_safety_classifier.py --data_files labelled.txt --output_dir outputs/safety

Input: fastText lines (`__label__unsafe text`) or JSONL with `label` and `text`. A hashed share of the
examples is held out to report the unsafe class's precision and recall at `threshold`, then the
model is saved as `safety_classifier.bin` (or `.ftz` when quantized) with `metrics.json`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from xuanyuan.data.processing.safety_training import FastTextParams


@dataclass
class TrainSafetyConfig(FastTextParams):
    data_files: list[str] = field(default_factory=list, metadata={"help": "Labelled .txt (fastText) or .jsonl."})
    output_dir: str = field(default="outputs/safety", metadata={"help": "Where the model and metrics go."})
    unsafe_label: str = field(default="unsafe", metadata={"help": "The label of unsafe text."})
    threshold: float = field(default=0.5, metadata={"help": "Unsafe probability that counts as unsafe."})
    validation_fraction: float = field(default=0.1, metadata={"help": "Share held out for precision/recall."})


def main(config: TrainSafetyConfig) -> dict:
    from xuanyuan.cli import write_result
    from xuanyuan.data.processing.safety import FastTextSafetyClassifier
    from xuanyuan.data.processing.safety_training import precision_recall, read_labelled, train_classifier
    from xuanyuan.data.records import split_heldout

    if not config.data_files:
        raise ValueError("give at least one labelled file with --data_files")
    examples = read_labelled(config.data_files)
    labels = {label for label, _ in examples}
    if config.unsafe_label not in labels or len(labels) < 2:
        raise ValueError(f"need {config.unsafe_label!r} and at least one other label, found {sorted(labels)}")
    validation, training = split_heldout(examples, lambda example: example[1], config.validation_fraction)

    params = FastTextParams(**{name: getattr(config, name) for name in FastTextParams.__dataclass_fields__})
    model_path = Path(config.output_dir, "safety_classifier" + (".ftz" if config.quantize else ".bin"))
    train_classifier(training, model_path, params)

    metrics = {"model": str(model_path), "training_examples": len(training), "labels": sorted(labels)}
    if validation:
        scores = FastTextSafetyClassifier(model_path, config.unsafe_label).unsafe_probabilities(
            [text for _, text in validation]
        )
        predicted = [score >= config.threshold for score in scores]
        metrics["validation"] = precision_recall(predicted, [label == config.unsafe_label for label, _ in validation])
    metrics["params"] = asdict(params)
    return write_result(config.output_dir, "metrics.json", metrics)


if __name__ == "__main__":
    from xuanyuan.cli import parse_recipe_args

    (config,) = parse_recipe_args([TrainSafetyConfig])
    main(config)
