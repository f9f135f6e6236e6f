"""Preference loading: the A3…B3 mapping, near-tie dropping, ranked expansion, errors naming file/line/field,
the prompt-level split, and the chat-template rendering the reward model sees."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from xuanyuan.data.embedded import EmbeddedDataConfig
from xuanyuan.data.embedded.preferences import build_preferences
from xuanyuan.data.embedded.world import build_world
from xuanyuan.data.preferences import (
    LABELS,
    encode_conversation,
    load_preference_pairs,
    split_by_prompt,
)
from xuanyuan.data.records import RecordError
from xuanyuan.tokenization import load_tokenizer


def write_jsonl(path: Path, records: list) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("label", LABELS)
def test_each_label_maps_to_chosen_rejected_and_strength(tmp_path, label):
    path = write_jsonl(
        tmp_path / "p.jsonl", [{"prompt": "问", "response_a": "甲", "response_b": "乙", "label": label}]
    )
    data = load_preference_pairs(path, drop_ties=False)
    (pair,) = data.pairs
    expected = ("甲", "乙") if label.startswith("A") else ("乙", "甲")
    assert (pair.chosen, pair.rejected) == expected
    assert pair.strength == int(label[1])
    assert pair.prompt == ({"role": "user", "content": "问"},)


def test_near_ties_are_dropped_by_default_and_counted(tmp_path):
    records = [
        {"id": f"r{i}", "prompt": f"问{i}", "response_a": "甲", "response_b": "乙", "label": label}
        for i, label in enumerate(["A0", "B0", "A2", "B3", "A0"])
    ]
    path = write_jsonl(tmp_path / "p.jsonl", records)
    data = load_preference_pairs(path)
    assert [p.id for p in data.pairs] == ["r2", "r3"] and data.dropped_ties == 3
    assert len(load_preference_pairs(path, drop_ties=False).pairs) == 5


def test_ranked_records_expand_to_every_ordered_pair(tmp_path):
    record = {"id": "k", "prompt": "问", "responses": ["最好", "较好", "一般", "最差"], "category": "c"}
    data = load_preference_pairs(write_jsonl(tmp_path / "r.jsonl", [record]))
    got = [(p.id, p.chosen, p.rejected) for p in data.pairs]
    assert got == [
        ("k:0>1", "最好", "较好"),
        ("k:0>2", "最好", "一般"),
        ("k:0>3", "最好", "最差"),
        ("k:1>2", "较好", "一般"),
        ("k:1>3", "较好", "最差"),
        ("k:2>3", "一般", "最差"),
    ]
    assert {p.category for p in data.pairs} == {"c"} and {p.strength for p in data.pairs} == {None}


def test_plain_records_accept_messages_and_trl_response_lists(tmp_path):
    messages = [{"role": "system", "content": "系统"}, {"role": "user", "content": "问"}]
    records = [
        {"messages": messages, "chosen": "好", "rejected": "差"},
        {"prompt": "问二", "chosen": [{"role": "assistant", "content": "好"}], "rejected": "差"},
    ]
    first, second = load_preference_pairs(write_jsonl(tmp_path / "c.jsonl", records)).pairs
    assert first.prompt == tuple(messages) and first.id == "c.jsonl:1"
    assert (second.chosen, second.rejected) == ("好", "差")
    assert second.to_trl() == {
        "prompt": [{"role": "user", "content": "问二"}],
        "chosen": [{"role": "assistant", "content": "好"}],
        "rejected": [{"role": "assistant", "content": "差"}],
    }


BAD_RECORDS = [
    ({"prompt": "问", "response_a": "甲", "label": "A1"}, "response_b", "missing"),
    ({"prompt": "问", "response_a": "甲", "response_b": "乙", "label": "C2"}, "label", "unknown label"),
    ({"prompt": "问", "response_a": "甲", "response_b": "乙"}, "label", "missing"),
    ({"prompt": "问", "response_a": "同", "response_b": "同", "label": "A3"}, "response_b", "identical"),
    ({"prompt": "问", "chosen": "同", "rejected": "同"}, "rejected", "identical"),
    ({"prompt": "问", "chosen": "好"}, "rejected", "missing"),
    ({"prompt": "问", "chosen": " ", "rejected": "差"}, "chosen", "non-empty"),
    ({"chosen": "好", "rejected": "差"}, "messages", "missing"),
    ({"prompt": "", "chosen": "好", "rejected": "差"}, "prompt", "non-empty"),
    (
        {
            "messages": [{"role": "user", "content": "问"}, {"role": "assistant", "content": "答"}],
            "chosen": "好",
            "rejected": "差",
        },
        "messages",
        "user's turn",
    ),  # fmt: skip
    (
        {"prompt": [{"role": "bot", "content": "问"}], "chosen": "好", "rejected": "差"},
        "prompt[0].role",
        "expected one of",
    ),
    ({"prompt": "问", "responses": ["一", "二", "一"]}, "responses", "0 and 2 are identical"),
    ({"prompt": "问", "responses": ["一"]}, "responses", "at least two"),
    ({"prompt": "问", "responses": ["一", 2]}, "responses", "response 1"),
    ({"prompt": "问", "chosen": "好", "rejected": "差", "category": 3}, "category", "expected a string"),
    ({"prompt": "问", "answer": "好"}, None, "not a preference record"),
]


@pytest.mark.parametrize(("record", "field", "problem"), BAD_RECORDS)
def test_bad_records_name_file_line_and_field(tmp_path, record, field, problem):
    good = {"prompt": "问", "chosen": "好", "rejected": "差"}
    path = write_jsonl(tmp_path / "bad.jsonl", [good, record])
    with pytest.raises(RecordError) as caught:
        load_preference_pairs(path)
    error = caught.value
    assert (error.path, error.line, error.field) == (str(path), 2, field)
    assert problem in error.problem and "bad.jsonl, line 2" in str(error)


def test_skipping_counts_and_writes_bad_records_aside(tmp_path):
    good = {"prompt": "问", "chosen": "好", "rejected": "差"}
    same = {"prompt": "问", "chosen": "同", "rejected": "同"}
    path = write_jsonl(tmp_path / "mixed.jsonl", [good, "{not json", same, good])
    data = load_preference_pairs(path, on_bad_record="skip")
    assert len(data.pairs) == 2 and [(r["line"], r["field"]) for r in data.skipped] == [(2, None), (3, "rejected")]
    aside = tmp_path / "out" / "skipped.jsonl"
    data.write_skipped(aside)
    rows = [json.loads(line) for line in aside.read_text(encoding="utf-8").splitlines()]
    assert [(r["path"], r["line"], r["field"], r["record"]) for r in rows] == [
        (str(path), 2, None, None),
        (str(path), 3, "rejected", same),
    ]
    with pytest.raises(ValueError, match="on_bad_record must be 'error' or 'skip', got 'ignore'"):
        load_preference_pairs(path, on_bad_record="ignore")


def test_embedded_preference_files_load_completely(tmp_path):
    small = EmbeddedDataConfig(n_companies=16, n_preference_pairs=120, n_ranked=10, n_rl_prompts=20)
    world = build_world(random.Random("1:world"), small)
    pairs, ranked, _ = build_preferences(random.Random("1:preferences"), world, small)
    files = [write_jsonl(tmp_path / "pairs.jsonl", pairs), write_jsonl(tmp_path / "ranked.jsonl", ranked)]
    data = load_preference_pairs(files)
    ties = sum(p["label"][1] == "0" for p in pairs)
    assert data.dropped_ties == ties > 0 and not data.skipped
    assert len(data.pairs) == len(pairs) - ties + 6 * len(ranked)
    by_id = {p.id: p for p in data.pairs}
    for record in pairs:
        if record["label"][1] != "0":
            better = record["response_a"] if record["label"][0] == "A" else record["response_b"]
            assert by_id[record["id"]].chosen == better and by_id[record["id"]].category == record["category"]


def test_split_by_prompt_has_no_leakage_and_is_seeded_and_order_free(tmp_path):
    records = [{"prompt": f"问题{i // 3}", "chosen": f"好{i}", "rejected": f"差{i}"} for i in range(300)]
    pairs = load_preference_pairs(write_jsonl(tmp_path / "p.jsonl", records)).pairs
    train, test = split_by_prompt(pairs, test_fraction=0.1, seed=0)
    train_prompts = {p.prompt[0]["content"] for p in train}
    test_prompts = {p.prompt[0]["content"] for p in test}
    assert not train_prompts & test_prompts and len(test_prompts) == 10 and len(test) == 30
    assert len(train) + len(test) == len(pairs)
    shuffled = pairs[::-1]
    assert {p.id for p in split_by_prompt(shuffled, 0.1, seed=0)[1]} == {p.id for p in test}
    assert {p.id for p in split_by_prompt(pairs, 0.1, seed=1)[1]} != {p.id for p in test}


def test_reward_model_input_is_the_chat_template_ending_in_eos():
    tokenizer = load_tokenizer()
    records = [{"role": "user", "content": "睿舟物流的总资产？"}, {"role": "assistant", "content": "1240.7亿元。"}]
    ids = encode_conversation(tokenizer, records)
    assert tokenizer.decode(ids) == "<s>Human: 睿舟物流的总资产？ Assistant: 1240.7亿元。</s>"
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
    assert ids[-1] == tokenizer.eos_token_id != tokenizer.pad_token_id
