"""xuanyuan.scaling: parameter counts against real models, memory arithmetic and YAML shapes by hand."""

import pytest
import torch

from tests.script_loading import load_script
from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM, XuanYuanForSequenceClassification
from xuanyuan.scaling.flops import parameter_count
from xuanyuan.scaling.memory import STRATEGIES, activation_bytes, logits_bytes, model_states, stage_memory
from xuanyuan.scaling.workloads import load_workloads, world_size


@pytest.mark.parametrize("preset", ["tiny", "70b"])  # 70b: grouped-query attention (8 KV heads)
def test_parameter_count_matches_the_models(preset):
    config = XuanYuanConfig.from_preset(preset, num_labels=1)
    with torch.device("meta"):
        causal, scored = XuanYuanForCausalLM(config), XuanYuanForSequenceClassification(config)
    assert parameter_count(config, "lm") == sum(p.numel() for p in causal.parameters())
    assert parameter_count(config, "score") == sum(p.numel() for p in scored.parameters())


def test_workloads_are_the_6b_yamls():
    shapes = load_workloads()
    assert (shapes["pretrain"].rows, shapes["pretrain"].seq_len) == (6, 2048)
    assert (shapes["sft"].rows, shapes["sft"].seq_len) == (4, 4096)
    assert (shapes["reward"].rows, shapes["reward"].seq_len, shapes["reward"].head) == (16, 1024, "score")
    assert (shapes["ppo"].rows, shapes["ppo"].seq_len, shapes["ppo"].response_len) == (16, 512, 256)
    assert all(shape.activation_checkpointing for shape in shapes.values())
    assert world_size("zero3") == world_size("fsdp") == 8


def test_model_states_split_16_bytes_per_parameter():
    config = XuanYuanConfig.from_preset("6b")
    params = parameter_count(config)
    zero2 = model_states(config, STRATEGIES["zero2"], 8)
    assert (zero2.weights, zero2.grads, zero2.optimizer) == (2 * params, 2 * params / 8, 12 * params / 8)
    for name in ("zero3", "fsdp"):
        assert model_states(config, STRATEGIES[name], 8).total == pytest.approx(16 * params / 8)
    frozen = model_states(config, STRATEGIES["zero3"], 8, trained=False)
    assert (frozen.weights, frozen.total) == (2 * params / 8, 2 * params / 8)


def test_activation_and_logit_bytes():
    config = XuanYuanConfig.from_preset("6b")
    sbh = 6 * 2048 * 4096
    assert activation_bytes(config, 6, 2048, checkpointing=False) == 30 * 34 * sbh
    assert activation_bytes(config, 6, 2048, checkpointing=True) == 30 * 2 * sbh + 34 * sbh
    assert logits_bytes(config, 6, 2048) == 14 * 6 * 2048 * 39438


def test_ppo_holds_four_models_and_peaks_at_the_larger_phase():
    config = XuanYuanConfig.from_preset("6b")
    lm, score = parameter_count(config, "lm"), parameter_count(config, "score")
    memory = stage_memory(config, load_workloads()["ppo"], STRATEGIES["zero3"], 8, checkpointing=True)
    assert memory.states.total == pytest.approx((16 + 2) * (lm + score) / 8)
    kv_cache = 2 * 2 * 30 * 16 * 512 * 4096  # keys and values, bf16, 30 layers, 16 rollouts of 512 tokens
    assert memory.rollout == 2 * lm + kv_cache
    assert memory.total == memory.states.total + max(
        memory.gathered + memory.activations + memory.logits, kv_cache + 2 * lm
    )


def test_scaling_doc_tables_are_current():
    tables = load_script("docs/scaling_tables.py")
    doc = tables.DOC.read_text(encoding="utf-8")
    generated = doc[doc.index(tables.BEGIN) + len(tables.BEGIN) : doc.index(tables.END)]
    assert generated.strip() == tables.render(tables.TINY_RUN), "rerun: python docs/scaling_tables.py --write"
