"""The multi-model ensemble: with scripted generators and a scripted scorer, the threshold, every drop reason and
the merge input (exactly the survivors); with a real tiny random reward model, the stored scores against the
model's scores of the same texts computed independently; input errors naming file/line/field; the recipe."""

from __future__ import annotations

import json
import re

import pytest
import torch
from script_loading import REPO, load_script
from synthesis_helpers import ScriptedGenerator, save_tiny_model

from xuanyuan import XuanYuanForCausalLM, XuanYuanForSequenceClassification
from xuanyuan.data.conversations import load_prompts
from xuanyuan.data.records import RecordError
from xuanyuan.data.synthesis.ensemble import EnsembleConfig, ensemble_answers, merge_prompt
from xuanyuan.data.synthesis.prompts import load_templates
from xuanyuan.data.synthesis.runner import SynthesisRun
from xuanyuan.evaluation.generation import Sampling
from xuanyuan.evaluation.judge import RewardModelJudge
from xuanyuan.tokenization import load_tokenizer

TEMPLATES = load_templates("ensemble")
GREEDY = Sampling(max_new_tokens=8)
QUERIES = [
    {"id": "q1", "prompt": [{"role": "user", "content": "什么是市盈率？"}]},
    {"id": "q2", "prompt": [{"role": "user", "content": "久期是什么？"}]},
    {"id": "q3", "prompt": [{"role": "user", "content": "What is a convertible bond?"}]},
    {"id": "q4", "prompt": [{"role": "system", "content": "You are a finance tutor."},
                            {"role": "user", "content": "How is a bond's yield to maturity computed?"}]},
]  # fmt: skip
QUESTION_IDS = {query["prompt"][-1]["content"]: query["id"] for query in QUERIES}
# generator -> query id -> answer ("" = an empty reply); the scripted reward of each answer
ANSWERS = {
    "g1": {"q1": "市盈率是股价除以每股收益。", "q2": "久期衡量利率敏感度。", "q3": "A bond convertible into shares.",
           "q4": "Solve for the rate that prices the cash flows."},
    "g2": {"q1": "市盈率就是股票的价格。", "q2": "久期就是期限。", "q3": "",
           "q4": "It is the IRR of the bond's cash flows at its market price."},
    "g3": {"q1": "市盈率等于总市值除以净利润，反映估值水平。", "q2": "不知道。", "q3": "It is a kind of stock.",
           "q4": "It is the coupon rate."},
}  # fmt: skip
REWARDS = {
    "市盈率是股价除以每股收益。": 0.9, "市盈率就是股票的价格。": 0.2,
    "市盈率等于总市值除以净利润，反映估值水平。": 0.5,  # at the threshold: kept
    "久期衡量利率敏感度。": 0.1, "久期就是期限。": 0.3, "不知道。": -0.5,
    "A bond convertible into shares.": 0.6, "It is a kind of stock.": 0.4,
    "Solve for the rate that prices the cash flows.": 0.8,
    "It is the IRR of the bond's cash flows at its market price.": 0.9, "It is the coupon rate.": 0.1,
}  # fmt: skip
THRESHOLD = 0.5


def scripted(name: str) -> ScriptedGenerator:
    return ScriptedGenerator(name, lambda text, sample: ANSWERS[name][QUESTION_IDS[text]])


class ScriptedScorer:
    def __init__(self):
        self.seen: list[tuple[list[dict], str]] = []

    def __call__(self, prompts, answers):
        self.seen += list(zip(prompts, answers, strict=True))
        return [REWARDS[answer] for answer in answers]


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_ensemble(folder, generators, scorer, merger, queries=QUERIES, sampling=GREEDY, threshold=THRESHOLD):
    run = SynthesisRun(folder, seed=0)
    records = ensemble_answers(run, queries, generators, scorer, "scripted-rm", merger, TEMPLATES,
                               EnsembleConfig(threshold=threshold), sampling, GREEDY, chunk_size=2)  # fmt: skip
    return records, run.finish({"ensemble": records}, [*generators, merger])


def test_threshold_drop_reasons_and_merge_input(tmp_path):
    scorer, merger = ScriptedScorer(), ScriptedGenerator("merger", lambda text, sample: f"合并：{len(text)}")
    records, summary = run_ensemble(tmp_path, [scripted("g1"), scripted("g2"), scripted("g3")], scorer, merger)

    # the merger saw exactly the survivors (score >= 0.5, 0.5 itself included), in generator order
    assert merger.prompts == [
        merge_prompt(TEMPLATES, "zh", QUERIES[0]["prompt"], [ANSWERS["g1"]["q1"], ANSWERS["g3"]["q1"]]),
        merge_prompt(TEMPLATES, "en", QUERIES[3]["prompt"], [ANSWERS["g1"]["q4"], ANSWERS["g2"]["q4"]]),
    ]
    assert ANSWERS["g2"]["q1"] not in merger.prompts[0] and ANSWERS["g3"]["q4"] not in merger.prompts[1]
    # the reward model scored every non-empty answer with the prompt it answered
    expected_pairs = [(q["prompt"], ANSWERS[g][q["id"]]) for q in QUERIES for g in ("g1", "g2", "g3")
                      if ANSWERS[g][q["id"]]]  # fmt: skip
    assert sorted(map(str, scorer.seen)) == sorted(map(str, expected_pairs))

    assert [r["id"] for r in records] == ["q1", "q3", "q4"]
    first, single, english = records
    merged = merger.reply(merger.prompts[0], 0)
    assert first["messages"] == [*QUERIES[0]["prompt"], {"role": "assistant", "content": merged}]
    assert first["category"] == "ensemble"
    assert first["source"] == {
        "answers": [
            {"generator": "g1", "sample": 0, "text": ANSWERS["g1"]["q1"], "score": 0.9, "kept": True},
            {"generator": "g2", "sample": 0, "text": ANSWERS["g2"]["q1"], "score": 0.2, "kept": False},
            {"generator": "g3", "sample": 0, "text": ANSWERS["g3"]["q1"], "score": 0.5, "kept": True},
        ],
        "merged_by": "merger", "merge": "merged", "reward_model": "scripted-rm", "threshold": 0.5,
    }  # fmt: skip
    # one survivor: kept as it is, not merged
    assert single["messages"][-1] == {"role": "assistant", "content": ANSWERS["g1"]["q3"]}
    assert (single["source"]["merge"], single["source"]["merged_by"]) == ("single_survivor", None)
    assert single["source"]["answers"][1] == {"generator": "g2", "sample": 0, "text": "", "score": None, "kept": False}
    assert english["messages"][:2] == QUERIES[3]["prompt"]

    dropped = {(row["step"], row["item"]["id"]): row["reason"] for row in read_jsonl(tmp_path / "dropped.jsonl")}
    assert dropped == {
        ("empty_answer", "q3/g2/0"): "empty_answer: g2 returned no text",
        ("threshold", "q1/g2/0"): "below_threshold: score 0.2 < 0.5",
        ("threshold", "q2/g1/0"): "below_threshold: score 0.1 < 0.5",
        ("threshold", "q2/g2/0"): "below_threshold: score 0.3 < 0.5",
        ("threshold", "q2/g3/0"): "below_threshold: score -0.5 < 0.5",
        ("threshold", "q3/g3/0"): "below_threshold: score 0.4 < 0.5",
        ("threshold", "q4/g3/0"): "below_threshold: score 0.1 < 0.5",
        ("surviving_answers", "q2"): "no_surviving_answer: none of 3 answers reached 0.5 (best score 0.3)",
    }
    funnel = [(s["step"], s["items_in"], s["items_out"], s["dropped"]) for s in summary["funnel"]]
    assert funnel == [
        ("answer", 4, 4, {}),
        ("empty_answer", 12, 11, {"empty_answer": 1}),
        ("score", 11, 11, {}),
        ("threshold", 11, 5, {"below_threshold": 6}),
        ("surviving_answers", 4, 3, {"no_surviving_answer": 1}),
        ("merge", 3, 3, {}),
    ]
    assert summary["generators"]["merger"]["prompts"] == 2


def test_an_empty_merge_is_dropped_with_its_reason(tmp_path):
    merger = ScriptedGenerator("merger", lambda text, sample: "  ")
    records, _ = run_ensemble(tmp_path, [scripted("g1"), scripted("g2")], ScriptedScorer(), merger, QUERIES[3:])
    assert records == []
    [row] = read_jsonl(tmp_path / "dropped.jsonl")
    assert (row["step"], row["reason"]) == ("merge", "empty_merge: merger returned no text")


def test_sampled_answers_are_kept_apart_per_sample(tmp_path):
    generator = ScriptedGenerator("g", lambda text, sample: ["市盈率是股价除以每股收益。", "不知道。"][sample])
    merger = ScriptedGenerator("merger", lambda text, sample: "合并")
    records, _ = run_ensemble(tmp_path, [generator], ScriptedScorer(), merger, QUERIES[:1], Sampling(8, 0.7,
                              num_samples=2), threshold=-1.0)  # fmt: skip
    answers = records[0]["source"]["answers"]
    assert [(a["sample"], a["score"], a["kept"]) for a in answers] == [(0, 0.9, True), (1, -0.5, True)]
    assert merger.prompts == [merge_prompt(TEMPLATES, "zh", QUERIES[0]["prompt"], [a["text"] for a in answers])]


def test_generator_names_must_differ(tmp_path):
    with pytest.raises(ValueError, match="distinct names"):
        run_ensemble(tmp_path, [scripted("g1"), scripted("g1")], ScriptedScorer(), scripted("g2"))


# --- a real reward model -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reward_model(tmp_path_factory):
    return save_tiny_model(XuanYuanForSequenceClassification, tmp_path_factory.mktemp("rm"), seed=3, num_labels=1)


def independent_reward(model, tokenizer, prompt: list[dict], answer: str) -> float:
    """The reward of one unpadded sequence written out in XuanYuan's chat format by hand: the score at its EOS."""
    system = prompt[0]["content"] + "\n " if prompt[0]["role"] == "system" else ""
    text = f"{tokenizer.bos_token}{system}Human: {prompt[-1]['content']} Assistant: {answer}{tokenizer.eos_token}"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).token_scores[0, -1].item()


def test_stored_scores_are_the_reward_models(tmp_path, reward_model):
    tokenizer = load_tokenizer(reward_model)
    model = XuanYuanForSequenceClassification.from_pretrained(reward_model).eval()
    generators = [scripted("g1"), scripted("g2"), scripted("g3")]
    expected = {(q["id"], g.name): independent_reward(model, tokenizer, q["prompt"], ANSWERS[g.name][q["id"]])
                for q in QUERIES for g in generators if ANSWERS[g.name][q["id"]]}  # fmt: skip
    threshold = sorted(expected.values())[len(expected) // 2]  # about half the answers survive
    scorer = RewardModelJudge(model, tokenizer, batch_size=3).score  # batches mix lengths: padding is exercised
    merger = ScriptedGenerator("merger", lambda text, sample: "合并")
    records, _ = run_ensemble(tmp_path, generators, scorer, merger, threshold=threshold)

    stored = {}
    for record in records:
        for answer in record["source"]["answers"]:
            if answer["score"] is not None:
                stored[(record["id"], answer["generator"])] = answer["score"]
                assert answer["kept"] == (answer["score"] >= threshold)
    for row in read_jsonl(tmp_path / "dropped.jsonl"):
        if row["step"] == "threshold":
            stored[(row["item"]["query_id"], row["item"]["generator"])] = row["item"]["score"]
    assert stored.keys() == expected.keys()
    assert [stored[key] for key in expected] == pytest.approx(list(expected.values()), abs=1e-5)


# --- input -------------------------------------------------------------------------------------------------


def write_lines(path, rows) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_queries_from_sft_and_prompt_records(tmp_path):
    path = write_lines(tmp_path / "in.jsonl", [
        {"id": "sft-1", "messages": [{"role": "user", "content": "什么是市盈率？"},
                                     {"role": "assistant", "content": "股价除以每股收益。"}]},
        {"id": "rl-1", "prompt": "久期是什么？", "category": "concept"},
        {"prompt": [{"role": "user", "content": "What is a bond?"}]},
    ])  # fmt: skip
    queries, _ = load_prompts(path)
    assert queries == [
        {"id": "sft-1", "prompt": [{"role": "user", "content": "什么是市盈率？"}], "category": None},  # no reply
        {"id": "rl-1", "prompt": [{"role": "user", "content": "久期是什么？"}], "category": "concept"},
        {"id": "in.jsonl:3", "prompt": [{"role": "user", "content": "What is a bond?"}], "category": None},
    ]


@pytest.mark.parametrize(
    ("rows", "line", "field", "problem"),
    [
        ([{"id": "a", "prompt": "久期？"}, {"id": "b", "prompt": ""}], 2, "prompt", "expected a non-empty"),
        ([{"id": "a", "question": "久期？"}], 1, "prompt", "missing"),
        ([{"messages": [{"role": "assistant", "content": "你好"}]}], 1, "messages", "expected turns ending"),
        ([{"prompt": [{"role": "user", "content": ""}]}], 1, "prompt[0].content", "expected a non-empty string"),
        ([{"id": "a", "prompt": "久期？"}, {"id": "a", "prompt": "复利？"}], 2, "id", "duplicate id 'a'"),
    ],
)
def test_bad_input_names_file_line_and_field(tmp_path, rows, line, field, problem):
    path = write_lines(tmp_path / "bad.jsonl", rows)
    with pytest.raises(RecordError, match=re.escape(f"{path}, line {line}, field {field!r}: {problem}")):
        load_prompts(path)


# --- the recipe --------------------------------------------------------------------------------------------


def test_recipe_with_local_generators_and_reward_model(tmp_path, reward_model):
    from xuanyuan.cli import parse_recipe_args

    recipe = load_script("recipes/ensemble_answers.py")
    chat_a = save_tiny_model(XuanYuanForCausalLM, tmp_path / "chat_a", seed=0)
    chat_b = save_tiny_model(XuanYuanForCausalLM, tmp_path / "chat_b", seed=1)
    data = write_lines(tmp_path / "queries.jsonl", QUERIES[:3])
    argv = ["--config", str(REPO / "recipes/tiny/ensemble_answers.yaml"), "--input_files", data,
            "--generators", str(chat_a), str(chat_b), "--merger", "", "--reward_model", str(reward_model),
            "--output_dir", str(tmp_path / "out"), "--threshold", "-1000", "--max_new_tokens", "6",
            "--merge_max_new_tokens", "6"]  # fmt: skip
    (arguments,) = parse_recipe_args([recipe.EnsembleArguments], argv=argv)
    summary = recipe.main(arguments)

    model = XuanYuanForSequenceClassification.from_pretrained(reward_model).eval()
    tokenizer = load_tokenizer(reward_model)
    records = read_jsonl(tmp_path / "out/ensemble.jsonl")
    scored = [(r, a) for r in records for a in r["source"]["answers"] if a["score"] is not None]
    assert scored, "the tiny models answered nothing"
    for record, answer in scored:
        prompt = record["messages"][:-1]
        assert answer["kept"] and answer["score"] == pytest.approx(
            independent_reward(model, tokenizer, prompt, answer["text"]), abs=1e-5
        )
    for record in records:
        kept = [a for a in record["source"]["answers"] if a["kept"]]
        assert record["source"]["merged_by"] == (str(chat_a) if len(kept) > 1 else None)  # merger: first generator
    assert summary["generators"][str(chat_a)]["prompts"] == 3 + sum(r["source"]["merge"] == "merged" for r in records)
