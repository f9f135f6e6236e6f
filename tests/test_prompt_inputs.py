"""Prompt files are checked before any model loads (an empty file, too few prompts for a rollout batch), and
prompts keyed by a user-given id must have unique ids: a repeat names both lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ppo_toy import save_toy_run_inputs, toy_tokenizer
from script_loading import load_script
from trl import ModelConfig

from xuanyuan.data.records import RecordError
from xuanyuan.evaluation.generation import load_generation_examples
from xuanyuan.training.ppo import PPOConfig


def write_prompts(path: Path, ids: list[str | None]) -> str:
    records = [{"prompt": f"t{i % 12} t{i % 12 + 1}"} | ({"id": id_} if id_ else {}) for i, id_ in enumerate(ids)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


# --- PPO: inputs checked before the four models load ---------------------------------------------------------
class ModelLoadReached(Exception):
    pass


class NoModels:
    """Stands in for transformers' Auto* model classes: reaching a model load raises `ModelLoadReached`, after
    noting the load's keyword arguments in `loads`."""

    loads: list[dict] = []

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        cls.loads.append(kwargs)
        raise ModelLoadReached


def run_ppo(tmp_path: Path, monkeypatch, prompts: str, model_args: ModelConfig | None = None, **script_overrides):
    """recipes/ppo.py with the toy tokenizer and model loading replaced by `NoModels`."""
    recipe = load_script("recipes/ppo.py")
    monkeypatch.setattr("transformers.AutoModelForCausalLM", NoModels)  # the recipe imports them when it runs
    monkeypatch.setattr("transformers.AutoModelForSequenceClassification", NoModels)
    toy_tokenizer().save_pretrained(tmp_path / "sft")
    script_args = recipe.PPOScriptArguments(
        sft_model=str(tmp_path / "sft"), reward_model=str(tmp_path / "rm"), prompt_files=[prompts], system_prompt="",
        **script_overrides,
    )  # fmt: skip
    config = PPOConfig(output_dir=str(tmp_path / "out"), use_cpu=True, rollout_batch_size=4, mini_batch_size=4)
    from accelerate.state import AcceleratorState

    # accelerate's state is process-wide: an earlier test's Trainer may have set bf16, and later tests set their own
    AcceleratorState._reset_state(reset_partial_state=True)
    try:
        return recipe.main(script_args, config, model_args or ModelConfig())
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)


def test_ppo_with_an_empty_prompt_file_names_it_before_loading_models(tmp_path, monkeypatch):
    empty = tmp_path / "prompts.jsonl"
    empty.write_text("", encoding="utf-8")
    message = rf"{empty}: 0 usable prompt\(s\); one rollout batch \(rollout_batch_size 4 × 1 process\(es\)"
    with pytest.raises(ValueError, match=message):
        run_ppo(tmp_path, monkeypatch, str(empty))


def test_ppo_needs_a_full_rollout_batch(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"prompts\.jsonl: 3 usable prompt\(s\);.* needs at least 4"):
        run_ppo(tmp_path, monkeypatch, write_prompts(tmp_path / "prompts.jsonl", [None] * 3))


def test_ppo_skips_bad_prompts_into_a_rejects_file_and_validates_the_flag(tmp_path, monkeypatch):
    path = Path(write_prompts(tmp_path / "prompts.jsonl", [None] * 4))
    path.write_text(path.read_text() + '{"prompt": ""}\n{oops\n', encoding="utf-8")
    with pytest.raises(ModelLoadReached):  # 4 good prompts fill the batch: past every input check
        run_ppo(tmp_path, monkeypatch, str(path), on_bad_record="skip")
    rejected = [json.loads(line) for line in (tmp_path / "out" / "rejected_prompts.jsonl").read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in rejected] == [(5, "prompt"), (6, None)]
    with pytest.raises(ValueError, match="on_bad_record must be 'error' or 'skip', got 'drop'"):
        run_ppo(tmp_path, monkeypatch, str(path), on_bad_record="drop")


def test_ppo_loads_models_with_the_model_config_dtype_and_attention(tmp_path, monkeypatch):
    import torch

    prompts = write_prompts(tmp_path / "prompts.jsonl", [None] * 4)
    monkeypatch.setattr(NoModels, "loads", [])
    with pytest.raises(ModelLoadReached):
        run_ppo(tmp_path, monkeypatch, prompts, ModelConfig(dtype="bfloat16", attn_implementation="sdpa"))
    assert NoModels.loads == [{"dtype": torch.bfloat16, "attn_implementation": "sdpa"}]


# --- user-given ids ---------------------------------------------------------------------------------------------
def test_filter_rl_prompts_rejects_a_repeated_id_before_loading_models(tmp_path):
    recipe = load_script("recipes/filter_rl_prompts.py")
    ids = ["p0", "p1", "p2", "p3", "p4", "p1", "p6", "p7"]  # 8 prompts, line 6 repeats line 2's id
    path = write_prompts(tmp_path / "prompts.jsonl", ids)
    args = recipe.FilterArguments(sft_model="no/such-model", reward_model="no/such-model", prompt_files=[path])
    with pytest.raises(
        RecordError, match=r"prompts\.jsonl, line 6, field 'id': duplicate id 'p1' \(also at .*, line 2"
    ):
        recipe.main(args)


def test_filter_rl_prompts_report_counts_match_the_files(tmp_path):
    recipe = load_script("recipes/filter_rl_prompts.py")
    inputs = save_toy_run_inputs(tmp_path)  # toy SFT and reward models
    ids = [f"p{i}" for i in range(8)]
    path = write_prompts(tmp_path / "mine.jsonl", ids)
    args = recipe.FilterArguments(
        sft_model=inputs[1], reward_model=inputs[3], prompt_files=[path], output_dir=str(tmp_path / "out"),
        num_samples=2, max_new_tokens=2, system_prompt=None, keep=5, min_std=0.0, min_mean=-1e9, max_mean=1e9,
    )  # fmt: skip
    report = recipe.main(args)
    kept = [json.loads(line)["id"] for line in (tmp_path / "out" / "prompts.jsonl").read_text().splitlines()]
    dropped = [json.loads(line)["id"] for line in (tmp_path / "out" / "dropped.jsonl").read_text().splitlines()]
    assert report["prompts_in"] == 8 and report["prompts_kept"] == len(kept) == 5
    assert sorted(kept + dropped) == ids

    args.max_prompts, args.keep = 6, None  # score a seeded draw of 6: the other 2 are neither kept nor dropped
    report = recipe.main(args)
    kept = [json.loads(line)["id"] for line in (tmp_path / "out" / "prompts.jsonl").read_text().splitlines()]
    assert (report["prompts_read"], report["prompts_in"], report["prompts_kept"]) == (8, 6, 6) and len(kept) == 6


def test_generation_eval_rejects_a_repeated_id(tmp_path):
    path = tmp_path / "eval.jsonl"
    records = [{"id": "q1", "prompt": "问", "reference": "答"}, {"prompt": "问", "reference": "答"}] * 2
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    with pytest.raises(RecordError, match=r"eval\.jsonl, line 3, field 'id': duplicate id 'q1' \(also at .*, line 1"):
        load_generation_examples([path])
