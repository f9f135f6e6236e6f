"""`use_liger_kernel` and `torch_compile` for XuanYuan models: the Trainer stages and PPO. liger-kernel needs
Triton and a GPU, so CPU runs check the routing with a stand-in `liger_kernel` module and the missing-extra
message; the real kernels are checked where liger is installed and CUDA is present."""

import sys
import types

import pytest
import torch
from peft import LoraConfig, TaskType, get_peft_model
from ppo_toy import toy_config, toy_tokenizer
from torch._dynamo.eval_frame import OptimizedModule
from transformers import LlamaConfig, LlamaForCausalLM, TrainingArguments

from xuanyuan.modeling import XuanYuanForCausalLM, XuanYuanForSequenceClassification
from xuanyuan.training.kernels import apply_liger_kernel
from xuanyuan.training.ppo import PPOConfig, PPOTrainer
from xuanyuan.utils.extras import MissingExtraError


def liger_args(tmp_path, **settings) -> TrainingArguments:
    return TrainingArguments(output_dir=str(tmp_path), use_cpu=True, use_liger_kernel=True, **settings)


@pytest.fixture
def fake_liger(monkeypatch):
    """A stand-in `liger_kernel` whose Llama patch records what it was called with."""
    calls = []
    package, transformers_part = types.ModuleType("liger_kernel"), types.ModuleType("liger_kernel.transformers")
    transformers_part.apply_liger_kernel_to_llama = lambda **kwargs: calls.append(kwargs)
    package.transformers = transformers_part
    monkeypatch.setitem(sys.modules, "liger_kernel", package)
    monkeypatch.setitem(sys.modules, "liger_kernel.transformers", transformers_part)
    return calls


def ppo_trainer(tmp_path, **settings) -> PPOTrainer:
    torch.manual_seed(0)
    actor, reference = XuanYuanForCausalLM(toy_config()), XuanYuanForCausalLM(toy_config())
    critic = XuanYuanForSequenceClassification(toy_config(num_labels=1))
    reward_model = XuanYuanForSequenceClassification(toy_config(num_labels=1))
    config = PPOConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        rollout_batch_size=4,
        mini_batch_size=4,
        max_new_tokens=4,
        report_to="none",
        **settings,
    )
    prompts = [[1, 3 + i, 4 + i] for i in range(4)]
    return PPOTrainer(config, actor, critic, reward_model, toy_tokenizer(), prompts, reference=reference)


def test_liger_without_the_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "liger_kernel", None)
    model = XuanYuanForCausalLM(toy_config())
    with pytest.raises(MissingExtraError, match=r"pip install 'xuanyuan-recipes\[liger\]'"):
        apply_liger_kernel(model, liger_args(tmp_path))
    with pytest.raises(MissingExtraError, match=r"xuanyuan-recipes\[liger\]"):
        ppo_trainer(tmp_path, use_liger_kernel=True)
    apply_liger_kernel(model, TrainingArguments(output_dir=str(tmp_path), use_cpu=True))  # flag off: nothing needed


def test_xuanyuan_models_get_liger_llama_layer_kernels(tmp_path, fake_liger):
    causal = XuanYuanForCausalLM(toy_config())
    apply_liger_kernel(causal, liger_args(tmp_path, liger_kernel_config={"swiglu": False}))
    lora = get_peft_model(
        XuanYuanForCausalLM(toy_config()), LoraConfig(task_type=TaskType.CAUSAL_LM, r=2, target_modules="all-linear")
    )
    apply_liger_kernel(lora, liger_args(tmp_path))
    assert fake_liger == [
        {"model": causal, "swiglu": False, "fused_linear_cross_entropy": False},
        {"model": lora.get_base_model(), "fused_linear_cross_entropy": False},
    ]
    with pytest.raises(ValueError, match="fused_linear_cross_entropy is not supported for XuanYuan"):
        apply_liger_kernel(causal, liger_args(tmp_path, liger_kernel_config={"fused_linear_cross_entropy": True}))


def test_other_model_types_go_to_transformers_liger_hook(tmp_path, fake_liger, monkeypatch):
    calls = []
    monkeypatch.setattr("transformers.integrations.apply_liger_kernel", lambda m, c: calls.append((m, c)))
    llama = LlamaForCausalLM(
        LlamaConfig(vocab_size=16, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    )
    apply_liger_kernel(llama, liger_args(tmp_path, liger_kernel_config={"rope": False}))
    assert calls == [(llama, {"rope": False})] and fake_liger == []


def test_ppo_applies_liger_to_all_four_models(tmp_path, fake_liger):
    trainer = ppo_trainer(tmp_path, use_liger_kernel=True)
    patched = [call["model"] for call in fake_liger]
    expected = [trainer.actor, trainer.critic, trainer.reference, trainer.reward_model]
    assert len(patched) == 4 and all(p is e for p, e in zip(patched, expected, strict=True))


def test_reward_trainer_applies_liger_to_its_model(tmp_path, fake_liger):
    from datasets import Dataset

    from xuanyuan.training.reward import XuanYuanRewardConfig, XuanYuanRewardTrainer

    tokenizer = toy_tokenizer()
    model = XuanYuanForSequenceClassification(toy_config(num_labels=1, pad_token_id=tokenizer.pad_token_id))
    pair = {"chosen": "t1 t2 </s>", "rejected": "t1 t3 </s>"}
    args = XuanYuanRewardConfig(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to=[], max_length=16, use_liger_kernel=True
    )
    XuanYuanRewardTrainer(model=model, args=args, train_dataset=Dataset.from_list([pair]), processing_class=tokenizer)
    assert [call["model"] for call in fake_liger] == [model]


def test_torch_compile_compiles_actor_and_critic_for_the_update(tmp_path):
    """Accelerate compiles the two trained models; generation and the frozen models stay uncompiled, and one PPO
    step with dynamo's eager backend (no C compiler needed) matches the uncompiled step."""
    compiled = ppo_trainer(tmp_path / "compiled", torch_compile=True, torch_compile_backend="eager", max_steps=1)
    assert isinstance(compiled.actor, OptimizedModule) and isinstance(compiled.critic, OptimizedModule)
    assert not isinstance(compiled.reference, OptimizedModule)
    assert not isinstance(compiled.reward_model, OptimizedModule)
    compiled_row = compiled.train()[0]
    plain_row = ppo_trainer(tmp_path / "plain", max_steps=1).train()[0]  # built after: each build seeds the RNG
    for key in ("reward/score", "kl/ref", "loss/actor", "loss/critic"):
        assert compiled_row[key] == pytest.approx(plain_row[key], rel=1e-5, abs=1e-6), key
    saved = XuanYuanForCausalLM.from_pretrained(tmp_path / "compiled" / "checkpoint-1" / "actor")  # plain names
    for name, value in compiled.actor._orig_mod.state_dict().items():
        assert torch.equal(saved.state_dict()[name], value), name


@pytest.mark.gpu
def test_real_liger_kernels_keep_the_logits(tmp_path):
    pytest.importorskip("liger_kernel")
    if not torch.cuda.is_available():
        pytest.skip("liger's Triton kernels need a CUDA device")
    torch.manual_seed(0)
    plain = XuanYuanForCausalLM(toy_config()).cuda()
    patched = XuanYuanForCausalLM(toy_config()).cuda()
    patched.load_state_dict(plain.state_dict())
    input_ids = torch.tensor([[1, 3, 4, 5, 6]], device="cuda")
    with torch.no_grad():
        expected = plain(input_ids).logits  # before the patch: liger's RoPE replaces transformers' everywhere
        apply_liger_kernel(patched, liger_args(tmp_path))
        assert "LigerRMSNorm" in repr(patched.model.norm) and "LigerSwiGLUMLP" in repr(patched.model.layers[0].mlp)
        torch.testing.assert_close(patched(input_ids).logits, expected, rtol=1e-4, atol=1e-4)
