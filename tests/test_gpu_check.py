"""benchmarks/gpu_check.py at toy size on CPU: the report's structure and its FLOPs/MFU arithmetic by hand."""

import json

import pytest

from tests.script_loading import load_script
from xuanyuan import XuanYuanConfig
from xuanyuan.scaling.flops import matmul_parameters, mfu, peak_tflops, training_flops_per_token

gpu_check = load_script("benchmarks/gpu_check.py")

# The --smoke model: 1 layer, hidden 64, 4 heads, MLP 128, vocab 512. Matmul parameters of the layer:
# q,k,v,o 4·64·64 = 16384, MLP 3·64·128 = 24576, two norms 128 -> 41088; plus the final norm (64).
LAYER_AND_NORM = 41088 + 64
LM_N = LAYER_AND_NORM + 512 * 64  # + the LM head
SCORE_N = LAYER_AND_NORM + 64  # + the one-label score head
ATTENTION_FORWARD = 4 * 1 * 64  # 4·L·h per token of sequence length


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    output = tmp_path_factory.mktemp("gpu_check") / "report.json"
    config = gpu_check.GpuCheckConfig(smoke=True, bf16="false", peak_tflops=1.0, output=str(output))
    report = gpu_check.run(config)
    assert json.loads(output.read_text()) == report
    return report


def test_smoke_report_structure(smoke_report):
    assert smoke_report["device"] == "cpu" and smoke_report["precision"] == "fp32"
    assert smoke_report["model"]["matmul_parameters_lm"] == LM_N
    assert smoke_report["model"]["matmul_parameters_score"] == SCORE_N
    assert list(smoke_report["stages"]) == ["pretrain", "sft", "reward", "ppo"]
    for row in smoke_report["stages"].values():
        assert row["steps"] == 2 and row["seconds_per_step"] > 0 and row["peak_memory_gib"] > 0
        assert row["predicted_memory_gib"] is None  # only predicted for CUDA's per-stage peak
        assert row["tokens_per_second"] == pytest.approx(row["rows"] * row["seq_len"] / row["seconds_per_step"])
        assert row["mfu"] == pytest.approx(row["flops_per_step"] / row["seconds_per_step"] / 1e12)
    assert set(smoke_report["stages"]["ppo"]["phases"]) == {"rollout", "update"}
    table = gpu_check.markdown_table(smoke_report).splitlines()
    assert len(table) == 2 + 4 and table[2].startswith("| pretrain | 2 x 64 |")


def test_smoke_flops_by_hand(smoke_report):
    stages = smoke_report["stages"]
    lm_token = 6 * LM_N + 3 * ATTENTION_FORWARD * 64  # 6N + 12·L·h·s at s = 64
    assert stages["pretrain"]["flops_per_step"] == stages["sft"]["flops_per_step"] == 2 * 64 * lm_token
    assert stages["reward"]["flops_per_step"] == 2 * 64 * (6 * SCORE_N + 3 * ATTENTION_FORWARD * 64)
    # PPO: 2 prompts of 16 tokens, 8 generated; sequences of 24.
    actor, critic = 2 * LM_N + ATTENTION_FORWARD * 24, 2 * SCORE_N + ATTENTION_FORWARD * 24
    generation, scoring, update = 2 * 8 * actor, 2 * 24 * 2 * (actor + critic), 2 * 24 * 3 * (actor + critic)
    assert stages["ppo"]["flops_per_step"] == generation + scoring + update == 60_678_144


def test_mfu_of_the_6b_architecture_at_4_layers():
    config = XuanYuanConfig.from_preset("6b", num_hidden_layers=4)
    # 4 layers of 4·4096² + 3·4096·11008 + 2·4096, the final norm, the 39438 x 4096 LM head.
    assert matmul_parameters(config) == 4 * 202_383_360 + 4096 + 39438 * 4096 == 971_075_584
    per_token = training_flops_per_token(config, 2048)
    assert per_token == 6 * 971_075_584 + 12 * 4 * 4096 * 2048 == 6_229_106_688
    # A pretraining micro-batch of 6 x 2048 tokens in 0.2 s on an H200 (989 TFLOP/s bf16 dense).
    assert mfu(per_token * 6 * 2048, 0.2, peak_tflops("NVIDIA H200") * 1e12) == pytest.approx(0.38697, abs=1e-5)


def test_peak_table_matches_device_names():
    assert peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    with pytest.raises(KeyError, match="pass it"):
        peak_tflops("NVIDIA GeForce RTX 4090")
