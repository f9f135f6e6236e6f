"""The pairwise judge's order-swap logic (fake judges), the reward-model and LLM judges against plain
per-sequence computations, the rater sheet, and eval/generation.py + eval/compare.py end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from script_loading import load_script

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM, XuanYuanForSequenceClassification
from xuanyuan.data.preferences import encode_conversation
from xuanyuan.evaluation.generation import Sampling, complete_chats
from xuanyuan.evaluation.generation_metrics import generation_metrics
from xuanyuan.evaluation.judge import (
    JUDGE_PROMPT,
    LLMJudge,
    ReplyJudge,
    RewardModelJudge,
    outcome,
    pairwise_compare,
    write_rater_sheet,
)
from xuanyuan.tokenization import load_tokenizer

REPO = Path(__file__).resolve().parents[1]
PROMPTS = [[{"role": "user", "content": q}] for q in ("市盈率怎么算？", "你好", "平安银行的代码？", "久期是什么？")]


def load_entry_point(name: str):
    return load_script(f"eval/{name}.py")


def tiny_config(tokenizer, **extra) -> XuanYuanConfig:
    return XuanYuanConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, **extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


# --- order-swap logic --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("forward", "backward", "expected"),
    [
        ("first", "second", "good"),
        ("second", "first", "bad"),
        ("first", "first", "same"),  # position bias
        ("second", "second", "same"),
        ("tie", "tie", "same"),
        ("first", "tie", "same"),
        ("tie", "first", "same"),
    ],
)
def test_outcome_table(forward, backward, expected):
    assert outcome(forward, backward) == expected


def test_only_consistent_verdicts_count():
    def judge(prompts, first, second):
        verdicts = []
        for a, b in zip(first, second, strict=True):
            if "好" in a and "好" in b:  # cannot tell: always picks the first shown (position bias)
                verdicts.append("first")
            elif a == b:
                verdicts.append("tie")
            else:
                verdicts.append("first" if len(a) > len(b) else "second")
        return verdicts

    model = ["很好很好", "详细的回答", "短", "同"]
    baseline = ["好的", "短", "更长的回答", "同"]
    comparison = pairwise_compare(judge, PROMPTS, model, baseline)
    assert comparison.forward == ["first", "first", "second", "tie"]
    assert comparison.backward == ["first", "second", "first", "tie"]
    assert comparison.outcomes == ["same", "good", "bad", "same"]
    assert comparison.summary() == {
        "num_items": 4, "good": 1, "same": 2, "bad": 1, "inconsistent": 1,
        "win_rate": 0.25, "loss_rate": 0.25, "decided_win_rate": 0.5,
    }  # fmt: skip


def test_a_judge_returning_nonsense_is_refused():
    with pytest.raises(ValueError, match="'A'"):
        pairwise_compare(lambda p, a, b: ["A"] * len(a), PROMPTS[:1], ["x"], ["y"])


def test_reward_model_judge_follows_the_rewards(tokenizer):
    torch.manual_seed(0)
    model = XuanYuanForSequenceClassification(tiny_config(tokenizer, num_labels=1)).eval()
    answers = ["市盈率等于股价除以每股收益。", "您好！", "000001。", "不知道"]
    baseline = ["不知道", "嗯", "不清楚", "衡量债券价格对利率敏感度的指标。"]
    comparison = pairwise_compare(RewardModelJudge(model, tokenizer, batch_size=3), PROMPTS, answers, baseline)

    def reward(prompt, answer):  # one unpadded sequence: its last position is the EOS
        ids = encode_conversation(tokenizer, [*prompt, {"role": "assistant", "content": answer}])
        with torch.no_grad():
            return model(input_ids=torch.tensor([ids])).token_scores[0, -1].item()

    expected = [
        "good" if reward(p, a) > reward(p, b) else "bad" for p, a, b in zip(PROMPTS, answers, baseline, strict=True)
    ]
    assert comparison.outcomes == expected
    scores = RewardModelJudge(model, tokenizer, batch_size=3).score(PROMPTS, answers)
    assert scores == pytest.approx([reward(p, a) for p, a in zip(PROMPTS, answers, strict=True)], abs=1e-5)


def test_llm_judge_reads_label_log_probs(tokenizer):
    torch.manual_seed(1)
    model = XuanYuanForCausalLM(tiny_config(tokenizer)).eval()
    judge = LLMJudge(model, tokenizer, batch_size=3)
    first, second = ["甲回答", "很长的乙回答内容", "丙"], ["丁", "戊", "己回答"]
    verdicts = judge(PROMPTS[:3], first, second)
    for prompt, a, b, verdict in zip(PROMPTS, first, second, verdicts, strict=False):
        question = judge.template.format(question=prompt[0]["content"], first=a, second=b)
        text = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                             add_generation_prompt=True)  # fmt: skip
        assert text.endswith("Assistant:")
        prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        scores = []
        for label in ("1", "2"):
            ids = tokenizer(text + " " + label, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logp = F.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), dim=-1)
            scores.append(sum(logp[t - 1, ids[t]].item() for t in range(len(prompt_ids), len(ids))))
        assert verdict == ("first" if scores[0] > scores[1] else "second")


def test_reply_judge_reads_the_label_a_greedy_reply_opens_with():
    class Scripted:  # a generator answering each question with the next scripted reply, recording what it was asked
        def __init__(self, replies):
            self.replies, self.asked = iter(replies), []

        def complete(self, prompts, sampling, seed=None):
            self.asked.append((prompts, sampling))
            return [[next(self.replies)] for _ in prompts]

    replies = ["1", " 2。", "回答 2 更好", "2023年营收", "都不好", "", "12", "1。"]
    generator = Scripted(replies)
    judge = ReplyJudge(generator)
    first, second = [f"甲{i}" for i in range(8)], [f"乙{i}" for i in range(8)]
    prompts = [PROMPTS[i % 4] for i in range(8)]
    verdicts = judge(prompts, first, second)
    assert verdicts == ["first", "second", "second", "tie", "tie", "tie", "tie", "first"] and judge.unparsed == 4
    ((questions, sampling),) = generator.asked
    assert sampling.temperature == 0 and sampling.num_samples == 1
    for question, prompt, a, b in zip(questions, prompts, first, second, strict=True):
        assert question == [{"role": "user", "content": JUDGE_PROMPT.format(question=prompt[0]["content"], first=a,
                                                                             second=b)}]  # fmt: skip


def test_rater_sheet_is_blind_with_a_key(tmp_path):
    ids = [f"q{i}" for i in range(20)]
    prompts = [[{"role": "user", "content": f"问题{i}"}] for i in range(20)]
    answers = {"ppo": [f"PPO答{i}" for i in range(20)], "sft": [f"SFT答{i}" for i in range(20)]}
    write_rater_sheet(tmp_path / "sheet.csv", tmp_path / "key.csv", ids, prompts, answers, ["good"] * 20, seed=3)
    with open(tmp_path / "sheet.csv", encoding="utf-8-sig", newline="") as handle:
        sheet = list(csv.DictReader(handle))
    with open(tmp_path / "key.csv", encoding="utf-8-sig", newline="") as handle:
        key = {row["id"]: row for row in csv.DictReader(handle)}
    assert list(sheet[0]) == ["id", "question", "answer_1", "answer_2", "rater_1", "rater_2", "rater_3"]
    firsts = [key[row["id"]]["answer_1_model"] for row in sheet]
    assert 0 < firsts.count("ppo") < 20  # the order is shuffled, not fixed
    for i, row in enumerate(sheet):
        assert row["question"] == f"问题{i}" and row["rater_1"] == row["rater_2"] == row["rater_3"] == ""
        for slot in ("1", "2"):
            model = key[row["id"]][f"answer_{slot}_model"]
            assert row[f"answer_{slot}"] == answers[model][i]


# --- generation ----------------------------------------------------------------------------------------------


def test_batched_left_padded_generation_equals_one_prompt_at_a_time(tokenizer):
    torch.manual_seed(2)
    model = XuanYuanForCausalLM(tiny_config(tokenizer)).eval()
    batched = [replies[0] for replies in complete_chats(model, tokenizer, PROMPTS, Sampling(6), batch_size=4).texts]
    for prompt, answer in zip(PROMPTS, batched, strict=True):
        ids = torch.tensor([tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True,
                                                          return_dict=True)["input_ids"]])  # fmt: skip
        out = model.generate(ids, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id)  # fmt: skip
        assert answer == tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()


def test_generation_and_compare_entry_points(tmp_path, tokenizer):
    torch.manual_seed(3)
    XuanYuanForCausalLM(tiny_config(tokenizer)).save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    records = [
        {"id": "a", "category": "fact", "messages": [{"role": "user", "content": "平安银行的代码？"},
                                                       {"role": "assistant", "content": "000001。"}]},
        {"id": "b", "category": "calc", "prompt": "市盈率怎么算？", "reference": "股价除以每股收益。"},
        {"id": "c", "category": "fact", "messages": [{"role": "user", "content": "你好"},
                                                       {"role": "assistant", "content": "您好"},
                                                       {"role": "user", "content": "久期是什么？"},
                                                       {"role": "assistant", "content": "衡量利率敏感度的指标。"}]},
    ]  # fmt: skip
    data = tmp_path / "test.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    ranking = tmp_path / "ranking.jsonl"
    ranking.write_text(json.dumps({"candidates": ["乙", "甲"], "answers": ["甲"]}, ensure_ascii=False) + "\n", "utf-8")

    generation = load_entry_point("generation")
    report = generation.main(
        generation.GenerationEvalConfig(
            model=str(tmp_path / "lm"), data_files=[str(data)], output_dir=str(tmp_path / "gen"),
            max_new_tokens=5, batch_size=2, rouge_tokenizer="char", ranking_files=[str(ranking)],
        )
    )  # fmt: skip
    rows = [json.loads(line) for line in (tmp_path / "gen/predictions.jsonl").read_text("utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c"] and len(rows[2]["prompt"]) == 3
    assert rows[2]["reference"] == "衡量利率敏感度的指标。"
    expected = generation_metrics([r["prediction"] for r in rows], [r["reference"] for r in rows], "char")
    assert report["bleu"] == pytest.approx(expected["bleu"]) and report["rouge1"] == pytest.approx(expected["rouge1"])
    assert report["per_category"]["fact"]["num_examples"] == 2
    assert report["ranking"] == {"mrr": 0.5, "map": 0.5, "num_queries": 1}

    # Compare the generated answers with a hand-written baseline, judged by a tiny reward model.
    torch.manual_seed(4)
    rm = XuanYuanForSequenceClassification(tiny_config(tokenizer, num_labels=1))
    rm.save_pretrained(tmp_path / "rm")
    tokenizer.save_pretrained(tmp_path / "rm")
    baseline_rows = [dict(r, prediction=f"基线回答{i}") for i, r in enumerate(rows)]
    baseline = tmp_path / "baseline.jsonl"
    baseline.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in baseline_rows[::-1]) + "\n", "utf-8")
    compare = load_entry_point("compare")
    summary = compare.main(
        compare.CompareConfig(
            predictions=str(tmp_path / "gen/predictions.jsonl"), baseline_predictions=str(baseline),
            judge_model=str(tmp_path / "rm"), output_dir=str(tmp_path / "cmp"), model_name="gen",
            baseline_name="base",
        )
    )  # fmt: skip
    judge = RewardModelJudge(rm, tokenizer)
    direct = judge(
        [r["prompt"] for r in rows], [r["prediction"] for r in rows], [r["prediction"] for r in baseline_rows]
    )
    assert summary["good"] == direct.count("first") and summary["bad"] == direct.count("second")
    assert summary["good"] + summary["same"] + summary["bad"] == 3
    mean_reward = sum(judge.score([r["prompt"] for r in rows], [r["prediction"] for r in rows])) / 3
    assert summary["mean_reward_model"] == pytest.approx(mean_reward, abs=1e-5)
    with open(tmp_path / "cmp/rater_sheet.csv", encoding="utf-8-sig", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 3
    assert (tmp_path / "cmp/comparison.md").exists() and (tmp_path / "cmp/rater_key.csv").exists()
