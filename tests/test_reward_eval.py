"""Reward-model evaluation: report arithmetic on hand-made scores, and eval/reward.py end to end on a tiny
random XuanYuan reward model against a plain one-sequence-at-a-time forward."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from script_loading import load_script

from xuanyuan import XuanYuanConfig, XuanYuanForSequenceClassification
from xuanyuan.data.preferences import encode_conversation
from xuanyuan.evaluation.reward_report import PairScores, check_padding, summarize_rewards
from xuanyuan.tokenization import load_tokenizer

REPO = Path(__file__).resolve().parents[1]

# margins: 1.0, 0.0 (tie), -0.2, 0.7
HAND = PairScores(
    ids=["p1", "p2", "p3", "p4"],
    categories=["a", "a", "b", None],
    strengths=[3, 1, None, 3],
    chosen=[1.0, 0.5, 0.2, -0.3],
    rejected=[0.0, 0.5, 0.4, -1.0],
)


def test_report_arithmetic_on_hand_made_scores():
    report = summarize_rewards(HAND)
    assert (report["num_pairs"], report["correct"], report["ties"], report["wrong"]) == (4, 2, 1, 1)
    assert report["accuracy"] == pytest.approx(0.5) and report["accuracy_ties_half"] == pytest.approx(0.625)
    assert report["margin"]["mean"] == pytest.approx(0.375) == report["margin_mean"]
    # mean margin = mean chosen − mean rejected = 0.35 − (−0.025)
    assert report["chosen_reward"]["mean"] == pytest.approx(0.35)
    assert report["rejected_reward"]["mean"] == pytest.approx(-0.025)
    assert report["margin"]["std"] == pytest.approx(math.sqrt((0.625**2 + 0.375**2 + 0.575**2 + 0.325**2) / 4))
    assert (report["margin"]["min"], report["margin"]["max"]) == pytest.approx((-0.2, 1.0))
    assert report["reward"]["mean"] == pytest.approx(0.1625)
    assert report["reward"]["fraction_in_range"] == 1.0 and report["reward"]["in_range"] is True
    assert report["per_category"]["a"] | {"margin_mean": None} == {
        "num_pairs": 2, "accuracy": 0.5, "correct": 1, "ties": 1, "wrong": 0, "accuracy_ties_half": 0.75,
        "margin_mean": None,
    }  # fmt: skip
    assert report["per_category"]["b"]["accuracy"] == 0.0 and set(report["per_category"]) == {"a", "b"}
    assert report["per_strength"]["3"]["accuracy"] == 1.0
    assert report["per_strength"]["3"]["margin_mean"] == pytest.approx(0.85)
    assert report["per_strength"]["1"]["ties"] == 1


def test_scale_range_and_tie_tolerance():
    narrow = summarize_rewards(HAND, scale_range=(0.0, 1.0))
    assert narrow["reward"]["fraction_in_range"] == pytest.approx(6 / 8) and narrow["reward"]["in_range"] is False
    tolerant = summarize_rewards(HAND, tie_tolerance=0.25)
    assert (tolerant["correct"], tolerant["ties"], tolerant["wrong"]) == (2, 2, 0)


def test_pad_equal_to_eos_is_refused():
    tokenizer = load_tokenizer()
    model = XuanYuanForSequenceClassification(tiny_config(tokenizer))
    tokenizer.pad_token = tokenizer.eos_token
    with pytest.raises(ValueError, match="differ from its EOS"):
        check_padding(model, tokenizer)


def tiny_config(tokenizer) -> XuanYuanConfig:
    return XuanYuanConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, num_labels=1, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip


def load_entry_point(name: str):
    return load_script(f"eval/{name}.py")


def test_eval_reward_end_to_end_matches_per_example_forward(tmp_path):
    tokenizer = load_tokenizer()
    torch.manual_seed(0)
    model = XuanYuanForSequenceClassification(tiny_config(tokenizer))
    model.save_pretrained(tmp_path / "rm")
    tokenizer.save_pretrained(tmp_path / "rm")
    records = [
        {"id": "x", "prompt": "资产负债率是多少？", "response_a": "52.8%。", "response_b": "不知道", "label": "A2",
         "category": "fact"},
        {"id": "y", "prompt": "市盈率怎么算？", "response_a": "短", "label": "B3", "category": "calc",
         "response_b": "市盈率 = 每股股价 ÷ 每股收益，代入数据计算可得约为4.1倍，这个数值较低。"},
        {"id": "z", "prompt": "近似平局", "response_a": "甲", "response_b": "乙", "label": "A0", "category": "fact"},
        {"id": "w", "prompt": "你好", "chosen": "您好，有什么可以帮您？", "rejected": "嗯", "category": "calc"},
        {"id": "k", "prompt": "股息率是什么？", "responses": ["股息率 = 每股股利 ÷ 股价。", "一种比率。", "错"]},
    ]  # fmt: skip
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")

    module = load_entry_point("reward")
    config = module.RewardEvalConfig(
        model=str(tmp_path / "rm"), data_files=[str(data)], output_dir=str(tmp_path / "out"), split="all", batch_size=3
    )
    report = module.main(config)

    scores = [json.loads(line) for line in (tmp_path / "out/reward_eval_scores.jsonl").read_text().splitlines()]
    assert [s["id"] for s in scores] == ["x", "y", "w", "k:0>1", "k:0>2", "k:1>2"]
    pairs = {
        "x": ("资产负债率是多少？", "52.8%。", "不知道"),
        "y": ("市盈率怎么算？", records[1]["response_b"], "短"),
        "w": ("你好", "您好，有什么可以帮您？", "嗯"),
        "k:0>1": ("股息率是什么？", "股息率 = 每股股利 ÷ 股价。", "一种比率。"),
        "k:0>2": ("股息率是什么？", "股息率 = 每股股利 ÷ 股价。", "错"),
        "k:1>2": ("股息率是什么？", "一种比率。", "错"),
    }
    model.eval()
    expected_margins = []
    with torch.no_grad():
        for row in scores:
            prompt, chosen, rejected = pairs[row["id"]]
            rewards = []
            for response in (chosen, rejected):
                messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
                ids = encode_conversation(tokenizer, messages)
                assert ids[-1] == tokenizer.eos_token_id
                values = model(input_ids=torch.tensor([ids])).token_scores  # unpadded: the EOS is the last position
                rewards.append(values[0, -1].item())
            assert (row["chosen"], row["rejected"]) == pytest.approx(rewards, abs=1e-5)
            expected_margins.append(rewards[0] - rewards[1])

    assert report["num_pairs"] == 6 and report["dropped_ties"] == 1 and report["split"] == "all"
    assert report["correct"] == sum(m > 0 for m in expected_margins)
    assert report["margin"]["mean"] == pytest.approx(sum(expected_margins) / 6, abs=1e-5)
    assert report["per_category"]["calc"]["num_pairs"] == 2 and report["per_category"]["fact"]["num_pairs"] == 1
    saved = json.loads((tmp_path / "out/reward_eval.json").read_text(encoding="utf-8"))
    assert saved["accuracy"] == report["accuracy"]
    assert "| calc | 2 |" in (tmp_path / "out/reward_eval.md").read_text(encoding="utf-8")
    assert (tmp_path / "out/reward_eval_margins.png").read_bytes()[:4] == b"\x89PNG"


def _evaluation(name: str, accuracy: float, margin: float, in_range: bool):
    from xuanyuan.evaluation.reward_selection import CheckpointEvaluation

    report = {"accuracy": accuracy, "margin": {"mean": margin}, "reward": {"in_range": in_range}}
    return CheckpointEvaluation("finance", 1.0, 1, name, {"finance": report}, {"finance": []})


def test_selection_lets_the_reward_range_decide_only_between_equally_accurate_checkpoints():
    from xuanyuan.evaluation.reward_selection import select_checkpoint

    coin, good, better = (_evaluation("coin", 0.51, 0.01, True), _evaluation("good", 0.83, 2.0, True),
                          _evaluation("best", 0.84, 2.1, False))  # fmt: skip
    chosen = select_checkpoint([coin, better], "finance")  # in range, but far less accurate: never chosen
    assert (chosen["checkpoint"], chosen["reward_in_range"]) == ("best", False)
    chosen = select_checkpoint([coin, good, better], "finance")  # within 0.02 of the best: the range decides
    assert (chosen["checkpoint"], chosen["reward_in_range"]) == ("good", True)
    chosen = select_checkpoint([_evaluation("tie", 0.84, 1.0, False), better], "finance")  # then the margin
    assert chosen["checkpoint"] == "best"


def test_checkpoints_are_scored_at_saved_precision_not_under_training_autocast():
    from accelerate import Accelerator

    from xuanyuan.evaluation.reward_selection import saved_precision

    torch.manual_seed(0)
    model = XuanYuanForSequenceClassification(tiny_config(load_tokenizer()))
    input_ids = torch.randint(3, 200, (2, 12))
    fp32 = model(input_ids=input_ids).logits
    prepared = Accelerator(cpu=True, mixed_precision="bf16").prepare_model(model)
    autocast = prepared(input_ids=input_ids).logits  # accelerate wrapped forward in bf16 autocast
    assert (autocast - fp32).abs().max() > 1e-4
    with saved_precision(prepared):
        torch.testing.assert_close(prepared(input_ids=input_ids).logits, fp32, rtol=0, atol=0)
    torch.testing.assert_close(prepared(input_ids=input_ids).logits, autocast, rtol=0, atol=0)  # wrapper restored
    plain = XuanYuanForSequenceClassification(tiny_config(load_tokenizer()))
    plain.load_state_dict(model.state_dict())
    with saved_precision(plain):  # never prepared: nothing to unwrap
        torch.testing.assert_close(plain(input_ids=input_ids).logits, fp32, rtol=0, atol=0)
