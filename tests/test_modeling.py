"""XuanYuan model classes: presets, Auto registration, Llama interop, remote code, value head."""

import json
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    LlamaConfig,
    LlamaForCausalLM,
)

from xuanyuan import PRESETS, XuanYuanConfig, XuanYuanForCausalLM, XuanYuanForSequenceClassification, XuanYuanModel
from xuanyuan.modeling.conversion import llama_to_xuanyuan, xuanyuan_to_llama
from xuanyuan.modeling.conversion import main as convert_main


def count_parameters_on_meta(config) -> int:
    with torch.device("meta"):
        model = XuanYuanForCausalLM(config)
    return sum(p.numel() for p in model.parameters())


def small_config(**overrides) -> XuanYuanConfig:
    fields = dict(vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
    return XuanYuanConfig(**{**fields, **overrides})


def test_default_config_is_published_6b():
    config = XuanYuanConfig()
    assert (config.hidden_size, config.intermediate_size, config.num_hidden_layers) == (4096, 11008, 30)
    assert (config.num_attention_heads, config.num_key_value_heads, config.vocab_size) == (32, 32, 39438)
    assert config.max_position_embeddings == 8192
    assert config.rope_parameters["rope_theta"] == 10000
    assert config.rms_norm_eps == 1e-5
    assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == (0, 1, 2)
    assert config.tie_word_embeddings is False and config.hidden_act == "silu"
    assert {k: getattr(config, k) for k in PRESETS["6b"]} == PRESETS["6b"]


@pytest.mark.parametrize(
    ("preset", "low", "high"), [("6b", 6.3e9, 6.5e9), ("13b", 12.9e9, 13.3e9), ("70b", 68e9, 71e9)]
)
def test_preset_parameter_counts(preset, low, high):
    assert low <= count_parameters_on_meta(XuanYuanConfig.from_preset(preset)) <= high


def test_tiny_preset_is_small_and_4bit_friendly():
    config = XuanYuanConfig.from_preset("tiny")
    assert 2e6 < count_parameters_on_meta(config) < 10e6
    for name in ("vocab_size", "hidden_size", "intermediate_size"):
        assert getattr(config, name) % 128 == 0, name
    assert (config.num_attention_heads * config.head_dim) % 128 == 0
    assert (config.num_key_value_heads * config.head_dim) % 128 == 0


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="tiny"):
        XuanYuanConfig.from_preset("7b")


def test_auto_classes_resolve_to_xuanyuan():
    config = AutoConfig.for_model(
        "xuanyuan", vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4
    )
    assert isinstance(config, XuanYuanConfig)
    assert type(AutoModel.from_config(config)) is XuanYuanModel
    assert type(AutoModelForCausalLM.from_config(config)) is XuanYuanForCausalLM
    assert type(AutoModelForSequenceClassification.from_config(config)) is XuanYuanForSequenceClassification


def test_saved_checkpoint_carries_auto_map_and_code(tmp_path):
    XuanYuanForCausalLM(small_config()).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "xuanyuan"
    assert saved["auto_map"]["AutoModelForCausalLM"] == "modeling_xuanyuan.XuanYuanForCausalLM"
    assert saved["auto_map"]["AutoModelForSequenceClassification"].endswith("XuanYuanForSequenceClassification")
    assert (tmp_path / "modeling_xuanyuan.py").exists() and (tmp_path / "configuration_xuanyuan.py").exists()


def test_trust_remote_code_load_in_clean_process(tmp_path):
    torch.manual_seed(0)
    model = XuanYuanForCausalLM(small_config()).eval()
    model.save_pretrained(tmp_path / "saved")
    copy = shutil.copytree(tmp_path / "saved", tmp_path / "copy")
    input_ids = torch.randint(3, 320, (2, 9))
    torch.save({"input_ids": input_ids, "logits": model(input_ids).logits.detach()}, tmp_path / "reference.pt")
    script = textwrap.dedent(
        f"""
        import sys, torch
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained({str(copy)!r}, trust_remote_code=True).eval()
        reference = torch.load({str(tmp_path / "reference.pt")!r})
        assert "xuanyuan" not in sys.modules, "the repo package was imported"
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        diff = (model(reference["input_ids"]).logits - reference["logits"]).abs().max().item()
        print("MAXDIFF", diff)
        """
    )
    # A fresh interpreter, started in an empty folder, with the repo kept off sys.path.
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert float(run.stdout.split("MAXDIFF")[1]) == 0.0


@pytest.fixture
def llama_checkpoint(tmp_path):
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=320, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, pad_token_id=0, rms_norm_eps=1e-6,
    )  # fmt: skip
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(tmp_path / "llama")
    return tmp_path / "llama", model


def test_llama_checkpoint_loads_as_xuanyuan_with_identical_logits(llama_checkpoint, tmp_path):
    path, llama = llama_checkpoint
    input_ids = torch.randint(3, 320, (3, 17))
    reference = llama(input_ids).logits
    direct = XuanYuanForCausalLM.from_pretrained(path).eval()
    assert (direct(input_ids).logits - reference).abs().max() < 1e-5

    converted = AutoModelForCausalLM.from_pretrained(llama_to_xuanyuan(path, tmp_path / "xy")).eval()
    assert type(converted) is XuanYuanForCausalLM
    assert converted.config.num_key_value_heads == 2 and converted.config.rms_norm_eps == 1e-6
    assert (converted(input_ids).logits - reference).abs().max() < 1e-5
    prompt = input_ids[:, :5]
    assert torch.equal(
        converted.generate(prompt, max_new_tokens=12, do_sample=False),
        llama.generate(prompt, max_new_tokens=12, do_sample=False),
    )

    back = AutoModelForCausalLM.from_pretrained(xuanyuan_to_llama(tmp_path / "xy", tmp_path / "back")).eval()
    assert type(back) is LlamaForCausalLM
    assert not (tmp_path / "back" / "modeling_xuanyuan.py").exists()
    assert (back(input_ids).logits - reference).abs().max() < 1e-5


def test_converter_cli_and_wrong_direction(llama_checkpoint, tmp_path):
    path, _ = llama_checkpoint
    convert_main(["--to", "xuanyuan", "--input", str(path), "--output", str(tmp_path / "cli")])
    assert json.loads((tmp_path / "cli" / "config.json").read_text())["architectures"] == ["XuanYuanForCausalLM"]
    with pytest.raises(ValueError, match="model_type"):
        xuanyuan_to_llama(path, tmp_path / "wrong")


def test_value_head_pools_last_real_token_and_matches_unpadded_runs():
    torch.manual_seed(0)
    model = XuanYuanForSequenceClassification(small_config(num_labels=1)).eval()
    lengths = [7, 4, 1]
    sequences = [torch.randint(3, 320, (n,)) for n in lengths]
    width = max(lengths)
    for side in ("right", "left"):
        input_ids = torch.zeros(len(lengths), width, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for row, seq in enumerate(sequences):
            span = slice(0, len(seq)) if side == "right" else slice(width - len(seq), width)
            input_ids[row, span], attention_mask[row, span] = seq, 1
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids)
        assert out.token_scores.shape == (len(lengths), width) and out.logits.shape == (len(lengths), 1)
        for row, seq in enumerate(sequences):
            alone = model(input_ids=seq[None]).token_scores[0]
            span = slice(0, len(seq)) if side == "right" else slice(width - len(seq), width)
            torch.testing.assert_close(out.token_scores[row, span], alone, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(out.logits[row, 0], alone[-1], atol=1e-5, rtol=1e-5)


def test_value_head_pools_by_pad_id_without_attention_mask():
    model = XuanYuanForSequenceClassification(small_config(num_labels=1)).eval()
    input_ids = torch.tensor([[5, 6, 7, 0, 0], [5, 6, 7, 8, 9]])
    out = model(input_ids=input_ids)
    assert torch.equal(out.logits[:, 0], out.token_scores[[0, 1], [2, 4]])


def test_value_head_pools_last_position_without_mask_or_pad_id():
    model = XuanYuanForSequenceClassification(small_config(num_labels=1, pad_token_id=None)).eval()
    out = model(input_ids=torch.tensor([[5, 6, 7, 0, 0]]))
    assert torch.equal(out.logits[:, 0], out.token_scores[:, -1])


def test_value_head_trains_with_labels_and_peft():
    from peft import LoraConfig, get_peft_model

    model = XuanYuanForSequenceClassification(small_config(num_labels=1))
    model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="SEQ_CLS"))
    input_ids = torch.randint(3, 320, (2, 6))
    out = model(input_ids=input_ids, labels=torch.tensor([0.5, -0.5]))
    out.loss.backward()
    assert out.token_scores.shape == (2, 6)
    lora_grads = [p.grad for n, p in model.named_parameters() if "lora_" in n and p.requires_grad]
    assert lora_grads and all(g is not None for g in lora_grads)


def test_gradient_checkpointing_matches_plain_backward():
    torch.manual_seed(0)
    model = XuanYuanForCausalLM(small_config())
    input_ids = torch.randint(3, 320, (2, 10))
    model(input_ids=input_ids, labels=input_ids).loss.backward()
    plain = model.lm_head.weight.grad.clone()
    model.zero_grad()
    model.activation_checkpointing_enable()
    model.train()
    assert model.is_activation_checkpointing
    model(input_ids=input_ids, labels=input_ids).loss.backward()
    torch.testing.assert_close(model.lm_head.weight.grad, plain)


def test_import_registers_the_classes_once_transformers_loads_and_not_before():
    """`import xuanyuan` alone loads neither torch nor transformers; the Auto classes know XuanYuan as soon as
    transformers is imported, whichever of the two comes first."""
    check = "type(AutoConfig.for_model('xuanyuan')).__name__, AutoModelForCausalLM._model_mapping[X].__name__"
    imports = "from transformers import AutoConfig, AutoModelForCausalLM"
    imports += "; from xuanyuan.modeling import XuanYuanConfig as X"
    loaded = "print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    probe = "import importlib.util; importlib.util.find_spec('transformers')"  # libraries probe like this
    first = f"import sys, xuanyuan; {loaded}; {probe}; {imports}; print({check})"
    second = f"import transformers, xuanyuan; {imports}; print({check})"
    expected = "XuanYuanConfig XuanYuanForCausalLM"
    outputs = [subprocess.run([sys.executable, "-c", c], capture_output=True, text=True) for c in (first, second)]
    assert outputs[0].stdout.splitlines() == ["[]", expected], outputs[0].stderr[-2000:]
    assert outputs[1].stdout.splitlines() == [expected], outputs[1].stderr[-2000:]


def test_call_after_import_runs_now_or_right_after_the_first_import():
    code = (
        "import sys; from xuanyuan.utils.post_import import call_after_import\n"
        "call_after_import('os', lambda: print('os now'))\n"
        "call_after_import('colorsys', lambda: print('colorsys', 'colorsys' in sys.modules))\n"
        "import importlib.util; importlib.util.find_spec('colorsys')\n"
        "print('before'); import colorsys; import colorsys; print(colorsys.rgb_to_hsv(1, 0, 0))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.splitlines() == ["os now", "before", "colorsys True", "(0.0, 1.0, 1)"], result.stderr
