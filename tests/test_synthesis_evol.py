"""Evol-Instruct: each elimination rule on crafted rewrites and answers with hand-derived verdicts, the seeded
operation draw (reproducible per seed, exact on resume), rounds building on the survivors through the runner's
funnel with a scripted generator, input errors naming file/line/field, and the recipe with a tiny local model."""

from __future__ import annotations

import json
import re

import pytest
from script_loading import REPO, load_script
from synthesis_helpers import ScriptedGenerator, save_tiny_model

from xuanyuan import XuanYuanForCausalLM
from xuanyuan.data.records import RecordError
from xuanyuan.data.synthesis.evol import (
    OPERATIONS,
    EvolConfig,
    answer_verdict,
    draw_operations,
    evolve_questions,
    load_questions,
    rewrite_verdict,
    similarity,
)
from xuanyuan.data.synthesis.prompts import load_templates, render
from xuanyuan.data.synthesis.runner import SynthesisRun, chunk_seed
from xuanyuan.evaluation.generation import Sampling

TEMPLATES = load_templates("evol")
SAMPLING = Sampling(max_new_tokens=8)
QUESTION_MARKERS = ("#原问题#", "#参考问题#", "#Given Question#", "#Reference Question#")


# --- rules -------------------------------------------------------------------------------------------------


def test_similarity_is_difflib_ratio_with_whitespace_collapsed():
    assert similarity("ABCD", "ABCDEF") == pytest.approx(2 * 4 / 10)
    assert similarity("ABCD", "WXYZ") == 0.0
    assert similarity("A  B\n", "A B") == 1.0


@pytest.mark.parametrize(
    ("base", "rewrite", "max_similarity", "expected"),
    [
        ("什么是市盈率？", "什么是市盈率？", 0.9, "no_change: similarity 1.000 >= 0.9 to the question it rewrites"),
        ("什么是市盈率？", " 什么是市盈率？\n", 0.9, "no_change: similarity 1.000 >= 0.9 to the question it rewrites"),
        # one character of 18 replaced: 2 * 17 / 36 = 0.944
        ("请解释什么是市盈率以及它的计算方法。", "请解释什么是市净率以及它的计算方法。", 0.9,
         "no_change: similarity 0.944 >= 0.9 to the question it rewrites"),
        ("ABCD", "ABCDEF", 0.8, "no_change: similarity 0.800 >= 0.8 to the question it rewrites"),  # 8 / 10
        ("ABCD", "ABCDEF", 0.81, None),
        # 2 * 7 / (7 + 25) = 0.4375: a real rewrite
        ("什么是市盈率？", "什么是市盈率？请以一家上市银行为例说明它的计算方法。", 0.9, None),
        ("什么是市盈率？", "#Rewritten Prompt#: 请以一家上市银行为例说明市盈率的计算方法。", 0.9,
         "copied_prompt: contains '#Rewritten Prompt#'"),
        ("What is a P/E ratio?", "As the GIVEN PROMPT asks, how is the P/E ratio of a bank computed from its filings?",
         0.9, "copied_prompt: contains 'given prompt'"),
        ("什么是市盈率？", "改写后的问题：市盈率如何计算，银行和科技公司的市盈率为何差别很大？", 0.9,
         "copied_prompt: contains '改写后的问题'"),
        ("什么是市盈率？", "  \n", 0.9, "empty_rewrite: the generator returned no question"),
    ],
)  # fmt: skip
def test_rewrite_rules(base, rewrite, max_similarity, expected):
    assert rewrite_verdict(base, rewrite, EvolConfig(max_similarity=max_similarity)) == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("", "unusable_answer: empty"),
        ("   ", "unusable_answer: empty"),
        ("好的。", "unusable_answer: 2 letters or digits < 10"),
        ("。。。！？……", "unusable_answer: 0 letters or digits < 10"),
        ("抱歉，这个问题涉及的数据我无法获得，请咨询专业人士。", "unusable_answer: refusal '抱歉'"),
        ("SORRY, there is no public data about this company.", "unusable_answer: refusal 'sorry'"),
        ("I cannot give investment advice on specific stocks.", "unusable_answer: refusal 'I cannot'"),
        ("市盈率等于股价除以每股收益，反映投资者为一元利润支付的价格。", None),
    ],
)
def test_answer_rules(answer, expected):
    assert answer_verdict(answer, EvolConfig()) == expected


def test_answer_rules_follow_the_configured_lists():
    config = EvolConfig(refusal_phrases=["不清楚"], min_answer_chars=3)
    assert answer_verdict("我不清楚该公司的市盈率是多少。", config) == "unusable_answer: refusal '不清楚'"
    assert answer_verdict("抱歉，让您久等了，市盈率是二十倍。", config) is None
    assert answer_verdict("好的。", config) == "unusable_answer: 2 letters or digits < 3"
    assert rewrite_verdict("久期？", "久期是什么？#新问题#", EvolConfig(copied_phrases=["原问题"])) is None


def test_config_is_checked():
    with pytest.raises(ValueError, match="operations"):
        EvolConfig(operations=["deepen", "shorten"])
    with pytest.raises(ValueError, match="max_similarity"):
        EvolConfig(max_similarity=1.5)
    with pytest.raises(ValueError, match="language"):
        EvolConfig(language="fr")


# --- the operation draw ------------------------------------------------------------------------------------


def test_operation_draw_is_reproducible_per_seed():
    first = draw_operations(7, 40, OPERATIONS)
    assert first == draw_operations(7, 40, OPERATIONS)
    assert first != draw_operations(8, 40, OPERATIONS)
    assert set(first) == set(OPERATIONS)  # 40 draws of 5: every operation comes up
    assert draw_operations(7, 5, ["breadth"]) == ["breadth"] * 5


def suffixing_generator(name: str = "scripted") -> ScriptedGenerator:
    """Rewrites by adding a clause (always kept), answers at length."""

    def reply(text: str, sample: int) -> str:
        base = _base(text)
        return f"{base}请结合具体数据分步骤说明理由。" if base else f"这是一个足够详细的回答：{text}"

    return ScriptedGenerator(name, reply)


def _base(prompt: str) -> str | None:
    """The question a rewriting prompt asks to rewrite (the line after its marker); None for an answer prompt."""
    lines = prompt.split("\n")
    marker = next((m for m in QUESTION_MARKERS if m in lines), None)
    return lines[lines.index(marker) + 1] if marker else None


def evolve(run, questions, generator, rounds=1, chunk_size=16):
    config = EvolConfig(rounds=rounds)
    return evolve_questions(run, questions, generator, TEMPLATES, config, SAMPLING, SAMPLING, chunk_size)


def test_operations_come_from_the_runner_chunk_seed(tmp_path):
    questions = [{"id": f"q{i}", "question": f"第{i}种金融工具有什么特点？"} for i in range(12)]
    by_seed = {}
    for seed in (0, 1):
        records = evolve(SynthesisRun(tmp_path / str(seed), seed=seed), questions, suffixing_generator())
        by_seed[seed] = [record["source"]["operation"] for record in records]
        assert by_seed[seed] == draw_operations(chunk_seed(seed, "evolve_r1", 0), 12, OPERATIONS)
    assert by_seed[0] != by_seed[1]


class FailingAfter(ScriptedGenerator):
    """Fails on its call number `calls + 1`, as a killed or over-budget run would."""

    def __init__(self, calls: int):
        super().__init__("scripted", suffixing_generator().reply)
        self.calls = calls

    def complete(self, prompts, sampling, seed=None):
        if len(self.seeds) == self.calls:
            raise RuntimeError("connection lost")
        return super().complete(prompts, sampling, seed)


def test_a_resumed_run_writes_what_an_uninterrupted_one_does(tmp_path):
    questions = [{"id": f"q{i}", "question": f"第{i}种金融工具有什么特点？"} for i in range(7)]
    whole = evolve(SynthesisRun(tmp_path / "whole", seed=3), questions, suffixing_generator(), rounds=2, chunk_size=2)
    # 4 evolve + 4 answer chunks per round: stop in round 2, after its first two evolve chunks
    with pytest.raises(RuntimeError, match="connection lost"):
        evolve(SynthesisRun(tmp_path / "resumed", seed=3), questions, FailingAfter(10), rounds=2, chunk_size=2)
    again = suffixing_generator()
    assert evolve(SynthesisRun(tmp_path / "resumed", seed=3), questions, again, rounds=2, chunk_size=2) == whole
    assert len(again.seeds) == 16 - 10  # only the unfinished chunks were asked again
    assert [r["id"] for r in whole] == [f"q{i}-evol{n}" for n in (1, 2) for i in range(7)]


# --- rounds through the runner -----------------------------------------------------------------------------

QUESTIONS = [
    {"id": "q1", "question": "什么是市盈率？"},
    {"id": "q2", "question": "久期是什么？"},
    {"id": "q3", "question": "怎样计算复利？"},
    {"id": "q4", "question": "可转债有哪些风险？"},
    {"id": "en", "question": "What is a bond's duration?"},
]
ROUND_1 = "什么是市盈率？请以一家上市银行为例，分步骤说明它的计算方法。"
ROUND_2 = "什么是市盈率？请以一家上市银行为例，分步骤说明它的计算方法，并比较它与市净率在银行估值中的作用。"
EN_1 = "What is a bond's duration, and how much does its price move when rates rise by one percentage point?"
EN_2 = EN_1 + " Work it out for a five-year bond paying a 3% annual coupon, showing each step."
REWRITES = {
    "什么是市盈率？": ROUND_1,
    ROUND_1: ROUND_2,
    "久期是什么？": "久期是什么？",  # no change
    "怎样计算复利？": "#改写后的问题#\n怎样计算复利，并以三年期定期存款为例？",  # echoes the prompt's marker
    "可转债有哪些风险？": "可转债有哪些风险？请分别说明信用风险和利率风险的来源。",  # answered with a refusal
    QUESTIONS[4]["question"]: EN_1,
    EN_1: EN_2,
}


def scripted_reply(text: str, sample: int) -> str:
    base = _base(text)
    if base is not None:
        return REWRITES[base]
    if text.startswith("可转债"):
        return "抱歉，我无法回答这个问题。"
    return f"这是一个包含足够多文字的回答：{text}"


def test_rounds_keep_survivors_and_drop_by_rule(tmp_path):
    run = SynthesisRun(tmp_path, seed=5)
    generator = ScriptedGenerator("teacher", scripted_reply)
    records = evolve(run, QUESTIONS, generator, rounds=2)
    summary = run.finish({"evol_instruct": records}, [generator])

    assert [r["id"] for r in records] == ["q1-evol1", "en-evol1", "q1-evol2", "en-evol2"]
    first, _, second, english = records
    assert first["messages"] == [
        {"role": "user", "content": ROUND_1},
        {"role": "assistant", "content": f"这是一个包含足够多文字的回答：{ROUND_1}"},
    ]
    assert first["category"] == "evol_instruct"
    assert first["source"]["round"] == 1 and first["source"]["parent"] == "什么是市盈率？"
    assert second["source"]["round"] == 2 and second["source"]["parent"] == ROUND_1  # builds on the survivor
    assert english["messages"][0]["content"] == EN_2
    assert {r["source"]["original_id"] for r in records} == {"q1", "en"}
    assert {r["source"]["generator"] for r in records} == {"teacher"}
    for record in records:  # the recorded operation is the template the generator was given, in its language
        source = record["source"]
        language = "en" if source["original_id"] == "en" else "zh"
        prompt = render(TEMPLATES, language, source["operation"], question=source["parent"])
        assert prompt in generator.prompts

    dropped = [json.loads(line) for line in (tmp_path / "dropped.jsonl").read_text(encoding="utf-8").splitlines()]
    reasons = {(row["step"], row["item"]["id"]): row["reason"] for row in dropped}
    expected_rules = {}
    for n in (1, 2):
        expected_rules[(f"rewrite_checks_r{n}", "q2")] = "no_change"
        expected_rules[(f"rewrite_checks_r{n}", "q3")] = "copied_prompt"
        expected_rules[(f"answer_checks_r{n}", "q4")] = "unusable_answer"
    assert {key: reason.partition(":")[0] for key, reason in reasons.items()} == expected_rules
    assert reasons[("answer_checks_r1", "q4")] == "unusable_answer: refusal '抱歉'"
    # a failed question evolves again from where it was
    round_2 = {row["item"]["id"]: row["item"] for row in dropped if row["step"].endswith("_r2")}
    assert round_2["q2"]["parent"] == "久期是什么？" and round_2["q4"]["parent"] == "可转债有哪些风险？"

    funnel = {step["step"]: step for step in summary["funnel"]}
    assert funnel["rewrite_checks_r1"] == {"step": "rewrite_checks_r1", "items_in": 5, "items_out": 3,
                                           "dropped": {"copied_prompt": 1, "no_change": 1}}  # fmt: skip
    assert funnel["answer_checks_r2"]["dropped"] == {"unusable_answer": 1}
    assert summary["outputs"] == {"evol_instruct": 4} and summary["dropped"] == 6


# --- input -------------------------------------------------------------------------------------------------


def write_lines(path, rows) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")  # fmt: skip
    return str(path)


def test_questions_from_sft_and_question_records(tmp_path):
    path = write_lines(tmp_path / "in.jsonl", [
        {"id": "sft-1", "messages": [{"role": "system", "content": "你是金融助手。"},
                                     {"role": "user", "content": "什么是市盈率？"},
                                     {"role": "assistant", "content": "股价除以每股收益。"},
                                     {"role": "user", "content": "举个例子？"},
                                     {"role": "assistant", "content": "略。"}]},
        {"id": 7, "question": "久期是什么？"},
        {"question": "可转债有哪些风险？"},
    ])  # fmt: skip
    questions, report = load_questions(path)
    assert questions == [
        {"id": "sft-1", "question": "什么是市盈率？"},  # the first user turn
        {"id": "7", "question": "久期是什么？"},
        {"id": "in.jsonl:3", "question": "可转债有哪些风险？"},
    ]
    assert report.kept == 3


@pytest.mark.parametrize(
    ("rows", "line", "field", "problem"),
    [
        ([{"id": "a", "question": "久期？"}, {"id": "b", "question": ""}], 2, "question", "expected a non-empty"),
        ([{"id": "a", "text": "久期？"}], 1, "question", "missing"),
        ([{"messages": [{"role": "assistant", "content": "你好"}]}], 1, "messages", "expected turns ending"),
        ([{"messages": [{"role": "banker", "content": "你好"}]}], 1, "messages[0].role", "expected one of"),
        ([{"id": "a", "question": "久期？"}, {"id": "a", "question": "复利？"}], 2, "id", "duplicate id 'a'"),
    ],
)
def test_bad_input_names_file_line_and_field(tmp_path, rows, line, field, problem):
    path = write_lines(tmp_path / "bad.jsonl", rows)
    with pytest.raises(RecordError, match=re.escape(f"{path}, line {line}, field {field!r}: {problem}")):
        load_questions(path)


def test_bad_lines_can_be_set_aside(tmp_path):
    path = write_lines(tmp_path / "mixed.jsonl", [{"id": "a", "question": "久期？"}, "{not json", {"id": "b"}])
    questions, report = load_questions(path, on_bad_record="skip", rejects_path=tmp_path / "rejects.jsonl")
    assert [q["id"] for q in questions] == ["a"]
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["field"]) for r in rejects] == [(2, None), (3, "question")]


# --- the recipe --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_chat_model(tmp_path_factory):
    return save_tiny_model(XuanYuanForCausalLM, tmp_path_factory.mktemp("chat"))


def test_recipe_runs_a_local_model_and_accounts_for_every_question(tmp_path, tiny_chat_model):
    from xuanyuan.cli import parse_recipe_args

    recipe = load_script("recipes/evol_instruct.py")
    data = write_lines(tmp_path / "questions.jsonl", QUESTIONS)
    argv = ["--config", str(REPO / "recipes/tiny/evol_instruct.yaml"), "--input_files", data,
            "--generator", str(tiny_chat_model), "--output_dir", str(tmp_path / "out"), "--rounds", "1",
            "--evolve_max_new_tokens", "6", "--answer_max_new_tokens", "6"]  # fmt: skip
    (arguments,) = parse_recipe_args([recipe.EvolArguments], argv=argv)
    summary = recipe.main(arguments)

    records = [json.loads(line) for line in (tmp_path / "out/evol_instruct.jsonl").read_text("utf-8").splitlines()]
    dropped = (tmp_path / "out/dropped.jsonl").read_text("utf-8").splitlines()
    assert len(records) + len(dropped) == len(QUESTIONS)  # every question is kept or set aside with its reason
    assert summary["generators"][str(tiny_chat_model)]["prompts"] == 5 + summary["funnel"][1]["items_out"]
    assert summary["questions"] == {"kept": 5, "skipped": 0, "problems": {}, "rejects": None}
    assert (tmp_path / "out/funnel.md").read_text("utf-8").startswith("| step | in | out |")
