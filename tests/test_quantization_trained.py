"""Quantizing a briefly trained tiny model: the size/perplexity targets, checkpoint formats, reload fidelity.

A trained model is needed: on random weights every variant's perplexity is ~the vocabulary size and
the targets would pass meaninglessly. GPTQ tests need the `gptq` extra and are skipped without it.
"""

import csv
import importlib.util
import json

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM

from tests.tiny_trained import train_tiny_model
from xuanyuan.data.embedded import EmbeddedDataConfig, generate_embedded_data
from xuanyuan.quantization import (
    GPTQSettings,
    ReportSettings,
    bnb_config,
    load_calibration,
    quality_report,
    quantize_bnb,
    quantize_gptq,
)
from xuanyuan.quantization.exam import ceval_scorer
from xuanyuan.tokenization import load_tokenizer

pytest.importorskip("bitsandbytes", reason="the `bnb` extra (bitsandbytes) is not installed")
needs_gptq = pytest.mark.skipif(
    importlib.util.find_spec("gptqmodel") is None or importlib.util.find_spec("optimum") is None,
    reason="the `gptq` extra (gptqmodel, optimum) is not installed: pip install -e '.[gptq]'",
)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("quant_data")
    generate_embedded_data(EmbeddedDataConfig(output_dir=str(path)))
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory, data_dir):
    return str(train_tiny_model(data_dir / "pretrain" / "raw.jsonl", tmp_path_factory.mktemp("trained")))


@pytest.fixture(scope="session")
def settings(data_dir):
    return ReportSettings(
        eval_data_files=[str(data_dir / "pretrain" / "heldout.jsonl")], max_eval_documents=40, eval_max_length=256
    )


def report_for(trained, quantized, settings, exam_scorer=None):
    report = quality_report(trained, str(quantized), settings, method={}, exam_scorer=exam_scorer)
    assert report["reference"]["perplexity"]["perplexity"] < 100, "the fixture model did not learn"
    return report


@pytest.fixture(scope="module")
def bnb8(trained, settings, tmp_path_factory):
    path = quantize_bnb(trained, tmp_path_factory.mktemp("bnb8"), bits=8)
    return path, report_for(trained, path, settings)


@pytest.fixture(scope="module")
def bnb4(trained, settings, data_dir, tmp_path_factory):
    path = quantize_bnb(trained, tmp_path_factory.mktemp("bnb4"), bits=4, quant_type="nf4")
    return path, report_for(trained, path, settings, ceval_scorer(str(data_dir / "exam"), "val", 0, "blank"))


def saved_quantization_config(path):
    return json.loads((path / "config.json").read_text())["quantization_config"]


def test_8bit_meets_size_and_perplexity_targets(bnb8):
    path, report = bnb8
    assert report["size"]["ratio_to_fp32"] <= 0.50
    assert report["perplexity_ratio"] <= 1.01
    assert report["size"]["memory_footprint_ratio_to_fp32"] < 0.5
    assert report["logit_agreement"]["top1_agreement"] > 0.9
    config = saved_quantization_config(path)
    assert config["quant_method"] == "bitsandbytes" and config["load_in_8bit"] and not config["load_in_4bit"]


def test_4bit_meets_size_and_perplexity_targets(bnb4):
    path, report = bnb4
    assert report["size"]["ratio_to_fp32"] <= 0.40
    assert report["perplexity_ratio"] <= 1.03
    assert report["size"]["memory_footprint_ratio_to_bf16"] < 0.8
    config = saved_quantization_config(path)
    assert config["load_in_4bit"] and config["bnb_4bit_quant_type"] == "nf4"
    assert config["llm_int8_skip_modules"] == ["lm_head"]


def test_report_scores_the_exam_before_and_after(bnb4, data_dir):
    path, report = bnb4
    questions = sum(len(list(csv.DictReader(p.open(encoding="utf-8")))) for p in (data_dir / "exam/val").glob("*.csv"))
    before, after = report["reference"]["exam"], report["quantized"]["exam"]
    assert before["num_questions"] == after["num_questions"] == questions
    assert report["exam_accuracy_delta"] == pytest.approx(after["accuracy"] - before["accuracy"])
    predictions = json.loads((path / "exam/quantized/results.json").read_text(encoding="utf-8"))
    assert predictions["overall"]["accuracy"] == after["accuracy"]
    assert predictions["settings"]["scoring"] == "blank"


def logits_of(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


@pytest.mark.parametrize(("bits", "quant_type", "double_quant"), [(8, "nf4", False), (4, "fp4", True)])
def test_bnb_save_then_reload_gives_identical_logits(trained, tmp_path, bits, quant_type, double_quant):
    ids = load_tokenizer(trained)("资产负债率是负债总额与资产总额的比率。", return_tensors="pt")["input_ids"]
    config = bnb_config(bits, quant_type, double_quant)
    model = AutoModelForCausalLM.from_pretrained(trained, quantization_config=config, dtype=torch.bfloat16)
    model.save_pretrained(tmp_path)  # before the first forward: see xuanyuan.quantization.bnb
    in_memory = logits_of(model, ids)
    reloaded = logits_of(AutoModelForCausalLM.from_pretrained(tmp_path), ids)
    assert torch.equal(in_memory, reloaded)
    saved = saved_quantization_config(tmp_path)
    if bits == 4:
        assert saved["bnb_4bit_quant_type"] == "fp4" and saved["bnb_4bit_use_double_quant"]


# --- GPTQ ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gptq(trained, settings, data_dir, tmp_path_factory):
    calibration = load_calibration(
        str(data_dir / "pretrain" / "raw.jsonl"), load_tokenizer(trained), num_samples=32, max_length=256
    )
    workdir, output_dir = tmp_path_factory.mktemp("cwd"), tmp_path_factory.mktemp("gptq")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        path = quantize_gptq(trained, output_dir, calibration, GPTQSettings(bits=4, group_size=128))
    assert not list(workdir.iterdir())  # gptqmodel's per-module log is kept beside the checkpoint
    assert list((path / "gptq_logs").glob("*.log"))
    return path, report_for(trained, path, settings)


@needs_gptq
def test_gptq_meets_4bit_targets(gptq):
    _, report = gptq
    assert report["size"]["ratio_to_fp32"] <= 0.40
    assert report["perplexity_ratio"] <= 1.03


@needs_gptq
def test_gptq_checkpoint_is_standard_format(gptq):
    path, _ = gptq
    config = saved_quantization_config(path)
    assert config["quant_method"] == "gptq" and config["checkpoint_format"] == "gptq"
    assert (config["bits"], config["group_size"], config["sym"], config["desc_act"]) == (4, 128, True, False)
    with safe_open(path / "model.safetensors", "pt") as tensors:
        names = set(tensors.keys())
        linear = "model.layers.0.mlp.down_proj"
        assert {f"{linear}.{t}" for t in ("qweight", "qzeros", "scales", "g_idx")} <= names
        assert f"{linear}.weight" not in names and "lm_head.weight" in names
        # no activation reordering: input feature i belongs to group i // 128
        assert torch.equal(tensors.get_tensor(f"{linear}.g_idx"), torch.arange(768, dtype=torch.int32) // 128)


def dequantize_gptq(tensors, prefix: str) -> torch.Tensor:
    """Straightforward unpacking of a GPTQ (v1) linear: `scales[g] * (q - (stored_zero + 1))`, as (out, in)."""
    qweight, qzeros = tensors.get_tensor(f"{prefix}.qweight"), tensors.get_tensor(f"{prefix}.qzeros")
    scales, g_idx = tensors.get_tensor(f"{prefix}.scales").float(), tensors.get_tensor(f"{prefix}.g_idx").long()
    shifts = torch.arange(0, 32, 4, dtype=torch.int32)
    q = ((qweight.unsqueeze(1) >> shifts.view(1, -1, 1)) & 0xF).reshape(-1, qweight.shape[1])  # (in, out)
    zeros = ((qzeros.unsqueeze(2) >> shifts.view(1, 1, -1)) & 0xF).reshape(qzeros.shape[0], -1) + 1  # (groups, out)
    return (scales[g_idx] * (q.float() - zeros[g_idx].float())).T


@needs_gptq
def test_gptq_reload_matches_hand_dequantized_weights(gptq, trained):
    path, _ = gptq
    ids = load_tokenizer(trained)("市盈率等于每股股价除以每股收益。", return_tensors="pt")["input_ids"]
    dense = AutoModelForCausalLM.from_pretrained(trained, dtype=torch.float32)
    packed = ("qweight", "qzeros", "scales", "g_idx")
    with safe_open(path / "model.safetensors", "pt") as tensors:
        state = {k: tensors.get_tensor(k).float() for k in tensors.keys() if not k.endswith(packed)}
        for prefix in {k.rsplit(".", 1)[0] for k in tensors.keys() if k.endswith(".qweight")}:
            assert (tensors.get_tensor(f"{prefix}.qzeros") == 0x77777777).all()  # symmetric: zero point 8
            state[f"{prefix}.weight"] = dequantize_gptq(tensors, prefix)
    dense.load_state_dict(state, strict=True)
    reloaded = AutoModelForCausalLM.from_pretrained(path)
    expected, got = logits_of(dense, ids), logits_of(reloaded, ids)
    assert (got - expected).norm() / expected.norm() < 1e-2
    assert torch.equal(got, logits_of(AutoModelForCausalLM.from_pretrained(path), ids))
