"""Per-subject / per-category / overall arithmetic on hand-made results, the report files, and the entry point."""

import json
import sys

import pytest
import torch

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
from xuanyuan.data.embedded import EmbeddedDataConfig, generate_embedded_data
from xuanyuan.evaluation.mc_data import MCQuestion, MCSubject
from xuanyuan.evaluation.mc_eval import main
from xuanyuan.evaluation.mc_report import QuestionResult, question_results, summarize, write_report
from xuanyuan.evaluation.mc_requests import MCRequest
from xuanyuan.tokenization import load_tokenizer

CMMLU_ORDER = ("STEM", "Humanities", "Social Science", "Other", "China specific")


def subject(name, categories, n):
    questions = [MCQuestion(str(i), "q", ("a", "b", "c", "d"), "A") for i in range(n)]
    return MCSubject(name, name + "_zh", categories, [], questions)


def results_for(name, n, n_correct):
    return [
        QuestionResult(
            name, str(i), "A" if i < n_correct else "B", "A", dict.fromkeys("ABCD", 0.25), [0.0] * 4, 5, False
        )
        for i in range(n)
    ]


SUBJECTS = [
    subject("s1", ("STEM",), 4),
    subject("s2", ("STEM", "China specific"), 2),
    subject("s3", ("Humanities",), 5),
]
RESULTS = results_for("s3", 5, 5) + results_for("s1", 4, 3) + results_for("s2", 2, 0)


def test_subject_category_and_overall_arithmetic():
    summary = summarize(RESULTS, SUBJECTS, CMMLU_ORDER)
    assert {name: row["accuracy"] for name, row in summary["subjects"].items()} == {"s1": 0.75, "s2": 0.0, "s3": 1.0}
    assert list(summary["categories"]) == ["STEM", "Humanities", "China specific"]
    stem = summary["categories"]["STEM"]
    # P(X >= 3), X ~ Bin(6, 1/4) = (20*27 + 15*9 + 6*3 + 1) / 4**6 = 694 / 4096
    assert stem == {"accuracy": 0.375, "question_accuracy": 0.5, "num_subjects": 2, "num_questions": 6,
                    "p_value_vs_chance": pytest.approx(694 / 4096)}  # fmt: skip
    assert summary["categories"]["China specific"]["accuracy"] == 0.0
    assert summary["categories"]["China specific"]["p_value_vs_chance"] == pytest.approx(1.0)
    overall = summary["overall"]
    assert overall["accuracy"] == pytest.approx((0.75 + 0.0 + 1.0) / 3)
    assert overall["question_accuracy"] == pytest.approx(8 / 11)
    assert overall["num_questions"] == 11


def test_a_missing_question_is_an_error_not_a_smaller_denominator():
    with pytest.raises(ValueError, match="s1: 3 results for 4 questions"):
        summarize(results_for("s3", 5, 5) + results_for("s1", 3, 3) + results_for("s2", 2, 0), SUBJECTS)


def test_question_results_take_the_argmax_and_a_softmax():
    question = MCQuestion("q7", "?", ("a", "b", "c", "d"), "C")
    request = MCRequest(question, [1, 2], [[35], [36], [37], [38]], [1] * 4, num_shots=3)
    (result,) = question_results("s", [request], torch.tensor([[0.0, 1.0, 2.0, float(torch.log(torch.tensor(2.0)))]]))
    assert (result.id, result.prediction, result.answer, result.correct, result.num_shots) == ("q7", "C", "C", True, 3)
    e = torch.tensor([1.0, 2.718281828, 7.389056099, 2.0])
    assert result.probabilities == pytest.approx(dict(zip("ABCD", (e / e.sum()).tolist(), strict=True)), abs=1e-6)


def test_report_files(tmp_path):
    settings = {"benchmark": "cmmlu", "model": "m", "split": "test", "num_fewshot": 5, "scoring": "letter",
                "scoring_description": "d", "chat_template": False}  # fmt: skip
    report = {"settings": settings, **summarize(RESULTS, SUBJECTS, CMMLU_ORDER)}
    paths = write_report(report, RESULTS, tmp_path)
    saved = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert len(saved["questions"]) == 11 and saved["questions"][0]["prediction"] == "A"
    assert saved["overall"] == report["overall"]
    markdown = paths["markdown"].read_text(encoding="utf-8")
    assert "| STEM | 0.3750 | 0.5000 | 2 | 6 |" in markdown
    assert "| s1 | s1_zh | STEM | 0.7500 | 3 / 4 |" in markdown
    for chart in ("categories", "subjects"):
        assert paths[chart].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ceval_entry_point_on_the_embedded_exam(tmp_path, monkeypatch):
    """`eval/ceval.py` (main with the benchmark preset) on the generated exam: every val question scored."""
    config = EmbeddedDataConfig(output_dir=str(tmp_path / "data"), n_companies=16, n_concepts=24, docs_per_company=2,
                                english_docs_per_company=1, docs_per_concept=1, n_exercise_docs=10, exam_val_size=6,
                                exam_test_size=6, sft_size=40, n_preference_pairs=20, n_ranked=4, n_rl_prompts=10,
                                n_digest_docs=10)  # fmt: skip
    generate_embedded_data(config)
    tokenizer = load_tokenizer()
    torch.manual_seed(0)
    model_config = XuanYuanConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                  num_attention_heads=2, max_position_embeddings=1024)  # fmt: skip
    XuanYuanForCausalLM(model_config).save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    exam = tmp_path / "data" / "exam"
    argv = ["ceval.py", "--model", str(tmp_path / "model"), "--data_dir", str(exam), "--split", "val",
            "--num_fewshot", "5", "--scoring", "cloze", "--batch_size", "3",
            "--output_dir", str(tmp_path / "out")]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    report = main(benchmark="ceval")
    saved = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    n_val = sum(1 for line in (exam / "answers.jsonl").read_text().splitlines() if '"split": "val"' in line)
    assert len(saved["questions"]) == n_val == report["overall"]["num_questions"]
    assert saved["settings"]["scoring"] == "cloze" and saved["settings"]["benchmark"] == "ceval"
    mapping = json.loads((exam / "subject_mapping.json").read_text(encoding="utf-8"))
    assert set(saved["subjects"]) == set(mapping)
    assert all(q["num_shots"] == 5 and len(q["probabilities"]) == 4 for q in saved["questions"])
