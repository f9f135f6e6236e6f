"""DPO on TRL's `DPOTrainer`: the loss against a hand computation, learning on a toy whose preference is one
token, the strength weighting, bad records, and recipes/dpo.py end to end (full and LoRA) on toy models."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
import yaml
from ppo_toy import toy_config, toy_tokenizer
from safetensors.torch import load_file
from script_loading import load_script
from trl import DPOConfig

from xuanyuan.data.preferences import PreferencePair
from xuanyuan.data.records import RecordError
from xuanyuan.modeling import XuanYuanForCausalLM
from xuanyuan.training.dpo import XuanYuanDPOTrainer, load_dpo_data, preference_metrics, to_dpo_dataset

REPO = Path(__file__).resolve().parents[1]
PREFERRED = "t12"  # the toy's chosen responses hold this token, its rejected ones never
dpo_recipe = load_script("recipes/dpo.py")


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def toy_model(seed: int) -> XuanYuanForCausalLM:
    torch.manual_seed(seed)
    return XuanYuanForCausalLM(toy_config(pad_token_id=0, eos_token_id=2))


def dpo_config(tmp_path: Path, **overrides) -> DPOConfig:
    settings = {"use_cpu": True, "bf16": False, "report_to": "none", "activation_checkpointing": False,
                "save_strategy": "no", "disable_tqdm": True, "seed": 0, **overrides}  # fmt: skip
    return DPOConfig(output_dir=str(tmp_path / "out"), **settings)


def toy_records(n: int, seed: int) -> list[dict]:
    """Labelled pairs over the toy vocabulary: the response holding PREFERRED is better (A or B, strength 1-3)."""
    rng = random.Random(seed)
    words = [f"t{i}" for i in range(1, 12)]
    records = []
    for index in range(n):
        good = rng.sample(words, 3)
        good.insert(rng.randrange(4), PREFERRED)
        bad = rng.sample(words, 4)
        first_is_good = rng.random() < 0.5
        a, b = (good, bad) if first_is_good else (bad, good)
        label = ("A" if first_is_good else "B") + str(rng.randint(1, 3))
        records.append({"id": f"toy-{index}", "prompt": " ".join(rng.sample(words, 2)),
                        "response_a": " ".join(a), "response_b": " ".join(b), "label": label})  # fmt: skip
    return records


def slow_sequence_log_prob(model, prompt: list[int], completion: list[int]) -> float:
    """log p(completion | prompt), one token at a time from the unpadded sequence's logits, in float64."""
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].double()
    total = 0.0
    for position in range(len(prompt), len(prompt) + len(completion)):
        row = logits[position - 1]
        total += (row[ids[0, position]] - torch.logsumexp(row, dim=0)).item()
    return total


def test_loss_of_a_batch_equals_the_hand_computed_dpo_loss(tmp_path):
    policy, reference = toy_model(0), toy_model(1)  # different weights: the log-ratios are not zero
    pairs = [("t1 t2", "t3 t4 t5", "t6"), ("t7", "t8", "t9 t10 t11 t12"), ("t3 t3 t4", "t5 t6", "t7 t8")]
    dataset = to_dpo_dataset([PreferencePair(str(i), ({"role": "user", "content": p},), c, r)
                              for i, (p, c, r) in enumerate(pairs)])  # fmt: skip
    beta = 0.7
    trainer = XuanYuanDPOTrainer(
        model=policy, ref_model=reference, args=dpo_config(tmp_path, beta=beta, max_length=None),
        train_dataset=dataset, processing_class=toy_tokenizer(),
    )  # fmt: skip
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(pairs))])
    loss = trainer.compute_loss(trainer.model, batch).item()

    def ids(text: str) -> list[int]:  # the toy vocabulary: <pad> <s> </s> t0 … t12
        return [int(word[1:]) + 3 for word in text.split()]

    expected = 0.0
    for prompt, chosen, rejected in pairs:
        logratio = {}
        for name, completion in (("chosen", chosen), ("rejected", rejected)):
            pi = slow_sequence_log_prob(policy, ids(prompt), ids(completion))
            ref = slow_sequence_log_prob(reference, ids(prompt), ids(completion))
            logratio[name] = pi - ref
        z = beta * (logratio["chosen"] - logratio["rejected"])
        expected += math.log1p(math.exp(-z)) / len(pairs)  # −log σ(z)
    assert abs(expected - math.log(2)) > 1e-3  # the batch is not the trivial policy == reference case
    assert loss == pytest.approx(expected, rel=1e-5)


def test_a_few_steps_raise_held_out_preference_accuracy_on_a_learnable_toy(tmp_path):
    """The chosen response always holds one token: DPO should find it within 12 steps on unseen prompts."""
    path = write_jsonl(tmp_path / "toy.jsonl", toy_records(240, seed=0))
    train, test, _ = load_dpo_data([path], test_fraction=0.25, weighting="none")
    settings = {"max_steps": 12, "learning_rate": 3e-3, "lr_scheduler_type": "constant", "beta": 0.1,
                "per_device_train_batch_size": 8, "per_device_eval_batch_size": 32}  # fmt: skip
    trainer = XuanYuanDPOTrainer(
        model=toy_model(0), ref_model=toy_model(0), args=dpo_config(tmp_path, **settings), train_dataset=train,
        eval_dataset=test, processing_class=toy_tokenizer(),
    )  # fmt: skip
    before = trainer.pair_log_probs()
    trainer.train()
    metrics = preference_metrics(before, trainer.pair_log_probs(), beta=0.1)
    assert metrics["pairs"] == len(test) >= 40
    assert metrics["reward_accuracy_before"] == 0.5 and metrics["reward_margin_before"] == 0.0
    assert metrics["reward_accuracy_after"] >= 0.9, metrics
    assert metrics["reward_margin_after"] > 0.1, metrics
    assert metrics["logp_accuracy_after"] >= 0.9 > metrics["logp_accuracy_before"], metrics


def test_preference_metrics_on_known_log_probs():
    """Implicit reward margin β·[(π_c − π0_c) − (π_r − π0_r)] per pair; a tie counts half."""
    before = torch.tensor([[-1.0, -2.0], [-3.0, -1.0], [-2.0, -2.0]])
    after = torch.tensor([[-0.5, -2.5], [-3.0, -1.0], [-2.5, -1.5]])  # up, unchanged (tie), down
    metrics = preference_metrics(before, after, beta=0.5)
    assert metrics["pairs"] == 3
    assert metrics["reward_accuracy_after"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert metrics["reward_margin_after"] == pytest.approx((0.5 + 0.0 - 0.5) / 3)
    assert (metrics["reward_accuracy_before"], metrics["reward_margin_before"]) == (0.5, 0.0)
    assert metrics["logp_accuracy_before"] == pytest.approx(1 / 3)  # only the first pair prefers chosen
    assert metrics["logp_accuracy_after"] == pytest.approx(1 / 3)


def test_pair_log_probs_are_the_summed_completion_log_probs(tmp_path):
    """The evaluation's batched, padded log-probabilities equal the slow per-token sum of each pair."""
    path = write_jsonl(tmp_path / "toy.jsonl", toy_records(12, seed=1))
    train, test, _ = load_dpo_data([path], test_fraction=0.5, weighting="none")
    model = toy_model(3)
    trainer = XuanYuanDPOTrainer(
        model=model, ref_model=toy_model(3), args=dpo_config(tmp_path, per_device_eval_batch_size=4),
        train_dataset=train, eval_dataset=test, processing_class=toy_tokenizer(),
    )  # fmt: skip
    scored = trainer.pair_log_probs()
    expected = [
        [slow_sequence_log_prob(model, row["prompt_ids"], row[name]) for name in ("chosen_ids", "rejected_ids")]
        for row in trainer.eval_dataset
    ]
    assert scored.shape == (len(test), 2)
    assert torch.allclose(scored, torch.tensor(expected, dtype=torch.float64), atol=1e-4)


def test_label_strength_repeats_pairs_and_plain_and_ranked_pairs_count_once(tmp_path):
    records = [
        {"prompt": "p0", "response_a": "good", "response_b": "bad", "label": "A3"},
        {"prompt": "p1", "response_a": "bad", "response_b": "good", "label": "B2"},
        {"prompt": "p2", "response_a": "good", "response_b": "bad", "label": "A1"},
        {"prompt": "p3", "response_a": "same-ish", "response_b": "same", "label": "B0"},
        {"prompt": "p4", "chosen": "good", "rejected": "bad"},
        {"prompt": "p5", "responses": ["best", "middle", "worst"]},
    ]
    path = write_jsonl(tmp_path / "prefs.jsonl", records)

    def counts(weighting: str, keep_ties: bool = False) -> dict[tuple[str, str, str], int]:
        train, _, _ = load_dpo_data([path], test_fraction=0.0, keep_ties=keep_ties, weighting=weighting)
        found: dict = {}
        for row in train:
            key = (row["prompt"][0]["content"], row["chosen"][0]["content"], row["rejected"][0]["content"])
            found[key] = found.get(key, 0) + 1
        return found

    once = {("p4", "good", "bad"): 1, ("p5", "best", "middle"): 1, ("p5", "best", "worst"): 1,
            ("p5", "middle", "worst"): 1}  # fmt: skip
    assert counts("repeat") == {("p0", "good", "bad"): 3, ("p1", "good", "bad"): 2, ("p2", "good", "bad"): 1, **once}
    assert counts("none") == {("p0", "good", "bad"): 1, ("p1", "good", "bad"): 1, ("p2", "good", "bad"): 1, **once}
    assert counts("repeat", keep_ties=True)[("p3", "same", "same-ish")] == 1  # a kept tie counts once
    with pytest.raises(ValueError, match="strength_weighting"):
        load_dpo_data([path], weighting="double")


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """A toy "SFT" model folder, and preference files in every record shape with one record lacking `rejected`."""
    root = tmp_path_factory.mktemp("dpo_recipe")
    toy_model(0).save_pretrained(root / "sft")
    toy_tokenizer().save_pretrained(root / "sft")
    records = toy_records(60, seed=2)
    records[5] = {"prompt": "t1 t2", "chosen": "t3 t12"}  # line 6: no rejected response
    records.append({"prompt": "t9 t9", "responses": ["t12 t1", "t1 t2", "t3"]})
    records.append({"prompt": "t8 t8", "chosen": "t12 t5", "rejected": "t5 t6"})
    return root, write_jsonl(root / "prefs.jsonl", records)


def recipe_args(root: Path, data: Path, output: str, *overrides: str) -> tuple:
    argv = ["--config", str(REPO / "recipes" / "tiny" / "dpo.yaml"), "--model_name_or_path", str(root / "sft"),
            "--data_files", str(data), "--output_dir", str(root / output), "--report_to", "none",
            "--max_steps", "3", "--learning_rate", "1e-3", "--disable_tqdm", "true", *overrides]  # fmt: skip
    return dpo_recipe.parse_args(argv)


def test_a_record_without_rejected_stops_the_recipe_naming_file_line_and_field(toy_run):
    root, data = toy_run
    with pytest.raises(RecordError) as error:
        dpo_recipe.main(*recipe_args(root, data, "bad"))
    assert (error.value.path, error.value.line, error.value.field) == (str(data), 6, "rejected")
    assert f"{data}, line 6, field 'rejected'" in str(error.value)
    assert not (root / "bad").exists()  # stopped before any model was loaded or anything written


def test_recipe_trains_and_saves_a_plain_causal_lm_with_summary_and_args(toy_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root, data = toy_run
    summary = dpo_recipe.main(*recipe_args(root, data, "full", "--on_bad_record", "skip"))
    output = root / "full"
    skipped = [json.loads(line) for line in (output / "skipped_records.jsonl").read_text().splitlines()]
    assert [(row["line"], row["field"]) for row in skipped] == [(6, "rejected")]
    assert summary == json.loads((output / "dpo_summary.json").read_text(encoding="utf-8"))
    assert summary["train_steps"] == 3 and summary["train_runtime_s"] > 0 and summary["final_train_loss"] > 0
    assert summary["test"]["pairs"] > 0 and summary["test"]["reward_accuracy_before"] == 0.5
    model = AutoModelForCausalLM.from_pretrained(output)
    initial = AutoModelForCausalLM.from_pretrained(root / "sft")
    changed = [n for n, p in model.state_dict().items() if not torch.equal(p, initial.state_dict()[n])]
    assert changed and not (output / "adapter_config.json").exists()
    assert AutoTokenizer.from_pretrained(output).get_vocab() == toy_tokenizer().get_vocab()
    assert (output / "generation_config.json").exists()
    rerun = dpo_recipe.parse_args(["--config", str(output / "dpo_args.yaml")])  # the saved args replay the run
    for saved, given in zip(rerun, recipe_args(root, data, "full", "--on_bad_record", "skip"), strict=True):
        assert saved == given


def test_recipe_with_lora_saves_the_merged_model(toy_run):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    root, data = toy_run
    dpo_recipe.main(*recipe_args(root, data, "lora", "--on_bad_record", "skip", "--use_peft", "--lora_r", "4",
                                 "--lora_alpha", "8", "--learning_rate", "1e-2"))  # fmt: skip
    output = root / "lora"
    assert (output / "adapter" / "adapter_config.json").exists() and not (output / "adapter_config.json").exists()
    saved = load_file(output / "model.safetensors")
    base = AutoModelForCausalLM.from_pretrained(root / "sft")
    merged = PeftModel.from_pretrained(base, output / "adapter").merge_and_unload().state_dict()
    initial = AutoModelForCausalLM.from_pretrained(root / "sft").state_dict()
    assert set(saved) <= set(merged)
    assert all(torch.equal(saved[name], merged[name]) for name in saved)
    assert any(not torch.equal(saved[name], initial[name]) for name in saved)


def test_held_out_pairs_are_the_reward_models():
    """Same split arguments, defaults and YAML values (tiny and 6B) as recipes/reward.py: the same held-out pairs."""
    names = ("test_fraction", "split_seed", "keep_ties", "on_bad_record")
    reward, dpo = load_script("recipes/reward.py").RewardScriptArguments(), dpo_recipe.DPOScriptArguments()
    assert {n: getattr(reward, n) for n in names} == {n: getattr(dpo, n) for n in names}
    for size in ("tiny", "xuanyuan-6b"):
        configs = [yaml.safe_load((REPO / "recipes" / size / f"{stage}.yaml").read_text(encoding="utf-8"))
                   for stage in ("reward", "dpo")]  # fmt: skip
        reward_split, dpo_split = ({n: config.get(n, getattr(dpo, n)) for n in names} for config in configs)
        assert reward_split == dpo_split, size


def test_the_6b_config_holds_only_options_of_the_recipe_with_the_right_types():
    """The GPU preset cannot run here (bf16, flash attention); its keys and value types are checked instead."""
    from trl import ModelConfig

    from xuanyuan.cli import check_config, read_config

    path = str(REPO / "recipes" / "xuanyuan-6b" / "dpo.yaml")
    config = read_config(path)
    check_config(config, [dpo_recipe.DPOScriptArguments, DPOConfig, ModelConfig], path)
