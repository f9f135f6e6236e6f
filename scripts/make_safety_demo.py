"""Rebuild the shipped demo safety classifier (xuanyuan/resources/safety/demo_safety.ftz).

    python scripts/make_safety_demo.py

Trains on made-up labelled lines (`xuanyuan.data.embedded.safety_examples`, deterministic for a
seed) and quantizes the model to stay small. A demo for the embedded corpus only: real use needs a
classifier trained on real labelled data.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from xuanyuan.cli import write_result
from xuanyuan.data.embedded.safety_examples import safety_examples
from xuanyuan.data.processing.safety import DEMO_CLASSIFIER, FastTextSafetyClassifier
from xuanyuan.data.processing.safety_training import FastTextParams, precision_recall, train_classifier
from xuanyuan.data.records import split_heldout

PARAMS = FastTextParams(dim=16, epoch=10, lr=0.5, word_ngrams=2, bucket=20_000, quantize=True, cutoff=20_000)


def main(examples: int, seed: int, output: Path) -> dict:
    data = safety_examples(examples, seed)
    validation, training = split_heldout(data, lambda example: example[1], 0.1)
    train_classifier(training, output, PARAMS)
    scores = FastTextSafetyClassifier(output, "unsafe").unsafe_probabilities([text for _, text in validation])
    card = {
        "what": "DEMO safety classifier trained on made-up template lines; not fit for real filtering",
        "rebuild": "python scripts/make_safety_demo.py",
        "examples": examples,
        "seed": seed,
        "params": asdict(PARAMS),
        "validation_at_0.5": precision_recall(
            [score >= 0.5 for score in scores], [label == "unsafe" for label, _ in validation]
        ),
        "size_bytes": output.stat().st_size,
    }
    return write_result(output.parent, output.with_suffix(".json").name, card)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=DEMO_CLASSIFIER)
    args = parser.parse_args()
    main(args.examples, args.seed, args.output)
