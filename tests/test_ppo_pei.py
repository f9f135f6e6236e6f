"""PEI-RLHF decisions against hand-derived ratios."""

import json

import pytest
import torch
from script_loading import load_script

from xuanyuan.training.ppo.pei import PEIConfig, adjust_ratios, bucket, next_kl_coef, pei_step, should_stop


def test_bucketing_by_quality():
    config = PEIConfig(good_threshold=0.3, poor_threshold=0.05)
    assert [bucket(s, config) for s in (0.3, 0.29, 0.05, 0.049, -0.2)] == ["good", "medium", "medium", "poor", "poor"]


def test_pei_step_hand_derived():
    config = PEIConfig(ratio_multipliers={"good": 0.5, "medium": 1.0, "poor": 2.0})
    ratios = {"company_fact": 0.5, "calculation": 0.25, "safety": 0.25}
    rm_accuracy = {"company_fact": 0.8, "calculation": 0.6, "safety": 0.9}
    gain = {"company_fact": 0.5, "calculation": 0.0, "safety": 0.2}  # quality 0.4 good, 0 poor, 0.18 medium
    new, buckets, scores = pei_step(ratios, rm_accuracy, gain, config)
    assert buckets == {"company_fact": "good", "calculation": "poor", "safety": "medium"}
    assert scores["company_fact"] == pytest.approx(0.4)
    # scaled: 0.25, 0.5, 0.25 -> sum 1.0
    assert new == pytest.approx({"company_fact": 0.25, "calculation": 0.5, "safety": 0.25})


def test_missing_sub_domain_counts_as_poor_and_ratios_renormalize():
    config = PEIConfig(ratio_multipliers={"good": 1.0, "medium": 1.0, "poor": 3.0})
    new = adjust_ratios({"a": 0.5, "b": 0.5}, {"a": "poor"}, config)
    assert new == pytest.approx({"a": 0.75, "b": 0.25})
    _, buckets, _ = pei_step({"a": 1.0}, {}, {}, config)
    assert buckets == {"a": "poor"}


def test_kl_schedule_and_stopping_rules():
    config = PEIConfig(initial_kl_coef=0.2, kl_decay=0.5, min_kl_coef=0.04, ratio_tolerance=0.01, max_iterations=3)
    assert next_kl_coef(0.2, config) == pytest.approx(0.1)
    assert next_kl_coef(0.05, config) == pytest.approx(0.04)
    assert should_stop({"a": 0.5, "b": 0.5}, {"a": 0.505, "b": 0.495}, [0.1], config) == "ratios_settled"
    assert should_stop({"a": 0.5, "b": 0.5}, {"a": 0.6, "b": 0.4}, [0.2, 0.15], config) == "gain_stalled"
    assert should_stop({"a": 0.5, "b": 0.5}, {"a": 0.6, "b": 0.4}, [0.1, 0.2, 0.3], config) == "max_iterations"
    assert should_stop({"a": 0.5, "b": 0.5}, {"a": 0.6, "b": 0.4}, [0.1, 0.2], config) is None


def load_driver():
    return load_script("recipes/pei_rlhf.py")


def test_driver_draws_prompts_to_the_ratios_and_reads_gains_from_verdicts(tmp_path):
    from collections import Counter

    driver = load_driver()
    records = [{"id": f"f{i}", "category": "fact"} for i in range(10)] + [{"id": "s0", "category": "safety"}]
    drawn = driver.draw_prompts(records, {"fact": 0.5, "safety": 0.5}, total=8, seed=0)
    assert Counter(r["category"] for r in drawn) == {"fact": 4, "safety": 4}  # the single safety prompt repeats
    assert len({r["id"] for r in drawn if r["category"] == "fact"}) == 4

    predictions, compare = tmp_path / "predictions.jsonl", tmp_path / "compare"
    compare.mkdir()
    rows = [("a", "fact", "good"), ("b", "fact", "bad"), ("c", "fact", "good"), ("d", None, "same")]
    predictions.write_text("".join(json.dumps({"id": i, "category": c}) + "\n" for i, c, _ in rows), "utf-8")
    verdicts = "".join(json.dumps({"id": i, "outcome": o}) + "\n" for i, _, o in rows)
    (compare / "verdicts.jsonl").write_text(verdicts, "utf-8")
    # fact: (2 good - 1 bad) / 3; an item without a category counts as "general"
    assert driver.gains_by_category(compare, predictions) == pytest.approx({"fact": 1 / 3, "general": 0.0})


def test_ppo_recipe_keeps_the_named_reference_while_the_actor_starts_elsewhere(tmp_path):
    """PEI's later rounds: actor from the previous round's policy, KL reference the SFT model."""
    from ppo_toy import save_toy_run_inputs, toy_config, toy_tokenizer
    from trl import ModelConfig

    from xuanyuan.cli import parse_recipe_args
    from xuanyuan.modeling import XuanYuanForCausalLM

    inputs = save_toy_run_inputs(tmp_path)
    torch.manual_seed(7)
    XuanYuanForCausalLM(toy_config(pad_token_id=0, eos_token_id=2)).save_pretrained(tmp_path / "previous")
    toy_tokenizer().save_pretrained(tmp_path / "previous")
    recipe = load_script("recipes/ppo.py")
    args = [*inputs, "--sft_model", str(tmp_path / "previous"), "--reference_model", str(tmp_path / "sft")]
    args += ["--use_cpu", "true", "--rollout_batch_size", "2", "--mini_batch_size", "2", "--max_new_tokens", "2",
             "--system_prompt", "", "--max_steps", "1", "--output_dir", str(tmp_path / "out")]  # fmt: skip
    script_args, config, model_args = parse_recipe_args(
        [recipe.PPOScriptArguments], ["xuanyuan.training.ppo:PPOConfig", ModelConfig], argv=args
    )
    seen = {}
    recipe.main(script_args, config, model_args, on_trained=lambda trainer: seen.update(reference=trainer.reference))
    sft = XuanYuanForCausalLM.from_pretrained(tmp_path / "sft").state_dict()
    previous = XuanYuanForCausalLM.from_pretrained(tmp_path / "previous").state_dict()
    reference = seen["reference"].state_dict()
    assert all(torch.equal(reference[name], tensor) for name, tensor in sft.items())
    assert not all(torch.equal(sft[name], tensor) for name, tensor in previous.items())


def test_tiny_pei_config_runs_two_iterations_each_continuing_from_the_last_with_a_smaller_beta(tmp_path):
    """recipes/tiny/pei.yaml through the driver on toy models (paths and PPO size overridden): iteration 2 starts
    from iteration 1's policy, keeps the SFT model as the KL reference, and uses half the β."""
    import yaml
    from ppo_toy import save_toy_run_inputs, toy_tokenizer

    from xuanyuan.cli import parse_recipe_args

    save_toy_run_inputs(tmp_path)
    toy_tokenizer().save_pretrained(tmp_path / "rm")  # the judge renders answers with the RM's tokenizer
    prompts = tmp_path / "prompts.jsonl"
    rows = [{"id": f"p{i}", "category": "ab"[i % 2], "prompt": f"t{i} t{i + 1}"} for i in range(8)]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    chats = [{"id": f"e{i}", "category": "ab"[i % 2], "messages": [{"role": "user", "content": f"t{i} t3"},
              {"role": "assistant", "content": "t5"}]} for i in range(4)]  # fmt: skip
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(c) + "\n" for c in chats), encoding="utf-8")
    report = {"per_category": {"a": {"accuracy": 0.9}, "b": {"accuracy": 0.2}}}
    (tmp_path / "rm_report.json").write_text(json.dumps(report), encoding="utf-8")
    ppo_config = tmp_path / "ppo.yaml"
    small = {"use_cpu": True, "bf16": False, "seed": 0, "rollout_batch_size": 2, "mini_batch_size": 2,
             "max_new_tokens": 3, "max_prompt_length": 16, "learning_rate": 1e-3}  # fmt: skip
    ppo_config.write_text(yaml.safe_dump(small))
    driver = load_driver()
    overrides = ["--output_dir", str(tmp_path / "pei"), "--ppo_config", str(ppo_config),
                 "--sft_model", str(tmp_path / "sft"), "--reward_model", str(tmp_path / "rm"),
                 "--reward_report", str(tmp_path / "rm_report.json"), "--prompt_files", str(prompts),
                 "--eval_files", str(tmp_path / "eval.jsonl"), "--prompts_per_iteration", "4",
                 "--eval_max_new_tokens", "3", "--ppo_overrides", "--max_steps 2 --system_prompt ''",
                 "--max_iterations", "2", "--ratio_tolerance", "-1"]  # fmt: skip
    (args,) = parse_recipe_args([driver.PEIArguments], argv=["--config", "recipes/tiny/pei.yaml", *overrides])
    assert (args.initial_kl_coef, args.kl_decay) == (0.2, 0.5)  # read from the YAML
    history = driver.main(args)

    pei = tmp_path / "pei"
    assert [h["kl_coef"] for h in history] == pytest.approx([0.2, 0.1])
    assert [h["policy"] for h in history] == [str(pei / "iteration-1/ppo"), str(pei / "iteration-2/ppo")]
    commands = [yaml.safe_load((pei / f"iteration-{i}/pipeline.yaml").read_text())["stages"][0]["command"]
                for i in (1, 2)]  # fmt: skip
    assert f"--sft_model {tmp_path / 'sft'} " in commands[0] and "--kl_coef 0.2 " in commands[0]
    assert f"--sft_model {pei / 'iteration-1/ppo'} " in commands[1] and "--kl_coef 0.1 " in commands[1]
    assert all(f"--reference_model {tmp_path / 'sft'} " in command for command in commands)
    assert (pei / "iteration-2/ppo/model.safetensors").exists()
