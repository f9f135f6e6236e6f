"""recipes/reward.py end to end on the embedded preference data with a micro XuanYuan model: held-out accuracy
clearly above chance, the selection report, eval/reward.py agreeing with it, UFRM stages, and a LoRA RM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from script_loading import load_script
from transformers import AutoModelForSequenceClassification, LlamaConfig, LlamaForSequenceClassification

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM
from xuanyuan.data.embedded import EmbeddedDataConfig, generate_embedded_data
from xuanyuan.data.preferences import PreferencePair
from xuanyuan.tokenization import load_tokenizer
from xuanyuan.training.reward import token_values

REPO = Path(__file__).resolve().parents[1]
FINANCE = {"company_fact", "comparison", "calculation", "concept"}


reward_recipe = load_script("recipes/reward.py")
eval_reward = load_script("eval/reward.py")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Embedded data (900 pairs, 40 ranked lists) and a micro causal LM standing in for the SFT model."""
    root = tmp_path_factory.mktemp("reward")
    generate_embedded_data(EmbeddedDataConfig(output_dir=str(root / "data"), n_preference_pairs=900, n_ranked=40))
    tokenizer = load_tokenizer()
    config = XuanYuanConfig.from_preset(
        "tiny", hidden_size=128, intermediate_size=384, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    XuanYuanForCausalLM(config).save_pretrained(root / "lm")
    tokenizer.save_pretrained(root / "lm")
    return root


def run_recipe(workspace: Path, output: str, *overrides: str) -> dict:
    data = workspace / "data" / "preference"
    args = [
        "--config", str(REPO / "recipes" / "tiny" / "reward.yaml"), "--model_name_or_path", str(workspace / "lm"),
        "--output_dir", str(workspace / output), "--data_files", str(data / "pairs.jsonl"), str(data / "ranked.jsonl"),
        "--report_to", "none", "--learning_rate", "1e-3", "--logging_steps", "5", *overrides,
    ]  # fmt: skip
    return reward_recipe.main(*reward_recipe.parse_args(args))


@pytest.fixture(scope="module")
def trained(workspace):
    """Two epochs (the tiny YAML trains one), so the report has more than one checkpoint per stage to select from."""
    return workspace / "rm", run_recipe(workspace, "rm", "--num_train_epochs", "2")


def test_ufrm_report_covers_every_epoch_of_both_stages_on_both_test_sets(trained):
    output, report = trained
    for name in ("rm_report.json", "rm_report.md", "margin_curve.png", "margin_histograms.png"):
        assert (output / name).stat().st_size > 0
    assert json.loads((output / "rm_report.json").read_text(encoding="utf-8")) == report
    rows = [(e["stage"], e["epoch"]) for e in report["checkpoints"]]
    assert rows == [("general", 1.0), ("general", 2.0), ("finance", 1.0), ("finance", 2.0)]
    for entry in report["checkpoints"]:
        assert Path(entry["checkpoint"], "model.safetensors").exists()
        general, finance = entry["test_sets"]["general"], entry["test_sets"]["finance"]
        assert set(general["per_category"]) <= {"general", "safety"} and set(finance["per_category"]) <= FINANCE
        assert general["num_pairs"] > 0 and finance["num_pairs"] > 0
    steps = [e["step"] for e in report["checkpoints"]]
    assert steps == sorted(steps) and report["stage_starts"]["finance"] == steps[1]
    curve = report["train_margin_curve"]
    assert [row["step"] for row in curve] == list(range(1, steps[-1] + 1))
    markdown = (output / "rm_report.md").read_text(encoding="utf-8")
    assert report["selected"]["checkpoint"] in markdown
    assert "| stage | epoch | calculation | company_fact | comparison | concept | general | safety |" in markdown


def test_tiny_reward_model_beats_chance_on_held_out_prompts(trained, workspace):
    output, report = trained
    data = workspace / "data" / "preference"
    evaluation = eval_reward.main(
        eval_reward.RewardEvalConfig(
            model=str(output), data_files=[str(data / "pairs.jsonl"), str(data / "ranked.jsonl")],
            output_dir=str(workspace / "eval"), split="test",
        )
    )  # fmt: skip
    assert evaluation["num_pairs"] >= 80
    assert evaluation["accuracy"] >= 0.7, evaluation["accuracy"]
    # The saved model is the selected checkpoint: eval/reward.py reproduces its per-category test accuracy.
    selected = next(e for e in report["checkpoints"] if e["checkpoint"] == report["selected"]["checkpoint"])
    per_category = {c: r for t in selected["test_sets"].values() for c, r in t["per_category"].items()}
    for category, row in evaluation["per_category"].items():
        assert row["accuracy"] == pytest.approx(per_category[category]["accuracy"])


def test_value_head_from_a_causal_lm_starts_the_same_for_the_same_seed(workspace):
    """Its random start is part of the run: a rerun with the same seed must train the same reward model."""
    from trl import ModelConfig

    def head(seed, earlier_state):
        torch.manual_seed(earlier_state)  # whatever the global generator held before must not matter
        model = reward_recipe.load_reward_model(str(workspace / "lm"), ModelConfig(dtype="float32"), seed)
        return model.score.weight.detach().clone()

    assert torch.equal(head(0, earlier_state=1), head(0, earlier_state=2))
    assert not torch.equal(head(0, earlier_state=1), head(1, earlier_state=1))


def test_two_runs_with_the_same_seed_train_the_same_reward_model(workspace):
    """Same config and seed, different global random state before each run: identical weights and report."""
    runs = []
    for name, earlier_state in (("same_a", 1), ("same_b", 2)):
        torch.manual_seed(earlier_state)
        report = run_recipe(workspace, name, "--max_steps", "3", "--save_strategy", "steps", "--save_steps", "3")
        runs.append((load_file(workspace / name / "model.safetensors"), report["selected"]["accuracy"]))
    (first, accuracy_a), (second, accuracy_b) = runs
    assert first.keys() == second.keys() and accuracy_a == accuracy_b
    for name, tensor in first.items():
        assert torch.equal(tensor, second[name]), name


def test_stages_split_general_from_finance_by_category():
    pairs = [PreferencePair(str(i), ({"role": "user", "content": str(i)},), "a", "b", c) for i, c in enumerate(
        ["safety", "company_fact", "general", None, "concept"])]  # fmt: skip
    args = reward_recipe.RewardScriptArguments()
    assert {k: [p.id for p in v] for k, v in reward_recipe.stages(args, pairs).items()} == {
        "general": ["0", "2"],
        "finance": ["1", "3", "4"],
    }
    args.two_stage = False
    assert list(reward_recipe.stages(args, pairs)) == ["all"]


def test_lora_reward_model_trains_adapters_and_the_new_head(workspace):
    output = workspace / "lora"
    run_recipe(
        workspace, "lora", "--use_peft", "--lora_r", "8", "--lora_alpha", "16",
        "--lora_target_modules", "q_proj", "v_proj", "--two_stage", "false", "--num_train_epochs", "1",
    )  # fmt: skip
    checkpoint = next((output / "stage1_all").glob("checkpoint-*"))
    adapter = load_file(checkpoint / "adapter_model.safetensors")
    assert any("lora_A" in k for k in adapter) and any(k.endswith("score.weight") for k in adapter)
    merged = AutoModelForSequenceClassification.from_pretrained(output).state_dict()
    base = load_file(workspace / "lm" / "model.safetensors")
    q_proj, mlp = "model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.up_proj.weight"
    assert not torch.equal(merged[q_proj], base[q_proj]) and torch.equal(merged[mlp], base[mlp])
    assert "lm_head.weight" not in merged and merged["score.weight"].shape == (1, 128)


def test_token_values_from_a_score_hook_when_the_model_has_no_values():
    config = LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_labels=1, pad_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForSequenceClassification(config).eval()
    ids, mask = torch.tensor([[5, 6, 7], [5, 8, 0]]), torch.tensor([[1, 1, 1], [1, 1, 0]])
    inputs = {"input_ids": ids, "attention_mask": mask}
    values, outputs = token_values(model, dict(inputs))
    expected = model.score(model.model(**inputs).last_hidden_state).squeeze(-1)
    torch.testing.assert_close(values, expected)
    torch.testing.assert_close(outputs.logits.squeeze(-1), torch.stack([values[0, 2], values[1, 1]]))
