"""GRPO and RLOO on TRL's trainers with the project's rewards: learning on a toy task, TRL's weighted sum of the
reward functions, the reward model scored on exactly what it was trained on, the two rules on hand-made answers,
and recipes/grpo.py end to end on micro models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from ppo_toy import toy_config, toy_tokenizer
from script_loading import load_script
from transformers import AutoModelForCausalLM, GenerationConfig, PrinterCallback
from trl import GRPOConfig, RLOOConfig
from trl.trainer.utils import get_callable_name

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM, XuanYuanForSequenceClassification
from xuanyuan.data.preferences import encode_conversation
from xuanyuan.evaluation.reward_report import score_sequences
from xuanyuan.tokenization import load_tokenizer
from xuanyuan.training.grpo import check_rewards, summarize, trainer_class
from xuanyuan.training.reward_functions import (
    RewardModelScore,
    answer_format,
    finance_compliance,
    repeated_share,
    reward_functions,
)

REPO = Path(__file__).resolve().parents[1]
PREFERRED = 7  # token id the toy reward counts
CONFIGS = {"grpo": GRPOConfig, "rloo": RLOOConfig}
CPU_RUN = {"use_cpu": True, "bf16": False, "activation_checkpointing": False, "report_to": "none",
           "save_strategy": "no", "disable_tqdm": True}  # fmt: skip

grpo_recipe = load_script("recipes/grpo.py")


def preferred_count(prompts, completions, completion_ids, **kwargs) -> list[float]:
    return [float(ids.count(PREFERRED)) for ids in completion_ids]


def train(trainer) -> list[dict]:
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    return [row for row in trainer.state.log_history if "reward" in row]


@pytest.mark.parametrize("algorithm", ["grpo", "rloo"])
def test_toy_reward_rises(tmp_path, algorithm):
    """A 16-token toy policy rewarded by how often it samples one token learns to sample it more."""
    torch.manual_seed(0)
    model = XuanYuanForCausalLM(toy_config(pad_token_id=0, eos_token_id=2))
    prompts = [[{"role": "user", "content": f"t{3 + i % 4} t{4 + i % 5}"}] for i in range(64)]
    config = CONFIGS[algorithm](
        output_dir=str(tmp_path), per_device_train_batch_size=8, num_generations=4, max_completion_length=6,
        learning_rate=1e-2, lr_scheduler_type="constant", beta=0.0, max_steps=16, logging_steps=1,
        seed=0, **CPU_RUN,
    )  # fmt: skip
    trainer = trainer_class(algorithm)(
        model=model, reward_funcs=[preferred_count], args=config,
        train_dataset=Dataset.from_dict({"prompt": prompts}), processing_class=toy_tokenizer(),
    )  # fmt: skip
    assert type(trainer).__name__ == {"grpo": "GRPOTrainer", "rloo": "RLOOTrainer"}[algorithm]
    rows = train(trainer)
    first = sum(r["reward"] for r in rows[:4]) / 4
    last = sum(r["reward"] for r in rows[-4:]) / 4
    assert len(rows) == 16
    assert last > first + 0.5, (first, last)


# ----------------------------------------------------------------------------------------------- micro models
PROMPTS = ["现在适合买入哪只基金？", "什么是市盈率？", "推荐一只股票。", "How is the P/E ratio computed?",
           "解释一下资产负债率。", "我该不该加仓？", "市净率是什么意思？", "What is a bond?"]  # fmt: skip


@pytest.fixture(scope="module")
def micro(tmp_path_factory) -> Path:
    """A micro SFT model and reward model over the shipped tokenizer (whose chat template ends a reply with the
    EOS), and RL prompts, on disk as the recipe reads them."""
    root = tmp_path_factory.mktemp("grpo")
    tokenizer = load_tokenizer()
    special = {name: getattr(tokenizer, name) for name in ("pad_token_id", "bos_token_id", "eos_token_id")}
    sizes = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
             "num_key_value_heads": 2, **special}  # fmt: skip
    torch.manual_seed(0)
    XuanYuanForCausalLM(XuanYuanConfig.from_preset("tiny", **sizes)).save_pretrained(root / "sft")
    GenerationConfig(do_sample=True, temperature=0.7, max_new_tokens=64, **special).save_pretrained(root / "sft")
    rm = XuanYuanForSequenceClassification(XuanYuanConfig.from_preset("tiny", num_labels=1, **sizes))
    rm.save_pretrained(root / "rm")
    for folder in ("sft", "rm"):
        tokenizer.save_pretrained(root / folder)
    lines = [json.dumps({"id": f"p{i}", "prompt": p, "category": "finance"}, ensure_ascii=False) for i, p in
             enumerate(PROMPTS)]  # fmt: skip
    (root / "prompts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def conversation(question: str, answer: str | None = None) -> list[dict]:
    turns = [{"role": "system", "content": "你是金融助手。"}, {"role": "user", "content": question}]
    return turns + ([{"role": "assistant", "content": answer}] if answer is not None else [])


class SpyRewardModel(torch.nn.Module):
    """A reward model that records the real tokens of every sequence it scores."""

    def __init__(self, model):
        super().__init__()
        self.model, self.config, self.seen = model, model.config, []

    def forward(self, input_ids, attention_mask):
        self.seen += [ids[mask.bool()].tolist() for ids, mask in zip(input_ids, attention_mask, strict=True)]
        return self.model(input_ids=input_ids, attention_mask=attention_mask)


def test_reward_model_scores_the_conversation_as_trained_ending_with_the_eos(micro):
    tokenizer = load_tokenizer(micro / "rm")
    rm = XuanYuanForSequenceClassification.from_pretrained(micro / "rm")
    spy = SpyRewardModel(rm)
    answers = ["市盈率等于股价除以每股收益。", "不知道", "It depends on the price and the earnings per share."]
    prompts = [conversation(q)[:2] for q in ("什么是市盈率？", "你好", "How is P/E computed?")]
    completions = [[{"role": "assistant", "content": a}] for a in answers]
    scores = RewardModelScore(spy, tokenizer, batch_size=2)(prompts, completions)

    by_hand = [  # the chat template rendered by hand: BOS, system, Human/Assistant turns, the EOS after the reply
        tokenizer(
            f"{tokenizer.bos_token}你是金融助手。\n Human: {q} Assistant: {a}{tokenizer.eos_token}",
            add_special_tokens=False,
        )["input_ids"]  # fmt: skip
        for q, a in zip(("什么是市盈率？", "你好", "How is P/E computed?"), answers, strict=True)
    ]
    expected = [encode_conversation(tokenizer, [*p, *c]) for p, c in zip(prompts, completions, strict=True)]
    assert expected == by_hand
    assert all(ids[-1] == tokenizer.eos_token_id for ids in expected)
    assert sorted(spy.seen) == sorted(expected)
    assert scores == score_sequences(rm, expected, tokenizer.pad_token_id, batch_size=2)
    with torch.no_grad():  # each alone, without padding: batching must not change a score
        alone = [rm(input_ids=torch.tensor([ids])).logits[0, 0].item() for ids in expected]
    assert scores == pytest.approx(alone, abs=1e-5)
    assert not any(p.requires_grad for p in rm.parameters()) and not rm.training
    with pytest.raises(ValueError, match="conversational"):
        RewardModelScore(rm, tokenizer)(["什么是市盈率？"], ["市盈率"])


@pytest.mark.parametrize(
    ("question", "answer", "expected"),
    [
        ("推荐一只基金。", "这只基金保本，稳赚不赔。", -1.5),  # promise, and advice without a disclaimer
        ("推荐一只基金。", "这只基金保本。投资有风险，入市需谨慎。", -1.0),  # promise despite the disclaimer
        ("推荐一只基金。", "该产品不保本，也不能保证收益。风险提示：不构成投资建议。", 0.0),  # negated, disclaimed
        ("推荐一只基金。", "可以关注债券基金。", -0.5),  # advice without a disclaimer
        ("什么是市盈率？", "市盈率等于股价除以每股收益。", 0.0),  # not advice
        ("什么是市盈率？", "买它零风险。", -1.0),
        ("Should I buy this stock?", "It offers a guaranteed return.", -1.5),
        ("Should I buy this stock?", "There is no guaranteed return. This is not investment advice.", 0.0),
        ("Is this a good stock?", "Stocks give guaranteed returns. Investing involves risk.", -1.0),
        ("How do analysts investigate a company?", "They read its annual report.", 0.0),  # "invest" is a whole word
    ],
)
def test_finance_compliance_on_hand_made_answers(question, answer, expected):
    prompt, completion = conversation(question), [{"role": "assistant", "content": answer}]
    assert finance_compliance([prompt], [completion]) == [expected]


@pytest.mark.parametrize(
    ("question", "answer", "max_chars", "expected"),
    [
        ("什么是市盈率？", "   ", 512, -1.0),  # empty
        ("什么是市盈率？", "市盈率等于股价除以每股收益", 512, 0.0),  # 13 characters, 10 distinct 4-grams, Chinese
        ("什么是市盈率？", "市盈率等于股价除以每股收益", 10, -0.25),  # too long
        ("什么是市盈率？", "的的的的的的的的", 512, -0.5 * (1 - 1 / 5)),  # five 4-grams, one distinct
        ("什么是市盈率？", "PE ratio is price over earnings.", 512, -0.25),  # English answer to a Chinese prompt
        ("What is a bond?", "债券是一种固定收益证券", 512, -0.25),  # and the other way round
    ],
)
def test_answer_format_on_hand_made_answers(question, answer, max_chars, expected):
    completion = [{"role": "assistant", "content": answer}]
    assert answer_format([conversation(question)], [completion], max_chars=max_chars) == [pytest.approx(expected)]


def test_repeated_share_counts_repeats_of_earlier_ngrams():
    assert repeated_share("abcabc", 3) == pytest.approx(1 - 3 / 4)  # abc bca cab abc
    assert repeated_share("a b", 3) == 0.0  # too short for one n-gram
    assert repeated_share("abcd", 2) == 0.0


def test_reward_names_and_weights_are_checked_before_loading_models():
    with pytest.raises(ValueError, match="unknown reward function"):
        reward_functions(["reward_model", "politeness"])
    with pytest.raises(ValueError, match="needs a reward model"):
        reward_functions(["reward_model"])
    with pytest.raises(ValueError, match="one weight per reward function"):
        check_rewards(["reward_model", "answer_format"], [1.0])


class Recorder:
    """A reward function that records what it was given and what it returned, under the wrapped one's name."""

    def __init__(self, func):
        self.func, self.__name__, self.calls = func, get_callable_name(func), []

    def __call__(self, prompts, completions, **kwargs):
        scores = self.func(prompts, completions, **kwargs)
        self.calls.append((prompts, completions, scores))
        return scores


@pytest.mark.parametrize("algorithm", ["grpo", "rloo"])
def test_logged_reward_is_the_weighted_sum_of_the_functions(micro, tmp_path, algorithm):
    from xuanyuan.training.grpo import prompt_dataset
    from xuanyuan.training.ppo.data import load_prompts

    tokenizer = load_tokenizer(micro / "sft")
    policy = AutoModelForCausalLM.from_pretrained(micro / "sft")
    rm = XuanYuanForSequenceClassification.from_pretrained(micro / "rm")
    names, weights = ["reward_model", "finance_compliance", "answer_format"], [1.0, 0.5, -2.0]
    scorer = RewardModelScore(rm, tokenizer)
    funcs = [Recorder(f) for f in reward_functions(names, scorer, max_answer_chars=6)]
    dataset, _ = prompt_dataset(load_prompts([str(micro / "prompts.jsonl")]), tokenizer, "你是金融助手。", 256)
    config = CONFIGS[algorithm](
        output_dir=str(tmp_path), per_device_train_batch_size=8, num_generations=4, max_completion_length=8,
        reward_weights=weights, max_steps=1, logging_steps=1, beta=0.0, seed=0, **CPU_RUN,
    )  # fmt: skip
    trainer = trainer_class(algorithm)(
        model=policy, reward_funcs=funcs, args=config, train_dataset=dataset, processing_class=tokenizer
    )
    scorer.prepare(trainer.accelerator)
    (row,) = train(trainer)

    assert [f.__name__ for f in funcs] == names
    parts = []
    for func in funcs:
        ((prompts, completions, scores),) = func.calls
        assert len(scores) == 8
        assert func.func(prompts, completions) == scores  # the parts, computed again by the functions themselves
        assert row[f"rewards/{func.__name__}/mean"] == pytest.approx(sum(scores) / 8, abs=1e-5)
        parts.append(scores)
    assert len({tuple(p) for p in parts}) == 3 and any(s != 0 for s in parts[1] + parts[2])  # not all trivial
    totals = [sum(w * p[j] for w, p in zip(weights, parts, strict=True)) for j in range(8)]
    assert row["reward"] == pytest.approx(sum(totals) / 8, abs=1e-5)


# ----------------------------------------------------------------------------------------------- the recipe
def run_recipe(micro: Path, output: Path, algorithm: str, *overrides: str) -> dict:
    argv = [
        "--config", str(REPO / "recipes" / "tiny" / f"{algorithm}.yaml"), "--model_name_or_path", str(micro / "sft"),
        "--reward_model", str(micro / "rm"), "--prompt_files", str(micro / "prompts.jsonl"),
        "--output_dir", str(output), "--max_steps", "2", "--max_completion_length", "8", "--disable_tqdm", "true",
        *overrides,
    ]  # fmt: skip
    parsed = grpo_recipe.parse_args(argv)
    assert isinstance(parsed[1], CONFIGS[algorithm])  # --algorithm (here from the YAML) picks TRL's config class
    return grpo_recipe.main(*parsed)


def test_algorithm_is_read_before_parsing_from_the_command_line_or_else_the_yaml():
    from xuanyuan.cli import peek_option

    rloo = str(REPO / "recipes" / "tiny" / "rloo.yaml")
    assert peek_option(["--config", rloo], "algorithm", "grpo") == "rloo"
    assert peek_option(["--config", rloo, "--algorithm", "grpo"], "algorithm", "grpo") == "grpo"
    assert peek_option(["--output_dir", "x"], "algorithm", "grpo") == "grpo"
    with pytest.raises(SystemExit, match="unknown key 'loss_type'"):  # GRPO-only options are refused for RLOO
        grpo_recipe.parse_args(["--config", str(REPO / "recipes" / "tiny" / "grpo.yaml"), "--algorithm", "rloo"])
    with pytest.raises(SystemExit, match="algorithm must be one of"):
        grpo_recipe.parse_args(["--algorithm", "ppo"])


def assert_trained_causal_lm_folder(folder: Path, sft: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(folder)
    before = AutoModelForCausalLM.from_pretrained(sft).state_dict()
    assert type(model).__name__ == "XuanYuanForCausalLM"
    assert not (folder / "adapter_config.json").exists()
    assert any(not torch.equal(before[name], value) for name, value in model.state_dict().items())
    assert GenerationConfig.from_pretrained(folder).to_dict() == GenerationConfig.from_pretrained(sft).to_dict()
    assert load_tokenizer(folder).get_vocab() == load_tokenizer(sft).get_vocab()


@pytest.mark.parametrize("algorithm", ["grpo", "rloo"])
def test_recipe_trains_and_saves_a_plain_causal_lm(micro, tmp_path, algorithm):
    summary = run_recipe(micro, tmp_path / algorithm, algorithm)
    assert_trained_causal_lm_folder(tmp_path / algorithm, micro / "sft")
    written = json.loads((tmp_path / algorithm / f"{algorithm}_summary.json").read_text(encoding="utf-8"))
    assert written == summary
    assert summary["steps"] == 2 and summary["algorithm"] == algorithm and summary["prompts"] == len(PROMPTS)
    assert set(summary["rewards"]) == {"reward_model", "finance_compliance", "answer_format"}
    assert summary["kl_last"] is not None  # the tiny YAMLs set beta > 0: the KL to the SFT model is measured


def test_recipe_merges_lora_adapters_before_saving(micro, tmp_path):
    run_recipe(micro, tmp_path, "grpo", "--use_peft", "true", "--lora_r", "4", "--learning_rate", "1e-2")
    assert_trained_causal_lm_folder(tmp_path, micro / "sft")


def test_summary_compares_first_and_last_logged_steps():
    log = [{"reward": r, "rewards/rm/mean": 2 * r, "kl": r / 10, "completions/mean_length": 4.0} for r in range(5)]
    summary = summarize([*log, {"train_runtime": 3.5}], ["rm"], steps=5, window=5)
    assert summary["window"] == 2  # at most half the run
    assert (summary["reward_first"], summary["reward_last"]) == (0.5, 3.5)
    assert summary["rewards"]["rm"] == {"first": 1.0, "last": 7.0}
    assert summary["kl_last"] == pytest.approx(0.35) and summary["train_runtime"] == 3.5
