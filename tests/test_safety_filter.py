"""Safety filter: classifier training, document and paragraph modes, the transformers backend, errors."""

from __future__ import annotations

import json

import pytest
import torch
from datatrove.data import Document
from script_loading import load_script

from xuanyuan.data.embedded.safety_examples import safety_examples
from xuanyuan.data.processing.safety import (
    DEMO_CLASSIFIER,
    SafetyFilter,
    SafetyFilterConfig,
    fasttext_input,
)
from xuanyuan.data.processing.safety_training import read_labelled
from xuanyuan.data.records import RecordError

pytest.importorskip("fasttext", reason="fastText is missing: pip install -e '.[fasttext]'")

SAFE_1 = "恒信银行公布年度报告，全年营业收入同比增长8.2%。"
SAFE_2 = "债券价格与市场利率反向变动。"
UNSAFE = "【网赌】网络赌场稳定出款，首充即返500元，加微信12345678。"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    root = tmp_path_factory.mktemp("safety")
    lines = [f"__label__{label} {text}\n" for label, text in safety_examples(1200, seed=7)]
    (root / "labelled.txt").write_text("".join(lines), encoding="utf-8")
    recipe = load_script("recipes/train_safety_classifier.py")
    metrics = recipe.main(recipe.TrainSafetyConfig(data_files=[str(root / "labelled.txt")], output_dir=str(root)))
    return root / "safety_classifier.bin", metrics


def test_training_reports_heldout_precision_recall(classifier):
    path, metrics = classifier
    assert path.is_file() and json.loads((path.parent / "metrics.json").read_text())["model"] == str(path)
    validation = metrics["validation"]
    assert validation["examples"] + metrics["training_examples"] == 1200
    assert validation["precision"] > 0.9 and validation["recall"] > 0.9


def test_fasttext_input_is_one_token_per_chinese_character():
    assert fasttext_input("加微信 Bonus!\n8888") == "加 微 信 bonus ! 0000"


def test_document_mode_drops_unsafe_documents(classifier):
    block = SafetyFilter(SafetyFilterConfig(enabled=True, model_path=str(classifier[0])))
    docs = [Document(text=SAFE_1, id="safe"), Document(text=UNSAFE, id="unsafe")]
    assert [d.id for d in block.run(iter(docs))] == ["safe"]
    assert docs[1].metadata["unsafe_score"] >= 0.5 > docs[0].metadata["unsafe_score"]
    assert block.stats.to_dict()["stats"]["dropped_unsafe"] == 1


def test_paragraph_mode_cuts_unsafe_lines_and_drops_documents_with_nothing_left(classifier):
    block = SafetyFilter(SafetyFilterConfig(enabled=True, model_path=str(classifier[0]), mode="paragraph"))
    mixed = Document(text=f"{SAFE_1}\n{UNSAFE}\n\n{SAFE_2}", id="mixed")
    only_unsafe = Document(text=f"{UNSAFE}\n{UNSAFE}", id="only-unsafe")
    clean = Document(text=f"{SAFE_1}\n\n{SAFE_2}\n", id="clean")
    kept = list(block.run(iter([mixed, only_unsafe, clean])))
    assert [d.id for d in kept] == ["mixed", "clean"]
    assert mixed.text == f"{SAFE_1}\n{SAFE_2}" and mixed.metadata["unsafe_paragraphs_removed"] == 1
    assert clean.text == f"{SAFE_1}\n\n{SAFE_2}\n"  # untouched
    stats = block.stats.to_dict()["stats"]
    assert stats["dropped_unsafe_paragraphs"] == 1 and stats["unsafe_paragraphs"]["total"] == 3


def test_threshold_bounds(classifier):
    docs = [Document(text=SAFE_1, id="safe"), Document(text=UNSAFE, id="unsafe")]
    block = SafetyFilter(SafetyFilterConfig(model_path=str(classifier[0]), threshold=0.0))
    assert list(block.run(iter(docs))) == []


def test_shipped_demo_classifier_is_small_and_separates_crafted_lines():
    assert DEMO_CLASSIFIER.is_file() and DEMO_CLASSIFIER.stat().st_size < 1_000_000
    block = SafetyFilter(SafetyFilterConfig())
    lines = [
        "兄弟们，足球私彩今晚开盘，私信我拿链接。",
        "Online bookmaker bonus, message me for the link.",
        "央行下调存款准备金率0.25个百分点。",
        "The insurer reported higher premiums for the quarter.",
    ]
    scores = block.classifier.unsafe_probabilities(lines)
    assert [s >= 0.5 for s in scores] == [True, True, False, False]


def test_missing_model_files_are_named(tmp_path):
    missing = tmp_path / "nope.bin"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        SafetyFilter(SafetyFilterConfig(model_path=str(missing)))
    with pytest.raises(FileNotFoundError, match=str(missing)):
        SafetyFilter(SafetyFilterConfig(backend="transformers", model_path=str(missing)))


def test_labelled_line_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("__label__safe fine\nno label here\n", encoding="utf-8")
    with pytest.raises(RecordError, match=f"{path}, line 2: expected '__label__<name> <text>'"):
        read_labelled([path])
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"label": "safe", "text": "ok"}\n{"label": "unsafe"}\n', encoding="utf-8")
    with pytest.raises(RecordError, match="line 2, field 'text'"):
        read_labelled([jsonl])


def test_config_rejects_bad_values():
    for kwargs in ({"backend": "regex"}, {"mode": "sentence"}, {"threshold": 1.5}):
        with pytest.raises(ValueError):
            SafetyFilterConfig(**kwargs)


def test_transformers_backend_uses_the_models_own_unsafe_probability(tmp_path):
    from xuanyuan import XuanYuanConfig, XuanYuanForSequenceClassification
    from xuanyuan.tokenization import load_tokenizer

    torch.manual_seed(0)
    tokenizer = load_tokenizer()
    config = XuanYuanConfig(
        vocab_size=-(-len(tokenizer) // 128) * 128, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
        num_attention_heads=4, num_key_value_heads=4, num_labels=2, id2label={0: "safe", 1: "unsafe"},
        label2id={"safe": 0, "unsafe": 1}, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    model = XuanYuanForSequenceClassification(config).eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    texts = [SAFE_1, UNSAFE, SAFE_2]
    with torch.no_grad():
        expected = [model(**tokenizer(t, return_tensors="pt")).logits.softmax(-1)[0, 1].item() for t in texts]
    cut = sorted(expected)[1]  # the middle score: exactly the two texts at or above it go
    block = SafetyFilter(SafetyFilterConfig(backend="transformers", model_path=str(tmp_path), threshold=cut))
    assert block.classifier.unsafe_probabilities(texts) == pytest.approx(expected, abs=1e-5)
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    assert [d.id for d in block.run(iter(docs))] == [str(i) for i, e in enumerate(expected) if e < cut]
