"""Quantization pieces that need no trained model: shape checks, calibration loader, agreement math, card."""

import json
import math
from pathlib import Path

import pytest
import torch

from xuanyuan import XuanYuanConfig
from xuanyuan.data.records import RecordError
from xuanyuan.hub import render_model_card
from xuanyuan.quantization import (
    QuantizationShapeError,
    bnb_config,
    bnb_rule,
    check_linear_shapes,
    gptq_rule,
    load_calibration,
    logit_agreement,
    quantize_gptq,
)
from xuanyuan.quantization.card import quantized_model_card
from xuanyuan.tokenization import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def odd_config():
    return XuanYuanConfig.from_preset("tiny", num_hidden_layers=1, intermediate_size=700)


# --- shapes -------------------------------------------------------------------------------------------------


def test_tiny_preset_fits_every_kernel():
    config = XuanYuanConfig.from_preset("tiny")
    for rule in (gptq_rule(128), gptq_rule(-1), bnb_rule(4), bnb_rule(8)):
        check_linear_shapes(config, rule)


def test_gptq_group_size_that_does_not_divide_names_the_layer():
    with pytest.raises(QuantizationShapeError) as error:
        check_linear_shapes(odd_config(), gptq_rule(128))
    message = str(error.value)
    assert "group_size 128" in message
    assert "model.layers.0.mlp.down_proj: in_features 700 is not a multiple of 128" in message
    assert "gate_proj" not in message  # its in_features (256) is fine; only inputs are grouped
    check_linear_shapes(odd_config(), gptq_rule(-1))  # one group per row fits any width
    with pytest.raises(ValueError, match="group_size"):
        gptq_rule(0)


def test_bnb_4bit_needs_out_features_divisible_by_32():
    with pytest.raises(QuantizationShapeError) as error:
        check_linear_shapes(odd_config(), bnb_rule(4))
    message = str(error.value)
    assert "gate_proj: out_features 700" in message and "up_proj: out_features 700" in message
    assert "down_proj" not in message
    check_linear_shapes(odd_config(), bnb_rule(8))


def test_quantize_gptq_checks_shapes_before_anything_else(tmp_path):
    odd = odd_config()
    odd.save_pretrained(tmp_path / "odd")
    with pytest.raises(QuantizationShapeError, match="down_proj"):
        quantize_gptq(str(tmp_path / "odd"), tmp_path / "out", calibration=[])


def test_bnb_config_fields():
    eight = bnb_config(8)
    assert eight.load_in_8bit and not eight.load_in_4bit and eight.llm_int8_skip_modules == ["lm_head"]
    four = bnb_config(4, quant_type="fp4", double_quant=True)
    assert four.load_in_4bit and four.bnb_4bit_quant_type == "fp4" and four.bnb_4bit_use_double_quant
    assert four.bnb_4bit_compute_dtype == torch.bfloat16
    with pytest.raises(ValueError, match="8 or 4 bits"):
        bnb_config(3)
    with pytest.raises(ValueError, match="quant_type"):
        bnb_config(4, quant_type="int4")


# --- calibration loader -------------------------------------------------------------------------------------


def write_jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    return str(path)


DOC = "资产负债率是负债总额与资产总额的比率，用于衡量企业的偿债能力，数值越高财务风险越大。"
CHAT = [
    {"role": "user", "content": "什么是市盈率？"},
    {"role": "assistant", "content": "市盈率等于股价除以每股收益。"},
]


def test_calibration_reads_text_and_renders_messages(tmp_path, tokenizer):
    path = write_jsonl(tmp_path / "c.jsonl", [{"text": DOC}, {"messages": CHAT}, {"text": DOC * 20}])
    examples = load_calibration(path, tokenizer, num_samples=10, max_length=64, min_length=4)
    assert len(examples) == 3
    assert examples[0]["input_ids"] == tokenizer(DOC)["input_ids"]
    assert examples[0]["input_ids"][0] == tokenizer.bos_token_id
    rendered = tokenizer.apply_chat_template(CHAT, tokenize=False)
    assert rendered.startswith(tokenizer.bos_token) and "Human: 什么是市盈率？" in rendered
    assert examples[1]["input_ids"] == tokenizer(rendered, add_special_tokens=False)["input_ids"]
    assert examples[1]["input_ids"].count(tokenizer.bos_token_id) == 1
    assert len(examples[2]["input_ids"]) == 64  # truncated
    assert all(e["attention_mask"] == [1] * len(e["input_ids"]) for e in examples)


def test_calibration_stops_at_num_samples_and_skips_short_records(tmp_path, tokenizer):
    path = write_jsonl(tmp_path / "c.jsonl", [{"text": "短"}, {"text": DOC}, {"text": DOC + "。"}, {"text": DOC}])
    examples = load_calibration(path, tokenizer, num_samples=2, min_length=8)
    assert [len(e["input_ids"]) for e in examples] == [
        len(tokenizer(DOC)["input_ids"]),
        len(tokenizer(DOC + "。")["input_ids"]),
    ]
    with pytest.raises(ValueError, match="no calibration record has at least 8 tokens"):
        load_calibration(write_jsonl(tmp_path / "short.jsonl", [{"text": "短"}]), tokenizer, min_length=8)


@pytest.mark.parametrize(
    ("bad", "line", "field", "problem"),
    [
        ("{not json", 2, None, "invalid JSON"),
        ({"prompt": DOC}, 2, "text", "no 'messages' field"),
        ({"text": ""}, 2, "text", "non-empty string"),
        ({"messages": "hello"}, 2, "messages", "non-empty list"),
        ({"messages": [CHAT[0], "x"]}, 2, "messages[1]", "expected an object"),
        ({"messages": [CHAT[0], {"role": "assistant", "content": 3}]}, 2, "messages[1].content", "not a string"),
        ({"messages": [{"role": "tool", "content": "x"}]}, 2, "messages", "chat template failed"),
    ],
)
def test_calibration_errors_name_file_line_and_field(tmp_path, tokenizer, bad, line, field, problem):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"text": DOC}, bad])
    with pytest.raises(RecordError) as error:
        load_calibration(path, tokenizer, min_length=1)
    assert (error.value.path, error.value.line, error.value.field) == (path, line, field)
    assert problem in str(error.value) and "bad.jsonl, line 2" in str(error.value)


def test_missing_calibration_file(tmp_path, tokenizer):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        load_calibration(str(tmp_path / "nope.jsonl"), tokenizer)


# --- logit agreement ----------------------------------------------------------------------------------------


def test_logit_agreement_against_hand_computed_values():
    same = logit_agreement(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]))
    assert same["kl_mean"] == 0 and same["relative_l2"] == 0 and same["top1_agreement"] == 1
    # p = softmax(1, 0), q = softmax(1, 2) = reversed p: KL = p1·1 + p2·(−1) = (e − 1)/(e + 1)
    got = logit_agreement(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([[1.0, 2.0], [1.0, 0.0]]))
    e = math.e
    assert got["kl_max"] == pytest.approx((e - 1) / (e + 1))
    assert got["kl_mean"] == pytest.approx((e - 1) / (e + 1) / 2)
    assert got["relative_l2"] == pytest.approx(2 / math.sqrt(2))  # ‖(0,2,0,0)‖ / ‖(1,0,1,0)‖
    assert got["top1_agreement"] == 0.5 and got["num_tokens"] == 2
    with pytest.raises(ValueError):
        logit_agreement(torch.zeros(2, 3), torch.zeros(3, 3))


# --- model card ---------------------------------------------------------------------------------------------


def test_model_card_says_how_it_was_made(tmp_path):
    report = {
        "method": {"library": "gptq", "bits": 4, "group_size": 128},
        "reference": {
            "memory_footprint_bytes": 4e6, "memory_footprint_bf16_bytes": 2e6, "perplexity": {"perplexity": 10.0}
        },
        "quantized": {
            "path": str(tmp_path / "m-4bit"),
            "memory_footprint_bytes": 1e6,
            "perplexity": {"perplexity": 10.2},
            "quantization_config": {"quant_method": "gptq", "bits": 4},
        },
        "size": {
            "weights_bytes": 1.1e6, "fp32_weights_bytes": 4e6, "bf16_weights_bytes": 2e6, "ratio_to_fp32": 0.275,
            "ratio_to_bf16": 0.55, "memory_footprint_ratio_to_fp32": 0.25, "memory_footprint_ratio_to_bf16": 0.5,
        },
        "perplexity_ratio": 1.02,
        "logit_agreement": {
            "kl_mean": 0.01, "kl_max": 0.05, "relative_l2": 0.1, "top1_agreement": 0.9, "num_tokens": 50
        },
    }  # fmt: skip
    command = "python quantize/gptq.py --model someone/XuanYuan-Chat"
    card = render_model_card(quantized_model_card(report, "someone/XuanYuan-Chat", command))
    front_matter = card.split("---\n")[1]
    assert (
        "base_model: someone/XuanYuan-Chat" in front_matter and "- gptq" in front_matter and "- 4-bit" in front_matter
    )
    assert "python quantize/gptq.py --model someone/XuanYuan-Chat" in card
    assert "| held-out perplexity | 10.000 | 10.200 | 1.0200 |" in card
    assert "0.275× fp32" in card and '"quant_method": "gptq"' in card and "gptqmodel==7.6.0" in card
    local = render_model_card(quantized_model_card(report, str(tmp_path), "python quantize/gptq.py"))
    assert "base_model" not in local.split("---\n")[1]  # a local folder is no Hub id


def test_quantization_exam_is_scored_like_the_exam_stage():
    """The main job's quantization reports and its exam stages score the same model the same way."""
    import shlex

    import yaml

    from xuanyuan.evaluation import MCEvalConfig
    from xuanyuan.quantization import ReportSettings

    exam, report = MCEvalConfig(model="m", output_dir="o"), ReportSettings()
    assert (report.exam_num_fewshot, report.exam_scoring) == (exam.num_fewshot, exam.scoring)

    def flags(command: str) -> dict:
        argv = shlex.split(command)
        return {argv[i].lstrip("-"): argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}

    pipeline_file = Path(__file__).resolve().parents[1] / "recipes" / "tiny" / "pipeline.yaml"
    pipeline = yaml.safe_load(pipeline_file.read_text(encoding="utf-8"))
    stages = {stage["name"]: flags(stage["command"]) for stage in pipeline["stages"]}
    exam_stage = stages["exam_ppo_blank"]
    for name in ("quantize_8bit", "quantize_4bit", "quantize_gptq_4bit"):
        quant = stages[name]
        assert quant["model"] == exam_stage["model"]
        assert quant.get("exam_scoring", report.exam_scoring) == exam_stage["scoring"]
        assert int(quant.get("exam_num_fewshot", report.exam_num_fewshot)) == int(exam_stage["num_fewshot"])
        assert quant.get("exam_split", report.exam_split) == exam_stage["split"]
        assert quant["exam_reference_results"] == exam_stage["output_dir"] + "/results.json"


def test_reused_reference_exam_must_match_model_settings_and_age(tmp_path):
    import os

    from xuanyuan.quantization import ReportSettings
    from xuanyuan.quantization.report import reused_exam

    model = tmp_path / "ppo"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    results = tmp_path / "results.json"
    settings = {"model": str(model), "data": "exam", "split": "val", "num_fewshot": 5, "scoring": "blank"}
    results.write_text(json.dumps({"settings": settings, "overall": {"accuracy": 0.5, "num_questions": 8}}))
    report = ReportSettings(exam_dir="exam", exam_scoring="blank", exam_reference_results=str(results))
    assert reused_exam(report, str(model)) == {"accuracy": 0.5, "num_questions": 8, "results": str(results)}
    with pytest.raises(ValueError, match="'scoring': \\('blank', 'letter'\\)"):
        reused_exam(ReportSettings(exam_dir="exam", exam_reference_results=str(results)), str(model))
    os.utime(results, (1, 1))  # scored before the weights were written
    with pytest.raises(ValueError, match="older than the weights"):
        reused_exam(report, str(model))
