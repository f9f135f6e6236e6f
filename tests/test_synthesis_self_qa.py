"""Self-QA: the knowledge loaders on small files (bad input named by file, record and field), the pipeline on
scripted replies with every record and funnel count written out by hand, the recipe with a real tiny local model,
and a recipe run killed with SIGKILL mid-way that resumes into exactly the output of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from script_loading import load_script
from synthesis_helpers import ScriptedGenerator, save_tiny_model

from xuanyuan import XuanYuanForCausalLM
from xuanyuan.cli import parse_recipe_args
from xuanyuan.data.records import RecordError, SheetError, write_jsonl
from xuanyuan.data.sft_data import load_sft_dataset
from xuanyuan.data.synthesis.filters import FilterConfig
from xuanyuan.data.synthesis.knowledge import (
    KnowledgeConfig,
    TableSpec,
    load_documents,
    load_knowledge,
    load_table,
    load_triples,
    split_passages,
)
from xuanyuan.data.synthesis.prompts import load_templates, render
from xuanyuan.data.synthesis.runner import SynthesisRun, chunk_seed
from xuanyuan.data.synthesis.self_qa import SelfQAConfig, parse_questions, run_self_qa
from xuanyuan.evaluation.generation import Sampling
from xuanyuan.tokenization import load_tokenizer
from xuanyuan.utils.padding import pad

REPO = Path(__file__).resolve().parents[1]
recipe = load_script("recipes/self_qa.py")
CONFIG = KnowledgeConfig()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_csv(path: Path, text: str) -> Path:
    """As a spreadsheet saves "CSV UTF-8": a BOM and CRLF line ends."""
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    return path


# --- knowledge -----------------------------------------------------------------------------------------------------


def test_passages_are_cut_at_sentence_ends_within_max_chars():
    text = "第一句话。第二句话！Third one. It costs 3.5 yuan? 第五句\n第六句很长很长很长很长很长很长。"
    # " It costs 3.5 yuan?" (19) is cut at its spaces, "第六句很长…" (16, no clause mark) at 12 characters
    assert split_passages(text, 12) == [
        "第一句话。第二句话！", "Third one.", "It costs", "3.5 yuan?", "第五句", "第六句很长很长很长很长很",
        "长很长。",
    ]  # fmt: skip
    assert split_passages(text, 1000) == [text]
    assert split_passages("  \n\n ", 10) == []


def test_documents_become_passages_with_ids_languages_and_domains(tmp_path):
    rows = [
        {"id": "d1", "text": "华瑞科技成立于2005年，总部在深圳。董事长是李明。", "domain": "news"},
        {"text": "Orion Bank is old. Alice Wong runs it."},
        {"id": 7, "text": "市盈率是估值指标。", "lang": "zh"},
        {"id": "d4", "text": "P/E 即市盈率。", "language": "en"},  # the record's language wins over detection
    ]
    write_jsonl(tmp_path / "docs.jsonl", rows)
    items = load_documents(tmp_path / "docs.jsonl", KnowledgeConfig(max_chars=20))  # sentences of 19 + 7, 18 + 20
    source = str(tmp_path / "docs.jsonl")
    assert [(item["id"], item["text"], item["language"], item["domain"]) for item in items] == [
        ("d1#1", "华瑞科技成立于2005年，总部在深圳。", "zh", "news"),
        ("d1#2", "董事长是李明。", "zh", "news"),
        ("docs.jsonl:2#1", "Orion Bank is old.", "en", None),
        ("docs.jsonl:2#2", "Alice Wong runs it.", "en", None),
        ("7#1", "市盈率是估值指标。", "zh", None),
        ("d4#1", "P/E 即市盈率。", "en", None),
    ]
    assert {item["source"] for item in items} == {source}
    forced = load_documents(tmp_path / "docs.jsonl", KnowledgeConfig(language="zh"))
    assert {item["language"] for item in forced} == {"zh"}


@pytest.mark.parametrize(
    "row, message",
    [
        ({"id": "x"}, r"docs\.jsonl, line 2, field 'text': missing"),
        ({"text": 5}, r"docs\.jsonl, line 2, field 'text': expected a non-empty string, got 5"),
        ({"text": "文本。", "language": "fr"}, r"line 2, field 'language': expected one of \('zh', 'en'\), got 'fr'"),
        ({"id": "d1", "text": "重复。"}, r"line 2, field 'id': duplicate id 'd1' \(also at .*docs\.jsonl, line 1\)"),
        ({"text": "文本。", "domain": 3}, r"docs\.jsonl, line 2, field 'domain': expected a string, got 3"),
    ],
)
def test_bad_documents_name_file_line_and_field(tmp_path, row, message):
    write_jsonl(tmp_path / "docs.jsonl", [{"id": "d1", "text": "好。"}, row])
    with pytest.raises(RecordError, match=message):
        load_documents(tmp_path / "docs.jsonl", CONFIG)
    rejects = []
    assert [item["id"] for item in load_documents(tmp_path / "docs.jsonl", CONFIG, rejects)] == ["d1#1"]
    assert [(r["line"], r["record"]) for r in rejects] == [(2, row)]


COMPANIES = """公司,董事长,成立年份,营业收入（亿元）
鸿砚银行,谢刚明,1989,365.9
聿晟证券,蒋晓杰,,144.0
"""


def test_table_rows_become_text_with_the_key_first_and_the_title_in_front(tmp_path):
    path = write_csv(tmp_path / "companies.csv", COMPANIES)
    spec = TableSpec(str(path), title="上市公司", key_columns=["公司"])
    assert load_table(spec, CONFIG) == [
        {"id": "companies.csv:鸿砚银行", "source": str(path), "language": "zh", "domain": None,
         "text": "上市公司——公司：鸿砚银行；董事长：谢刚明；成立年份：1989；营业收入（亿元）：365.9。"},
        {"id": "companies.csv:聿晟证券", "source": str(path), "language": "zh", "domain": None,
         "text": "上市公司——公司：聿晟证券；董事长：蒋晓杰；营业收入（亿元）：144.0。"},  # the empty cell is left out
    ]  # fmt: skip
    english = write_csv(tmp_path / "banks.csv", "revenue,bank\n12.5,Orion Bank\n")
    assert [item["text"] for item in load_table({"path": str(english), "key_columns": ["bank"]}, CONFIG)] == [
        "bank: Orion Bank; revenue: 12.5."
    ]
    assert [item["id"] for item in load_table(str(english), CONFIG)] == ["banks.csv:2"]  # no key: the row


@pytest.mark.parametrize(
    "text, error, message",
    [
        ("董事长,成立年份\n谢刚明,1989\n", SheetError, r"companies\.csv, row 1, column '公司': missing column"),
        (COMPANIES + ",王五,2001,1.0\n", SheetError, r"companies\.csv, row 4, column '公司': empty value in a key"),
        (COMPANIES + "华瑞科技,,,\n", SheetError, r"companies\.csv, row 4: empty row: no value besides \['公司'\]"),
        (COMPANIES + "鸿砚银行,李四,2000,1.0\n", SheetError, r"row 4, column '公司': duplicate id 'companies\.csv:鸿"),
    ],
)
def test_bad_table_rows_name_file_row_and_column(tmp_path, text, error, message):
    spec = TableSpec(str(write_csv(tmp_path / "companies.csv", text)), key_columns=["公司"])
    with pytest.raises(error, match=message):
        load_table(spec, CONFIG)


def test_bad_table_rows_are_set_aside_when_skipping(tmp_path):
    path = write_csv(tmp_path / "c.csv", COMPANIES + ",王五,2001,1.0\n华瑞科技,,,\n")
    spec = TableSpec(str(path), key_columns=["公司"])
    rejects = []
    assert [item["id"] for item in load_table(spec, CONFIG, rejects)] == ["c.csv:鸿砚银行", "c.csv:聿晟证券"]
    assert [(r["line"], r["field"], r["problem"], r["record"]["董事长"]) for r in rejects] == [
        (4, "公司", "empty value in a key column", "王五"),
        (5, None, "empty row: no value besides ['公司']", ""),
    ]


def test_parquet_tables_write_numbers_and_name_the_row_and_column(tmp_path):
    path = tmp_path / "t.parquet"
    banks = {"bank": ["Orion Bank", "Vega Bank"], "employees": [9810, None], "city": ["Oslo", "Bergen"]}
    pq.write_table(pa.table(banks), path)
    assert [item["text"] for item in load_table({"path": str(path), "key_columns": ["bank"]}, CONFIG)] == [
        "bank: Orion Bank; employees: 9810; city: Oslo.", "bank: Vega Bank; city: Bergen.",
    ]  # fmt: skip
    with pytest.raises(RecordError, match=r"t\.parquet, line 1, field 'name': missing column; the table has \['bank'"):
        load_table({"path": str(path), "key_columns": ["name"]}, CONFIG)
    pq.write_table(pa.table({"bank": ["Orion Bank", "Vega Bank"], "employees": [9810, None]}), path)
    with pytest.raises(RecordError, match=r"t\.parquet, line 2: empty row: no value besides \['bank'\]"):
        load_table({"path": str(path), "key_columns": ["bank"]}, CONFIG)


TRIPLES = [
    {"head": "市盈率", "relation": "英文缩写", "tail": "P/E"},
    {"head": "市净率", "relation": "英文缩写", "tail": "P/B"},
    {"head": "市盈率", "relation": "定义", "tail": "股价与每股收益的比值。"},
]


def test_triples_are_grouped_by_entity_into_passages(tmp_path):
    write_jsonl(tmp_path / "kg.jsonl", TRIPLES)
    source = str(tmp_path / "kg.jsonl")
    assert load_triples(tmp_path / "kg.jsonl", CONFIG) == [
        {"id": "kg.jsonl:市盈率#1", "text": "市盈率——英文缩写：P/E；定义：股价与每股收益的比值。", "source": source,
         "language": "zh", "domain": None},
        {"id": "kg.jsonl:市净率#1", "text": "市净率——英文缩写：P/B。", "source": source, "language": "zh",
         "domain": None},
    ]  # fmt: skip
    # 19 characters: "市盈率——" and one statement each
    assert [item["text"] for item in load_triples(tmp_path / "kg.jsonl", KnowledgeConfig(max_chars=19))][:2] == [
        "市盈率——英文缩写：P/E。", "市盈率——定义：股价与每股收益的比值。",
    ]  # fmt: skip
    csv_path = write_csv(tmp_path / "kg.csv", "head,relation,tail\nOrion Bank,founded,1998\nOrion Bank,city,Oslo\n")
    assert [item["text"] for item in load_triples([csv_path], CONFIG)] == ["Orion Bank — founded: 1998; city: Oslo."]


@pytest.mark.parametrize(
    "triple, message",
    [
        ({"head": "市盈率", "relation": "定义"}, r"kg\.jsonl, line 2, field 'tail': missing"),
        ({"head": "", "relation": "定义", "tail": "比值"}, r"kg\.jsonl, line 2, field 'head': expected a non-empty"),
        ({"head": "市盈率", "relation": 3, "tail": "比值"}, r"line 2, field 'relation': expected a .*, got 3"),
    ],
)
def test_malformed_triples_name_file_line_and_field(tmp_path, triple, message):
    write_jsonl(tmp_path / "kg.jsonl", [TRIPLES[0], triple])
    with pytest.raises(RecordError, match=message):
        load_triples(tmp_path / "kg.jsonl", CONFIG)


def test_malformed_triple_sheets_name_file_row_and_column(tmp_path):
    with pytest.raises(SheetError, match=r"kg\.csv, row 1, column 'tail': missing column"):
        load_triples([write_csv(tmp_path / "kg.csv", "head,relation\n市盈率,定义\n")], CONFIG)
    with pytest.raises(SheetError, match=r"kg\.csv, row 3, column 'tail': expected a non-empty string, got ''"):
        load_triples([write_csv(tmp_path / "kg.csv", "head,relation,tail\n市盈率,缩写,P/E\n市盈率,定义,\n")], CONFIG)


def test_knowledge_samples_each_kind_and_refuses_colliding_ids(tmp_path):
    write_jsonl(tmp_path / "docs.jsonl", [{"id": f"d{i}", "text": f"第{i}篇。"} for i in range(10)])
    write_jsonl(tmp_path / "kg.jsonl", TRIPLES)
    table = str(write_csv(tmp_path / "companies.csv", COMPANIES))
    config = KnowledgeConfig(max_items=3, seed=5)
    loaded = load_knowledge(config, [tmp_path / "docs.jsonl"], [table], [tmp_path / "kg.jsonl"])
    assert loaded.counts == {"documents": {"loaded": 10, "used": 3}, "tables": {"loaded": 2, "used": 2},
                             "triples": {"loaded": 2, "used": 2}}  # fmt: skip
    ids = [item["id"] for item in loaded.items]
    assert len(ids) == 7
    assert ids[3:] == ["companies.csv:2", "companies.csv:3", "kg.jsonl:市盈率#1", "kg.jsonl:市净率#1"]
    assert ids[:3] == sorted(ids[:3], key=lambda i: int(i[1:-2]))  # the sample keeps the file order
    assert ids == [item["id"] for item in load_knowledge(config, [tmp_path / "docs.jsonl"], [table],
                                                          [tmp_path / "kg.jsonl"]).items]  # fmt: skip
    write_jsonl(tmp_path / "a" / "kg.jsonl", TRIPLES)
    with pytest.raises(ValueError, match="knowledge id 'kg.jsonl:市盈率#1' comes from .*kg.jsonl and .*a/kg.jsonl"):
        load_knowledge(CONFIG, triples=[tmp_path / "kg.jsonl", tmp_path / "a" / "kg.jsonl"])
    # a column missing from the file is the file's fault, not a row's: it stops the load even when skipping
    with pytest.raises(SheetError, match=r"companies\.csv, row 1, column 'missing': missing column"):
        load_knowledge(KnowledgeConfig(on_bad_record="skip"), tables=[TableSpec(table, key_columns=["missing"])])


# --- the pipeline on scripted replies --------------------------------------------------------------------------------

TEMPLATES = "zh:\n  instructions: 'Q|{num_questions}|{knowledge}'\n  answer: 'A|{knowledge}|{question}'\n"
TEMPLATES += "en:\n  instructions: 'Q|{num_questions}|{knowledge}'\n  answer: 'A|{knowledge}|{question}'\n"

HUARUI = "华瑞科技的董事长是李明。华瑞科技成立于2005年。"
PE = "市盈率是股价与每股收益的比值。"
BANK = "公司：鸿砚银行；董事长：谢刚明。"
ORION = "Orion Bank was founded in 1998. Its chairman is Alice Wong."
KNOWLEDGE = [
    {"id": "d1#1", "text": HUARUI, "source": "docs.jsonl", "language": "zh", "domain": "news"},
    {"id": "d2#1", "text": PE, "source": "docs.jsonl", "language": "zh", "domain": None},
    {"id": "t:鸿砚银行", "text": BANK, "source": "companies.csv", "language": "zh", "domain": None},
    {"id": "e1#1", "text": ORION, "source": "en.jsonl", "language": "en", "domain": None},
]
QUESTIONS = {
    HUARUI: "好的，问题如下：\n1. 华瑞科技的董事长是谁？\n2. 根据材料，华瑞科技成立于哪一年？\n"
    "3. 华瑞科技成立于哪一年？\n4. 华瑞科技的主营业务是什么？",
    PE: "市盈率是一个重要指标。",
    BANK: "1. 鸿砚银行的董事长是谁？\n2) 鸿砚银行的董事长是谁呢？\n3、鸿砚银行有多少员工？",
    ORION: "1. When was Orion Bank founded?\n2. Who is the chairman of Orion Bank?\n3. Orion Bank is big.\n4. Why?",
}
ANSWERS = {
    "华瑞科技的董事长是谁？": "华瑞科技的董事长是李明。",
    "根据材料，华瑞科技成立于哪一年？": "华瑞科技成立于2005年。",
    "华瑞科技成立于哪一年？": "2005年。",
    "华瑞科技的主营业务是什么？": "华瑞科技" * 12,
    "鸿砚银行的董事长是谁？": "鸿砚银行的董事长是谢刚明。",
    "鸿砚银行的董事长是谁呢？": "鸿砚银行的董事长是谢刚明。",
    "鸿砚银行有多少员工？": "该银行员工约有一万两千人，规模很大。",
    "When was Orion Bank founded?": "Orion Bank was founded in 1998.",
    "Who is the chairman of Orion Bank?": "奥利安银行的董事长是Alice Wong。",
    "Orion Bank is big.": "Yes.",
    "Why?": "Because.",
}


IN_REFERENCE = "are in the reference (< 50%)"


def scripted_self_qa(text: str, sample: int) -> str:
    """Replies looked up from the fields of the overriding templates (`Q|n|knowledge`, `A|knowledge|question`)."""
    kind, _, looked_up = text.split("|")
    return QUESTIONS[looked_up] if kind == "Q" else ANSWERS[looked_up]


def record(question_id: str, knowledge_id: str, question: str, source: str, domain: str | None = None) -> dict:
    origin = {"knowledge_id": knowledge_id, "source": source, "generator": "scripted"}
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": ANSWERS[question]}]
    return {"id": question_id, "messages": messages, "category": "self_qa",
            "source": {**origin, "domain": domain} if domain else origin}  # fmt: skip


def test_self_qa_turns_scripted_replies_into_records_and_a_funnel(tmp_path):
    (tmp_path / "templates.yaml").write_text(TEMPLATES, encoding="utf-8")
    questions = Sampling(max_new_tokens=32, temperature=0.7, top_p=0.9)
    config = SelfQAConfig(num_questions=4, instruction_sampling=questions, answer_sampling=Sampling(max_new_tokens=16),
                          filters=FilterConfig(max_answer_chars=40), templates=str(tmp_path / "templates.yaml"),
                          chunk_size=2)  # fmt: skip
    generator = ScriptedGenerator("scripted", scripted_self_qa)
    run = SynthesisRun(tmp_path / "run", seed=3)
    records = run_self_qa(KNOWLEDGE, generator, config, run)
    assert records == [
        record("d1#1/q1", "d1#1", "华瑞科技的董事长是谁？", "docs.jsonl", "news"),
        record("d1#1/q3", "d1#1", "华瑞科技成立于哪一年？", "docs.jsonl", "news"),
        record("t:鸿砚银行/q1", "t:鸿砚银行", "鸿砚银行的董事长是谁？", "companies.csv"),
        record("e1#1/q1", "e1#1", "When was Orion Bank founded?", "en.jsonl"),
    ]
    summary = run.finish({"self_qa": records}, [generator])
    dataset, loaded = load_sft_dataset([str(tmp_path / "run" / "self_qa.jsonl")])  # what SFT trains on
    assert loaded.kept == 4 and set(dataset["category"]) == {"self_qa"}
    assert [(s["step"], s["items_in"], s["items_out"], s["dropped"]) for s in summary["funnel"]] == [
        ("instructions", 4, 11, {"malformed": 1}),
        ("answers", 11, 11, {}),
        ("malformed", 11, 10, {"malformed": 1}),
        ("too_short", 10, 9, {"too_short": 1}),
        ("too_long", 9, 8, {"too_long": 1}),
        ("refers_to_text", 8, 7, {"refers_to_text": 1}),
        ("wrong_language", 7, 6, {"wrong_language": 1}),
        ("ungrounded", 6, 5, {"ungrounded": 1}),
        ("near_duplicate", 5, 4, {"near_duplicate": 1}),
    ]
    dropped = read_jsonl(tmp_path / "run" / "dropped.jsonl")
    assert [(d["step"], d["item"]["id"], d["reason"]) for d in dropped] == [
        ("instructions", "d2#1", "malformed: no numbered question in the reply '市盈率是一个重要指标。'"),
        ("malformed", "e1#1/q3", "malformed: the instruction is not a question: 'Orion Bank is big.'"),
        ("too_short", "e1#1/q4", "too_short: the instruction has 4 characters (< 5)"),
        ("too_long", "d1#1/q4", "too_long: the answer has 48 characters (> 40)"),
        ("refers_to_text", "d1#1/q2", "refers_to_text: '根据材料' in '根据材料，华瑞科技成立于哪一年？'"),
        ("wrong_language", "e1#1/q2", "wrong_language: the answer is zh, expected en"),
        ("ungrounded", "t:鸿砚银行/q3", f"ungrounded: 7% of the answer's character 2-grams {IN_REFERENCE}"),
        ("near_duplicate", "t:鸿砚银行/q2", "near_duplicate: of t:鸿砚银行/q1"),
    ]
    assert dropped[0]["item"]["replies"] == [QUESTIONS[PE]]
    # two instruction chunks, then six answer chunks of two questions (the last of one), each with its own seed
    assert len(generator.prompts) == 4 + 11 and generator.prompts[0] == f"Q|4|{HUARUI}"
    assert generator.seeds == [chunk_seed(3, "instructions", i) for i in range(2)] + [
        chunk_seed(3, "answers", i) for i in range(6)
    ]
    again = run_self_qa(KNOWLEDGE, generator, config, SynthesisRun(tmp_path / "run", seed=3))
    assert again == records and len(generator.seeds) == 8  # resumed from the chunk files: nothing generated


def test_shipped_templates_ask_in_the_items_language():
    templates = load_templates("self_qa")
    for language in ("zh", "en"):
        asking = render(templates, language, "instructions", knowledge="KNOWLEDGE", num_questions=3)
        answering = render(templates, language, "answer", knowledge="KNOWLEDGE", question="QUESTION")
        assert "KNOWLEDGE" in asking and "3" in asking and "KNOWLEDGE" in answering and "QUESTION" in answering
    assert "3个" in render(templates, "zh", "instructions", knowledge="", num_questions=3)


@pytest.mark.parametrize(
    "reply, questions",
    [
        ("好：\n1. 甲？\n2、乙？\n(3) 丙？\n（4）丁？\n5：戊\n6) 己", ["甲？", "乙？", "丙？", "丁？", "戊", "己"]),
        ("1.5亿元是多少？\n2.\n3. ok?  ", ["ok?"]),  # a decimal is not a label; an empty item is nothing
        ("没有编号的问题？", []),
    ],
)
def test_numbered_lines_are_the_questions(reply, questions):
    assert parse_questions(reply) == questions


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--filters", '{"min_groundin": 0.5}', r"filters: unknown key\(s\) \['min_groundin'\]; FilterConfig has"),
        ("--filters", '{"min_grounding": 2}', "error: filters: min_grounding must be a number from 0 to 1, got 2"),
        ("--answer_sampling", '{"num_samples": 2, "temperature": 0.7}', "answer_sampling.num_samples must be 1"),
        ("--instruction_sampling", "{bad", "error: --instruction_sampling is not a valid JSON object"),
        ("--generator", '{"model": "m", "kind": "openai"}', "error: generator: .*kind 'openai' needs a base_url"),
        ("--tables", '{"path": "t.csv", "titel": "公司"}', r"error: tables: unknown key\(s\) \['titel'\]; TableSpec"),
    ],
)
def test_recipe_names_the_bad_option(tmp_path, option, value, message):
    write_jsonl(tmp_path / "docs.jsonl", company_documents())
    argv = ["--generator", "unused", "--documents", str(tmp_path / "docs.jsonl"),
            "--output_dir", str(tmp_path / "run"), option, value]  # fmt: skip
    (args,) = parse_recipe_args([recipe.SelfQAArguments], argv=argv)
    with pytest.raises((SystemExit, ValueError), match=message):
        recipe.main(args)


# --- the recipe with a real tiny model -------------------------------------------------------------------------------


REPLY = "1. 公司的董事长是谁？"  # what the tiny model is trained to say, to questions and answers alike


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny 2-layer model trained for 100 steps to give `REPLY` to Self-QA prompts of every knowledge kind, so a real
    local generation run goes through every step with replies known in advance (greedy, with the tiny config's
    repetition penalty, each reply token leads the next candidate by more than 3 logits)."""
    folder = save_tiny_model(XuanYuanForCausalLM, tmp_path_factory.mktemp("lm"))
    model, tokenizer = XuanYuanForCausalLM.from_pretrained(folder), load_tokenizer(folder)
    templates = load_templates("self_qa")
    knowledge = ["公司1的董事长是张1。公司1成立于2001年。", "公司：公司2；成立年份：1992；营业收入（亿元）：102.5。",
                 "概念3——定义：第3个。"]  # fmt: skip
    prompts = [render(templates, "zh", "instructions", knowledge=k, num_questions=3) for k in knowledge]
    prompts += [render(templates, "zh", "answer", knowledge=k, question=REPLY[3:]) for k in knowledge]
    rows, starts = [], []
    for prompt in prompts:
        turns = [{"role": "user", "content": prompt}]
        starts.append(len(tokenizer.apply_chat_template(turns, add_generation_prompt=True, return_dict=False)))
        replied = [*turns, {"role": "assistant", "content": REPLY}]
        rows.append(tokenizer.apply_chat_template(replied, return_dict=False))
    input_ids, attention_mask = pad(rows, tokenizer.pad_token_id)
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    for row, start in enumerate(starts):
        labels[row, :start] = -100  # learn the reply only
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(100):
        model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(folder)
    return folder


def company_documents() -> list[dict]:
    return [{"id": f"d{i}", "text": f"公司{i}的董事长是张{i}。公司{i}成立于{2000 + i}年。"} for i in range(6)]


def knowledge_files(folder: Path) -> list[str]:
    write_jsonl(folder / "docs.jsonl", company_documents())
    rows = "".join(f"公司{i},{1990 + i},{100 + i}.5\n" for i in range(6))
    write_csv(folder / "companies.csv", "公司,成立年份,营业收入（亿元）\n" + rows)
    write_jsonl(folder / "kg.jsonl", [{"head": f"概念{i}", "relation": "定义", "tail": f"第{i}个"} for i in range(6)])
    return ["--documents", str(folder / "docs.jsonl"), "--tables", str(folder / "companies.csv"),
            "--triples", str(folder / "kg.jsonl")]  # fmt: skip


def test_tiny_recipe_runs_the_local_model_and_resumes(tmp_path, tiny_model):
    argv = ["--config", str(REPO / "recipes/tiny/self_qa.yaml"), "--generator", str(tiny_model),
            "--output_dir", str(tmp_path / "run"), "--max_items", "4", *knowledge_files(tmp_path)]  # fmt: skip
    (args,) = parse_recipe_args([recipe.SelfQAArguments], argv=argv)
    summary = recipe.main(args)
    assert summary["knowledge"] == {kind: {"loaded": 6, "used": 4} for kind in ("documents", "tables", "triples")}
    # one question per item; the answer repeats it, which only the documents' text grounds (公司 的董 董事 事长 长是:
    # 5 of the 8 bigrams of "1公司的董事长是谁"; a table row has 公司 alone, a concept none); the four documents'
    # questions are the same, so one record is left
    assert [(s["step"], s["items_in"], s["items_out"], s["dropped"]) for s in summary["funnel"]] == [
        ("instructions", 12, 12, {}), ("answers", 12, 12, {}), ("malformed", 12, 12, {}), ("too_short", 12, 12, {}),
        ("too_long", 12, 12, {}), ("refers_to_text", 12, 12, {}), ("wrong_language", 12, 12, {}),
        ("ungrounded", 12, 4, {"ungrounded": 8}), ("near_duplicate", 4, 1, {"near_duplicate": 3}),
    ]  # fmt: skip
    records = read_jsonl(tmp_path / "run" / "self_qa.jsonl")
    assert [r["messages"] for r in records] == [[{"role": "user", "content": REPLY[3:]},
                                                 {"role": "assistant", "content": REPLY}]]  # fmt: skip
    assert records[0]["source"] == {"knowledge_id": records[0]["id"].split("/")[0], "generator": str(tiny_model),
                                    "source": str(tmp_path / "docs.jsonl")}  # fmt: skip
    stats = summary["generators"][str(tiny_model)]
    assert stats["prompts"] == stats["replies"] == 24 and stats["generated_tokens"] > 0
    assert len(read_jsonl(tmp_path / "run" / "dropped.jsonl")) == summary["dropped"] == 11
    report = (tmp_path / "run" / "report.md").read_text("utf-8")
    assert "| ungrounded | 12 | 4 | ungrounded 8 |" in report and f"**A:** {REPLY}" in report
    again = recipe.main(args)  # resumed: every chunk is read back, the model generates nothing
    assert again["generators"][str(tiny_model)]["prompts"] == 0 and again["funnel"] == summary["funnel"]
    assert read_jsonl(tmp_path / "run" / "self_qa.jsonl") == records


# --- killed with SIGKILL, then resumed -------------------------------------------------------------------------------


def scripted_reply(content: str) -> str:
    """What the fake endpoint answers to the test templates: two questions per company, none for company 5."""
    kind, first, second = content.split("|")
    if kind == "Q":
        company = second.split("的")[0]
        return "没有问题。" if company == "公司5" else f"1. {company}的董事长是谁？\n2. {company}成立于哪一年？"
    sentences = first.split("。")
    return (sentences[0] if "董事长" in second else sentences[1]) + "。"


class FakeEndpoint:
    """An OpenAI-compatible /v1/chat/completions endpoint with scripted replies that can hold requests after the
    first `hold_after`, until `release` is set."""

    def __init__(self, hold_after: int | None = None):
        self.requests, self.hold_after = 0, hold_after
        self.holding, self.release, self.lock = threading.Event(), threading.Event(), threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with endpoint.lock:
                    endpoint.requests += 1
                    held = endpoint.hold_after is not None and endpoint.requests > endpoint.hold_after
                if held:
                    endpoint.holding.set()
                    endpoint.release.wait(60)
                text = scripted_reply(body["messages"][-1]["content"])
                choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                usage = {"prompt_tokens": 1, "completion_tokens": len(text), "total_tokens": 1 + len(text)}
                reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                         "choices": [choice], "usage": usage}  # fmt: skip
                data = json.dumps(reply).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the killed client is gone
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_resume_after_sigkill_writes_what_an_uninterrupted_run_writes(tmp_path):
    (tmp_path / "templates.yaml").write_text(TEMPLATES, encoding="utf-8")
    write_jsonl(tmp_path / "docs.jsonl", company_documents())

    def argv(endpoint: FakeEndpoint, output: str) -> list[str]:
        return ["--generator", f"openai:fake@{endpoint.url}", "--documents", str(tmp_path / "docs.jsonl"),
                "--templates", str(tmp_path / "templates.yaml"), "--num_questions", "2", "--chunk_size", "2",
                "--output_dir", str(tmp_path / output)]  # fmt: skip

    whole = FakeEndpoint()
    try:
        (args,) = parse_recipe_args([recipe.SelfQAArguments], argv=argv(whole, "whole"))
        expected = recipe.main(args)
    finally:
        whole.close()
    assert expected["outputs"] == {"self_qa": 10} and whole.requests == 6 + 10

    # 6 instruction requests (3 chunks), then answers in chunks of 2: requests 11 and 12 (answer chunk 2) are held
    held = FakeEndpoint(hold_after=10)
    try:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        log = open(tmp_path / "killed.log", "wb")  # a pipe left unread could fill and stall the run
        process = subprocess.Popen([sys.executable, str(REPO / "recipes/self_qa.py"), *argv(held, "killed")],
                                   env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.monotonic() + 120
        while not held.holding.wait(0.05):
            assert process.poll() is None, (tmp_path / "killed.log").read_text("utf-8")[-2000:]
            assert time.monotonic() < deadline, "the recipe never reached the held request"
        answers = tmp_path / "killed" / "answers"
        assert sorted(p.name for p in answers.glob("chunk-*.jsonl")) == ["chunk-00000.jsonl", "chunk-00001.jsonl"]
        process.send_signal(signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL
        log.close()
    finally:
        held.close()
    assert not (tmp_path / "killed" / "self_qa.jsonl").exists()

    resumed = FakeEndpoint()
    try:
        (args,) = parse_recipe_args([recipe.SelfQAArguments], argv=argv(resumed, "killed"))
        summary = recipe.main(args)
    finally:
        resumed.close()
    assert resumed.requests == 10 - 4  # only the answer chunks 2-4; the finished chunks are read back
    for name in ("self_qa.jsonl", "dropped.jsonl"):
        assert (tmp_path / "killed" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert summary["funnel"] == expected["funnel"]
    ids = [row["id"] for row in read_jsonl(tmp_path / "killed" / "self_qa.jsonl")]
    assert len(ids) == len(set(ids)) == 10
