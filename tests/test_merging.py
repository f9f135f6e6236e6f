"""Model merging against hand-computed weights: linear average, task arithmetic, TIES on a worked example; two copies
of one model merge back into it (same logits); mismatched or missing tensors are named errors."""

import json
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file
from script_loading import load_script

from xuanyuan.modeling import XuanYuanConfig, XuanYuanForCausalLM
from xuanyuan.tokenization import load_tokenizer
from xuanyuan.training.merging import MergeError, load_state_dict, merge_models, ties


def tiny_config(**overrides) -> XuanYuanConfig:
    sizes = dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2
    )
    return XuanYuanConfig.from_preset("tiny", **(sizes | overrides))


def save_model(folder, seed: int, **overrides) -> str:
    torch.manual_seed(seed)
    model = XuanYuanForCausalLM(tiny_config(**overrides))
    model.save_pretrained(folder)
    load_tokenizer().save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("merge_inputs")
    return [save_model(root / name, seed) for seed, name in enumerate(("base", "a", "b"))]


def test_two_copies_of_one_model_merge_back_into_it(models, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    recipe = load_script("recipes/merge.py")
    args = recipe.MergeArguments(models=[models[1], models[1]], output_dir=str(tmp_path / "merged"))
    summary = recipe.main(args)
    assert (summary["method"], summary["weights"], summary["tensors_merged"]) == ("linear", [0.5, 0.5], 12)
    assert json.loads((tmp_path / "merged/merge_summary.json").read_text())["models"] == [models[1], models[1]]
    original = AutoModelForCausalLM.from_pretrained(models[1]).eval()
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    ids = AutoTokenizer.from_pretrained(tmp_path / "merged")("市盈率是什么", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(merged(ids).logits, original(ids).logits)
    for method in ("task_arithmetic", "ties"):  # a task vector of zeros leaves the base as it is
        merge_models(method, [models[1], models[1]], tmp_path / method, [0.7, 0.3], base_model=models[1])
        merged = load_state_dict(tmp_path / method)
        assert all(torch.equal(merged[name], tensor) for name, tensor in load_state_dict(models[1]).items())
    assert (tmp_path / "merged/generation_config.json").exists() and (
        tmp_path / "merged/modeling_xuanyuan.py"
    ).exists()


def test_linear_and_task_arithmetic_equal_the_hand_computed_weights(models, tmp_path):
    base, a, b = (load_state_dict(folder) for folder in models)
    merge_models("linear", models, tmp_path / "linear", [1.0, 2.0, 1.0])
    linear = load_state_dict(tmp_path / "linear")
    merge_models("task_arithmetic", models[1:], tmp_path / "task", [0.5, -0.25], base_model=models[0])
    task = load_state_dict(tmp_path / "task")
    assert linear.keys() == task.keys() == base.keys()
    for name in base:
        torch.testing.assert_close(linear[name], (base[name] + 2 * a[name] + b[name]) / 4)
        torch.testing.assert_close(
            task[name], base[name] + 0.5 * (a[name] - base[name]) - 0.25 * (b[name] - base[name])
        )


def test_ties_trims_elects_signs_and_averages_the_agreeing_entries():
    base = torch.zeros(4)
    # density 0.5 keeps each task vector's 2 largest magnitudes: [0, -2, 3, 0] and [-1.5, 0, -2, 0]
    first, second = torch.tensor([1.0, -2.0, 3.0, 0.1]), torch.tensor([-1.5, -1.0, -2.0, 0.2])
    merged = ties(base, [first, second], [1.0, 1.0], density=0.5)
    # signs of the sums [-1.5, -2, 1, 0]: entries 0 and 1 have one vote each; entry 2 keeps only the +3; entry 3 none
    torch.testing.assert_close(merged, torch.tensor([-1.5, -2.0, 3.0, 0.0]))
    # weights scale the votes: weighted [0, -2, 3, 0] and 2*[-1.5, 0, -2, 0] -> sum at entry 2 is -1, so -4 / 2 wins
    merged = ties(torch.ones(4), [first + 1, second + 1], [1.0, 2.0], density=0.5)
    torch.testing.assert_close(merged, torch.tensor([1 - 1.5, 1 - 2.0, 1 - 2.0, 1.0]))


def test_mismatched_shapes_and_missing_tensors_are_named(models, tmp_path):
    wider = save_model(tmp_path / "wider", 3, intermediate_size=96)
    with pytest.raises(MergeError) as error:
        merge_models("linear", [models[1], wider], tmp_path / "out")
    message = str(error.value)
    assert "model.layers.0.mlp.down_proj.weight" in message and "(32, 64)" in message and "(32, 96)" in message
    assert models[1] in message and wider in message
    assert str(pickle.loads(pickle.dumps(error.value))) == message

    missing = tmp_path / "missing"
    save_model(missing, 4)
    tensors = load_file(missing / "model.safetensors")
    del tensors["model.norm.weight"]
    save_file(tensors, missing / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(MergeError, match=r"'model.norm.weight' is in .*a but missing from .*missing"):
        merge_models("task_arithmetic", [models[1]], tmp_path / "out", base_model=str(missing))
    with pytest.raises(MergeError, match="needs a base model"):
        merge_models("ties", models[1:], tmp_path / "out")
