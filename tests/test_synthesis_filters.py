"""The synthesis filters on crafted pairs: every rule drops what it should with the reason written out by hand, keeps
good pairs, and the near-duplicate rule agrees with exact pairwise Jaccard (the slow reference)."""

from __future__ import annotations

import json

import pytest

from xuanyuan.data.processing.dedup import DedupConfig, near_duplicate_roots
from xuanyuan.data.processing.dedup_eval import components, planted_corpus, true_duplicate_edges
from xuanyuan.data.synthesis.filters import (
    RULES,
    FilterConfig,
    filter_pairs,
    grounding,
    is_question,
    malformed,
    near_duplicates,
    refers_to_text,
    too_long,
    too_short,
    ungrounded,
    wrong_language,
)
from xuanyuan.data.synthesis.runner import SynthesisRun

CONFIG = FilterConfig()


@pytest.mark.parametrize(
    "instruction, answer, reason",
    [
        ("华瑞科技的董事长是谁？", "李明。", None),
        ("请介绍一下市盈率", "市盈率是股价与每股收益之比。", None),  # a request counts as a question
        ("What is the P/E ratio", "Price over earnings per share.", None),  # question word first, no mark
        ("   ", "李明。", "malformed: empty instruction"),
        ("华瑞科技的董事长是谁？", "\n", "malformed: empty answer"),
        ("1. 2. 3？", "李明。", "malformed: the instruction has no words: '1. 2. 3？'"),
        ("华瑞科技成立于2005年。", "对。", "malformed: the instruction is not a question: '华瑞科技成立于2005年。'"),
        ("The P/E ratio is high.", "Yes.", "malformed: the instruction is not a question: 'The P/E ratio is high.'"),
    ],
)
def test_malformed(instruction, answer, reason):
    assert malformed(instruction, answer, CONFIG) == reason


def test_statements_pass_when_questions_are_not_required():
    assert not is_question("写一段关于市盈率的说明。")
    assert malformed("写一段关于市盈率的说明。", "市盈率……", FilterConfig(require_question=False)) is None


def test_lengths_count_characters_of_each_field_against_its_own_bounds():
    config = FilterConfig(min_instruction_chars=5, max_instruction_chars=8, min_answer_chars=3, max_answer_chars=6)
    assert too_short("市盈率是啥", "一二三", config) is None  # exactly the minimums
    assert too_short(" 市盈率？ ", "一二三", config) == "too_short: the instruction has 4 characters (< 5)"
    assert too_short("市盈率是什么？", "一二", config) == "too_short: the answer has 2 characters (< 3)"
    assert too_long("市盈率是什么意思？", "一", config) == "too_long: the instruction has 9 characters (> 8)"
    assert too_long("市盈率是什么？", "一二三四五六七", config) == "too_long: the answer has 7 characters (> 6)"
    assert too_long("市盈率是什么意思", "一二三四五六", config) is None  # exactly the maximums


@pytest.mark.parametrize(
    "instruction, found",
    [
        ("根据材料，华瑞科技的董事长是谁？", "根据材料"),
        ("上文提到的公司成立于哪一年？", "上文"),
        ("According  to the TEXT, who chairs Orion Bank?", "According  to the TEXT"),
        ("What does the passage above say about rates?", "the passage above"),
        ("营收增长50%以上的公司有哪些？", None),  # 以上 here means "more than"
        ("材料行业的龙头公司是谁？", None),  # the materials industry
        ("市盈率在英文中怎么说？", None),
        ("Which firms lead in the textile industry?", None),  # "in the text" only as whole words
    ],
)
def test_refers_to_text(instruction, found):
    expected = None if found is None else f"refers_to_text: {found!r} in {instruction!r}"
    assert refers_to_text(instruction, CONFIG) == expected


def test_wrong_language_judges_instruction_and_answer_with_enough_letters():
    assert wrong_language("华瑞科技的董事长是谁？", "李明。", "zh", CONFIG) is None
    assert wrong_language("市盈率的英文缩写是什么？", "P/E", "zh", CONFIG) is None  # 2 letters: not judged
    english = "It is the price-to-earnings ratio."
    assert wrong_language("市盈率是什么？", english, "zh", CONFIG) == "wrong_language: the answer is en, expected zh"
    question = "Who chairs Huarui Technology?"
    assert wrong_language(question, "李明。", "zh", CONFIG) == "wrong_language: the instruction is en, expected zh"
    # 10 Han of 19 letters is above the 0.3 share that makes a text zh
    assert wrong_language("Who chairs Orion Bank?", "奥利安银行的董事长是Alice Wong。", "en", CONFIG) == (
        "wrong_language: the answer is zh, expected en"
    )


def test_grounding_is_the_share_of_answer_ngrams_in_the_reference():
    reference = "公司：鸿砚银行；董事长：谢刚明。"  # simplified: 公司鸿砚银行董事长谢刚明
    # 鸿砚银行的董事长是谢刚明: 11 bigrams, of which 鸿砚 砚银 银行 董事 事长 谢刚 刚明 are in the reference
    assert grounding("鸿砚银行的董事长是谢刚明。", reference, 2) == pytest.approx(7 / 11)
    assert ungrounded("鸿砚银行的董事长是谢刚明。", reference, CONFIG) is None
    # 15 bigrams, only 银行 in the reference: 1/15 = 7%
    assert ungrounded("该银行员工约有一万两千人，规模很大。", reference, CONFIG) == (
        "ungrounded: 7% of the answer's character 2-grams are in the reference (< 50%)"
    )
    english = "Orion Bank was founded in 1998. Its chairman is Alice Wong."
    assert ungrounded("It was founded in 1998.", english, CONFIG) is None  # every 4-gram of itwasfoundedin1998
    # itwasfoundedin1998 vs orionbankopenedin1998: edin din1 in19 n199 1998, 5 of its 15 4-grams
    assert ungrounded("It was founded in 1998.", "Orion Bank opened in 1998.", CONFIG) == (
        "ungrounded: 33% of the answer's character 4-grams are in the reference (< 50%)"
    )
    assert grounding("是", reference, 2) is None  # no bigram: left to too_short


def test_near_duplicates_keep_the_first_of_each_group():
    ids = ["q1", "q2", "q3", "q4", "q5"]
    texts = [
        "华瑞科技的董事长是谁？",
        "华瑞科技的董事长是谁呢？",  # 3-gram Jaccard 8/9 with q1
        "华瑞科技的总经理是谁？",  # 3/13 with q1
        "华瑞科技的董事长是谁",  # the same text as q1 once punctuation goes
        "鸿砚银行的董事长是谁呢？",
    ]
    assert near_duplicates(ids, texts, CONFIG) == [None, "near_duplicate: of q1", None, "near_duplicate: of q1", None]
    assert near_duplicates(ids, texts, FilterConfig(near_duplicate_threshold=0.95))[:2] == [None, None]


def test_in_memory_near_dedup_matches_exact_jaccard_components():
    """Exact verification: every group found is inside a true component; LSH misses none of the pairs above 0.85
    (a pair at 0.85 escapes all 32 bands of 6 rows with probability (1 - 0.85^6)^32 < 1e-6)."""
    docs = planted_corpus(300, seed=3)
    config = DedupConfig()
    texts = {doc.id: doc.text for doc in docs}
    edges = true_duplicate_edges(texts, config)
    roots = near_duplicate_roots([doc.text for doc in docs], config)
    found = {}
    for doc, root in zip(docs, roots, strict=True):
        found.setdefault(docs[root].id, set()).add(doc.id)
    true_component = {doc_id: frozenset(group) for group in components(list(texts), edges) for doc_id in group}
    for group in found.values():
        assert group <= true_component[next(iter(group))]
    strong = {pair for pair, value in edges.items() if value >= 0.85}
    assert strong and all(roots[int(a[4:])] == roots[int(b[4:])] for a, b in strong)
    removed = sum(root != index for index, root in enumerate(roots))
    least, most = (sum(len(group) - 1 for group in components(list(texts), pairs)) for pairs in (strong, edges))
    assert 0 < least <= removed <= most


def pair(pair_id: str, instruction: str, answer: str) -> dict:
    reference = "华瑞科技的董事长是李明。"
    return {"id": pair_id, "instruction": instruction, "answer": answer, "reference": reference, "language": "zh"}


def test_filter_pairs_runs_one_step_per_rule_and_writes_the_reasons_aside(tmp_path):
    pairs = [
        pair("good", "华瑞科技的董事长是谁？", "华瑞科技的董事长是李明。"),
        pair("statement", "华瑞科技的董事长是李明。", "对。"),
        pair("short", "谁？", "李明。"),
        pair("long", "华瑞科技的董事长是谁？", "李明" * 1001),
        pair("pointing", "根据上述内容，董事长是谁？", "李明。"),
        pair("english", "Who chairs Huarui?", "Li Ming chairs it."),
        pair("made_up", "华瑞科技的总部在哪里？", "总部设在深圳南山区。"),
        pair("again", "华瑞科技的董事长是谁呢？", "李明。"),
    ]
    run = SynthesisRun(tmp_path / "run")
    kept = filter_pairs(run, pairs, CONFIG)
    assert [p["id"] for p in kept] == ["good"]
    summary = run.finish({"kept": kept})
    assert [(s["step"], s["items_in"], s["items_out"], s["dropped"]) for s in summary["funnel"]] == [
        ("malformed", 8, 7, {"malformed": 1}),
        ("too_short", 7, 6, {"too_short": 1}),
        ("too_long", 6, 5, {"too_long": 1}),
        ("refers_to_text", 5, 4, {"refers_to_text": 1}),
        ("wrong_language", 4, 3, {"wrong_language": 1}),
        ("ungrounded", 3, 2, {"ungrounded": 1}),
        ("near_duplicate", 2, 1, {"near_duplicate": 1}),
    ]
    dropped = [json.loads(line) for line in (tmp_path / "run" / "dropped.jsonl").read_text("utf-8").splitlines()]
    assert [(d["item"]["id"], d["reason"]) for d in dropped][-1] == ("again", "near_duplicate: of good")
    assert [d["item"]["id"] for d in dropped] == [p["id"] for p in pairs[1:]]
    assert list(RULES)[-1] == "near_duplicate"
    without_grounding = filter_pairs(SynthesisRun(tmp_path / "evol"), pairs[-2:], CONFIG, rules=("malformed",))
    assert [p["id"] for p in without_grounding] == ["made_up", "again"]
    with pytest.raises(ValueError, match=r"unknown filter rule\(s\) \['typo'\]"):
        filter_pairs(run, pairs, CONFIG, rules=("typo",))


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"min_grounding": 1.5}, "min_grounding must be a number from 0 to 1, got 1.5"),
        ({"near_duplicate_threshold": "high"}, "near_duplicate_threshold must be a number from 0 to 1, got 'high'"),
        ({"near_duplicate_ngram": 0}, "near_duplicate_ngram must be a positive integer, got 0"),
    ],
)
def test_bad_thresholds_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        FilterConfig(**settings)
