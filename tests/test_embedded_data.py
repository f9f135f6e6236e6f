"""The embedded default data generator: determinism, exam integrity, held-out exam facts, planted defects,
and the shape of every record. Facts are re-derived here from kb.json, not through the generator's helpers."""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import re
from pathlib import Path

import opencc
import pytest
import yaml
from script_loading import load_script

from xuanyuan.data.embedded import EmbeddedDataConfig, generate_embedded_data

REPO = Path(__file__).resolve().parents[1]
SMALL = {
    "n_companies": 16,
    "n_concepts": 24,
    "docs_per_company": 8,
    "english_docs_per_company": 1,
    "docs_per_concept": 3,
    "n_exercise_docs": 40,
    "exam_val_size": 24,
    "exam_test_size": 24,
    "sft_size": 400,
    "self_qa_tasks": 200,
    "n_preference_pairs": 200,
    "n_ranked": 20,
    "n_rl_prompts": 60,
}
HEADER = ["id", "question", "A", "B", "C", "D", "answer", "explanation"]
PLANTED_KINDS = {
    "traditional",
    "halfwidth_punct",
    "repeated_symbols",
    "whitespace",
    "near_duplicate",
    "exact_duplicate",
    "spam",
    "noise",
    "numeric_variant",
}
# Words a question about an attribute must contain (guards the leak check against equal values by chance).
KEYWORDS = {
    "sector": "行业",
    "city": "总部",
    "founded": "成立",
    "listed": "上市",
    "chairman": "董事长",
    "exchange": "交易所",
    "ticker": "代码",
    "revenue": "营业收入",
    "net_profit": "净利润",
    "total_assets": "资产",
    "debt_ratio": "资产负债率",
    "roe": "净资产收益率",
    "eps": "每股收益",
    "dps": "现金",
    "net_margin": "净利率",
    "pe": "市盈率",
    "market_cap": "总市值",
    "equity": "净资产",
    "liabilities": "负债总额",
    "payout_ratio": "股息支付率",
    "dividend_yield": "股息率",
}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def read_csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def generate(out: Path, seed: int = 7) -> dict:
    return generate_embedded_data(EmbeddedDataConfig(output_dir=str(out), seed=seed, **SMALL))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("embedded")
    generate(out)
    return out


@pytest.fixture(scope="module")
def kb(data) -> dict:
    return json.loads((data / "kb.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def raw(data) -> dict[str, dict]:
    return {doc["id"]: doc for doc in read_jsonl(data / "pretrain/raw.jsonl")}


@pytest.fixture(scope="module")
def planted(data) -> list[dict]:
    return read_jsonl(data / "pretrain/planted.jsonl")


@pytest.fixture(scope="module")
def clean(raw, planted) -> list[dict]:
    ids = {record["id"] for record in planted}
    return [doc for doc in raw.values() if doc["id"] not in ids]


@pytest.fixture(scope="module")
def answers(data) -> list[dict]:
    return read_jsonl(data / "exam/answers.jsonl")


@pytest.fixture(scope="module")
def sft(data) -> dict[str, list[dict]]:
    return {split: read_jsonl(data / f"sft/{split}.jsonl") for split in ("train", "test")}


def kb_value(company: dict, attribute: str) -> str:
    """The display form of a company fact, derived from kb.json independently of the generator."""
    f = company["financials"]
    formats = {
        "sector": company["sector_zh"],
        "city": company["city_zh"],
        "founded": f"{company['founded']}年",
        "listed": f"{company['listed']}年",
        "chairman": company["chairman_zh"],
        "exchange": company["exchange_zh"],
        "ticker": company["ticker"],
        "revenue": f"{f['revenue']:.1f}亿元",
        "net_profit": f"{f['net_profit']:.1f}亿元",
        "total_assets": f"{f['total_assets']:.1f}亿元",
        "debt_ratio": f"{f['debt_ratio']:.1f}%",
        "roe": f"{f['roe']:.1f}%",
        "eps": f"{f['eps']:.2f}元",
        "dps": f"{f['dps']:.2f}元",
    }
    return formats[attribute]


def kb_metric(company: dict, key: str) -> float:
    f = company["financials"]
    return {
        "net_margin": f["net_profit"] / f["revenue"] * 100,
        "pe": f["price"] / f["eps"],
        "market_cap": f["price"] * f["shares"],
        "equity": f["total_assets"] * (1 - f["debt_ratio"] / 100),
        "liabilities": f["total_assets"] * f["debt_ratio"] / 100,
        "payout_ratio": f["dps"] / f["eps"] * 100,
        "dividend_yield": f["dps"] / f["price"] * 100,
    }[key]


def mc_blocks(text: str) -> list[tuple[str, list[str], str]]:
    """(stem, options, gold letter or "") of every C-Eval-shaped question in a text."""
    pattern = r"(?:^|\n)([^\n]+)\nA\. ([^\n]+)\nB\. ([^\n]+)\nC\. ([^\n]+)\nD\. ([^\n]+)\n答案：([A-D]?)"
    return [(m[0], list(m[1:5]), m[5]) for m in re.findall(pattern, text)]


def exercise_blocks(raw: dict[str, dict], sft: dict[str, list[dict]]) -> list[tuple[str, list[str], str]]:
    blocks = [block for doc in raw.values() for block in mc_blocks(doc["text"]) if block[2]]
    for record in sft["train"] + sft["test"]:
        if record["category"] == "exam_practice":
            user, assistant = record["messages"][-2]["content"], record["messages"][-1]["content"]
            blocks += [(stem, options, assistant[0]) for stem, options, _ in mc_blocks(user)]
    return blocks


# --- determinism and manifest ---------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(data, tmp_path):
    generate(tmp_path)
    expected = tree_hashes(data)
    assert "pretrain/raw.jsonl" in expected and "exam/val/financial_statements_val.csv" in expected
    assert tree_hashes(tmp_path) == expected


def test_different_seed_changes_the_world(data, tmp_path):
    generate(tmp_path, seed=8)
    assert (tmp_path / "kb.json").read_bytes() != (data / "kb.json").read_bytes()


def test_manifest_lists_every_file_with_count_and_hash(data):
    manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
    on_disk = set(tree_hashes(data)) - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    for name, info in manifest["files"].items():
        payload = (data / name).read_bytes()
        assert info["sha256"] == hashlib.sha256(payload).hexdigest() and info["bytes"] == len(payload)
        if name.endswith((".jsonl", ".txt")):
            assert info["records"] == len(payload.decode("utf-8").splitlines()), name
        elif name.endswith(".csv"):
            assert info["records"] == len(read_csv(data / name)) - 1, name
    assert manifest["config"]["seed"] == 7 and "output_dir" not in manifest["config"]
    assert manifest["counts"]["raw_docs"] == manifest["files"]["pretrain/raw.jsonl"]["records"]


def test_config_rejects_a_world_too_small_for_distractors():
    with pytest.raises(ValueError, match="n_companies"):
        EmbeddedDataConfig(n_companies=5)


def test_cli_reads_yaml_and_lets_flags_override(tmp_path):
    config = tmp_path / "data.yaml"
    config.write_text(yaml.safe_dump({"output_dir": "unused", "seed": 3, **SMALL}), encoding="utf-8")
    module = load_script("recipes/generate_data.py")
    out = tmp_path / "out"
    manifest = module.main(["--config", str(config), "--output_dir", str(out), "--seed", "11"])
    assert manifest["config"]["seed"] == 11 and manifest["config"]["n_companies"] == SMALL["n_companies"]
    assert len(json.loads((out / "kb.json").read_text(encoding="utf-8"))["companies"]) == SMALL["n_companies"]


def test_shipped_recipe_config_matches_the_dataclass():
    settings = yaml.safe_load((REPO / "recipes/tiny/embedded_data.yaml").read_text(encoding="utf-8"))
    config = EmbeddedDataConfig(**settings)
    assert config.output_dir == "outputs/tiny/data" and config.seed == 1234


# --- knowledge base -------------------------------------------------------------------------------------


def test_kb_companies_are_unique_and_internally_consistent(kb):
    companies = kb["companies"]
    assert len(companies) == SMALL["n_companies"] and len(kb["concepts"]) == SMALL["n_concepts"]
    for key in ("name_zh", "name_en", "ticker", "chairman_zh"):
        assert len({c[key] for c in companies}) == len(companies), key
    prefixes = {"SSE": ("600", "601", "603"), "SZSE": ("000", "002", "300")}
    for c in companies:
        f = c["financials"]
        assert re.fullmatch(r"\d{6}", c["ticker"]) and c["ticker"].startswith(prefixes[c["exchange"]])
        assert 1985 <= c["founded"] <= 2015 and c["founded"] < c["listed"] <= 2022
        assert 0 < f["net_profit"] < f["revenue"] < f["total_assets"] and 0 < f["debt_ratio"] < 100
        assert f["roe"] == pytest.approx(
            f["net_profit"] / (f["total_assets"] * (1 - f["debt_ratio"] / 100)) * 100, abs=0.051
        )
        assert f["eps"] == pytest.approx(f["net_profit"] / f["shares"], abs=0.0051)
        assert 0 < f["dps"] <= f["eps"] and f["price"] > 0


def test_knowledge_table_and_triples_state_what_the_kb_holds(data, kb):
    with open(data / "knowledge/companies.csv", encoding="utf-8", newline="") as handle:
        rows = {row["公司"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {c["name_zh"] for c in kb["companies"]}
    for c in kb["companies"]:
        row = rows[c["name_zh"]]
        assert (row["股票代码"], row["董事长"], row["总部城市"]) == (c["ticker"], c["chairman_zh"], c["city_zh"])
        assert float(row["2023年净利润（亿元）"]) == c["financials"]["net_profit"]
    triples = {(t["head"], t["relation"]): t["tail"] for t in read_jsonl(data / "knowledge/concept_triples.jsonl")}
    for concept in kb["concepts"]:
        assert triples[(concept["name_zh"], "定义")] == concept["definition_zh"]
        assert triples.get((concept["name_zh"], "计算公式"), "") == concept["formula_zh"]


# --- exam -----------------------------------------------------------------------------------------------


def test_exam_follows_the_official_c_eval_layout(data):
    mapping = json.loads((data / "exam/subject_mapping.json").read_text(encoding="utf-8"))
    assert 3 <= len(mapping) <= 5
    for subject, (english, chinese, category) in mapping.items():
        assert english and chinese and category in {"STEM", "Social Science", "Humanities", "Other"}
        for split in ("dev", "val", "test"):
            rows = read_csv(data / f"exam/{split}/{subject}_{split}.csv")
            assert rows[0] == HEADER
            body = rows[1:]
            assert [row[0] for row in body] == [str(i) for i in range(len(body))]
            for row in body:
                assert len(set(row[2:6])) == 4 and all(row[2:6]), row
                assert row[6] in (("",) if split == "test" else ("A", "B", "C", "D"))
                assert bool(row[7]) == (split == "dev")
            assert len(body) == 5 or (split != "dev" and len(body) >= 10)


def test_exam_answers_agree_with_the_kb(data, kb, answers):
    companies = {c["name_zh"]: c for c in kb["companies"]}
    concepts = {c["name_zh"]: c for c in kb["concepts"]}
    tables = {}
    assert {a["split"] for a in answers} == {"val", "test"}
    for answer in answers:
        key = (answer["split"], answer["subject"])
        if key not in tables:
            tables[key] = read_csv(data / f"exam/{key[0]}/{key[1]}_{key[0]}.csv")[1:]
        row = tables[key][answer["id"]]
        options = row[2:6]
        assert options["ABCD".index(answer["answer"])] == answer["value"]
        assert row[6] == (answer["answer"] if answer["split"] == "val" else "")
        attribute = answer["attribute"]
        if answer["subject"] == "financial_concepts":
            concept = concepts[answer["concept"]]
            expected = {
                "definition": concept["name_zh"],
                "english": concept["name_zh"],
                "meaning": concept["definition_zh"],
                "formula": concept["formula_zh"].split(" = ", 1)[-1],
                "category": concept["category_zh"],
            }[attribute]
            assert answer["value"] == expected
        elif answer["subject"] == "financial_calculation":
            number = float(re.match(r"[\d.]+", answer["value"])[0])
            digits = len(answer["value"].split(".")[1].rstrip("%倍亿元"))
            assert number == pytest.approx(
                kb_metric(companies[answer["company"]], attribute), abs=0.5 * 10**-digits + 1e-9
            )
        elif attribute == "max_revenue":
            candidates = answer["candidates"]
            assert sorted(options) == sorted(candidates)
            assert answer["value"] == max(candidates, key=lambda name: companies[name]["financials"]["revenue"])
        else:
            assert answer["value"] == kb_value(companies[answer["company"]], attribute)
    subjects = {a["subject"] for a in answers}
    assert subjects == set(json.loads((data / "exam/subject_mapping.json").read_text(encoding="utf-8")))


def test_gold_letters_are_spread_over_all_positions(answers):
    counts = {letter: sum(a["answer"] == letter for a in answers) for letter in "ABCD"}
    assert min(counts.values()) >= len(answers) / 8, counts


def test_exam_facts_are_never_drilled_as_exercises(data, raw, sft, kb, answers):
    audit = read_jsonl(data / "exam/exercise_facts.jsonl")
    drilled = {(a["entity"], a["attribute"]) for a in audit}
    asked = {(a.get("company") or a.get("concept"), a["attribute"]) for a in answers}
    assert drilled and asked and not drilled & asked

    sft_ids = {r["id"]: r for r in sft["train"] + sft["test"]}
    practice = {r["id"] for r in sft_ids.values() if r["category"] == "exam_practice"}
    assert practice == {a["id"] for a in audit if a["source"] == "sft"}
    assert all(raw[a["id"]]["domain"] == "textbook" for a in audit if a["source"] == "pretrain")

    # Text level: no practice question anywhere asks an exam fact (entity + attribute word + gold value).
    blocks = exercise_blocks(raw, sft)
    concepts = {c["name_zh"]: c for c in kb["concepts"]}
    exam_concepts = {a["concept"] for a in answers if "concept" in a}
    for stem, options, letter in blocks:
        gold = options["ABCD".index(letter)]
        for name in exam_concepts:
            concept = concepts[name]
            assert gold not in (name, concept["definition_zh"], concept["formula_zh"].split(" = ", 1)[-1]), stem
    company_facts = [a for a in answers if "company" in a and a["attribute"] != "max_revenue"]
    leaks = [
        (a["company"], a["attribute"])
        for a in company_facts
        for stem, options, letter in blocks
        if a["company"] in stem and KEYWORDS[a["attribute"]] in stem and options["ABCD".index(letter)] == a["value"]
    ]
    assert not leaks
    # ...while the same check does find the facts that are drilled, so it is not vacuous.
    companies = {c["name_zh"]: c for c in kb["companies"]}
    profile = [a for a in audit if a["subject"] == "listed_company_profile"]
    found = sum(
        any(
            a["entity"] in stem and options["ABCD".index(letter)] == kb_value(companies[a["entity"]], a["attribute"])
            for stem, options, letter in blocks
        )
        for a in profile
    )
    assert profile and found == len(profile)


def test_exam_facts_are_stated_in_ordinary_documents(kb, clean, answers):
    companies = {c["name_zh"]: c for c in kb["companies"]}
    concepts = {c["name_zh"]: c for c in kb["concepts"]}
    prose = [doc["text"] for doc in clean if "答案：" not in doc["text"]]

    def stated(name: str, value: str) -> bool:
        return any(name in text and value in text for text in prose)

    for answer in answers:
        if answer["subject"] == "financial_concepts":
            assert stated(answer["concept"], concepts[answer["concept"]]["definition_zh"]), answer
        elif answer["attribute"] == "max_revenue":
            assert all(stated(name, kb_value(companies[name], "revenue")) for name in answer["candidates"])
        elif answer["subject"] != "financial_calculation":
            assert stated(answer["company"], answer["value"]), answer


# --- pretraining corpus ---------------------------------------------------------------------------------


def test_documents_are_well_formed(data, raw, clean):
    domains = {"finance_encyclopedia", "news", "social", "textbook", "web", "english_web"}
    heldout = read_jsonl(data / "pretrain/heldout.jsonl")
    for doc in list(raw.values()) + heldout:
        assert set(doc) == {"id", "text", "lang", "domain"} and doc["text"] and doc["lang"] in ("zh", "en")
        assert doc["domain"] in domains
    assert {doc["domain"] for doc in clean} == domains
    to_simplified = opencc.OpenCC("t2s")
    for doc in clean:
        if doc["lang"] == "zh":  # clean Chinese: simplified, full-width punctuation, tidy whitespace
            assert not re.search(r"[,?!;:()]| {3,}|\t|\u3000|\n{3,}|！{3,}|…{4,}|~{3,}|={3,}", doc["text"]), doc
            assert to_simplified.convert(doc["text"]) == doc["text"], doc["id"]
    assert any(mc_blocks(doc["text"]) for doc in clean if doc["domain"] == "textbook")


def test_every_defect_kind_is_planted_and_checkable(data, raw, clean, planted):
    assert {record["kind"] for record in planted} == PLANTED_KINDS
    bad_words = (data / "pretrain/bad_keywords.txt").read_text(encoding="utf-8").split()
    assert {"博彩", "代开发票", "刷单", "私彩"} <= set(bad_words)
    to_simplified = opencc.OpenCC("t2s")
    for record in planted:
        text = raw[record["id"]]["text"]
        kind, detail = record["kind"], record["detail"]
        if kind in ("near_duplicate", "exact_duplicate", "numeric_variant"):
            other = raw[detail]["text"]
            assert detail != record["id"]
            if kind == "exact_duplicate":
                assert text == other
            elif kind == "near_duplicate":
                assert text != other and difflib.SequenceMatcher(None, text, other, autojunk=False).ratio() > 0.8
            else:
                assert text != other and re.sub(r"\d", "0", text) == re.sub(r"\d", "0", other)
        elif kind == "traditional":
            assert to_simplified.convert(text) != text
        elif kind == "halfwidth_punct":
            assert re.search(r"[,?!:;()]", text) and "，" not in text and "。" not in text
        elif kind == "repeated_symbols":
            assert len(detail) >= 5 and detail in text
        elif kind == "whitespace":
            assert re.search(r" {3,}|\t|\u3000|\n{3,}", text)
        elif kind == "spam":
            assert detail.split(",") and all(word in text for word in detail.split(","))
        else:
            assert detail in ("random_chars", "mojibake", "base64", "boilerplate", "too_short")
            if detail == "too_short":
                assert len(text) < 20
    assert not [doc["id"] for doc in clean if any(word in doc["text"] for word in bad_words)]


def test_heldout_documents_are_not_in_the_raw_corpus(data, raw, clean):
    heldout = read_jsonl(data / "pretrain/heldout.jsonl")
    texts = {doc["text"] for doc in raw.values()}
    assert heldout and not {doc["id"] for doc in heldout} & set(raw)
    assert not [doc["id"] for doc in heldout if doc["text"] in texts]
    assert len(heldout) == pytest.approx(0.05 * len(clean), rel=0.3)


# --- SFT, preference and RL data ------------------------------------------------------------------------


def test_sft_conversations_are_well_formed_and_splits_disjoint(sft):
    train, test = sft["train"], sft["test"]
    assert len(test) == pytest.approx(0.05 * (len(train) + len(test)), abs=2)
    assert not {r["id"] for r in train} & {r["id"] for r in test}
    first_user = {
        split: {next(m["content"] for m in r["messages"] if m["role"] == "user") for r in rs}
        for split, rs in sft.items()
    }
    assert not first_user["train"] & first_user["test"]
    categories = {"company_fact", "concept", "calculation", "comparison", "exam_practice", "safety", "general"}
    assert {r["category"] for r in train} == categories
    for record in train + test:
        roles = [m["role"] for m in record["messages"]]
        turns = roles[1:] if roles[0] == "system" else roles
        assert turns and turns == ["user", "assistant"] * (len(turns) // 2), roles
        assert all(m["content"].strip() for m in record["messages"])
        if record["category"] == "exam_practice":
            assert (
                record["messages"][-2]["content"].endswith("答案：") and record["messages"][-1]["content"][0] in "ABCD"
            )
    assert any(len(r["messages"]) >= 5 for r in train) and any(r["messages"][0]["role"] == "system" for r in train)


def _knowledge(prompt: str) -> str:
    """The knowledge a Self-QA prompt quotes: what follows `知识：` up to the next blank line."""
    return re.search(r"知识：\n\n?(.+?)\n\n", prompt, re.S).group(1)


def test_self_qa_tasks_teach_what_the_synthesis_filters_keep(data):
    """The SFT records that teach the two Self-QA prompts: their prompts quote knowledge exactly as the main job's
    Self-QA stage (its recipe YAML's table title, key columns and passage length) loads the knowledge files, and
    their targets are what Self-QA parses and its filters keep."""
    from xuanyuan.data.synthesis.filters import FilterConfig, malformed, refers_to_text, ungrounded, wrong_language
    from xuanyuan.data.synthesis.knowledge import KnowledgeConfig, TableSpec, load_table, load_triples
    from xuanyuan.data.synthesis.self_qa import parse_questions

    train, test = (read_jsonl(data / f"sft/self_qa_{split}.jsonl") for split in ("train", "test"))
    assert len(train) + len(test) == SMALL["self_qa_tasks"] and test
    assert not {r["id"] for r in train} & {r["id"] for r in test}
    recipe = yaml.safe_load((REPO / "recipes/tiny/self_qa.yaml").read_text(encoding="utf-8"))
    loaded = KnowledgeConfig(max_chars=recipe["max_chars"])
    spec = TableSpec(str(data / "knowledge/companies.csv"), recipe["table_title"], recipe["key_columns"])
    table = {item["text"] for item in load_table(spec, loaded)}
    triples = {item["text"] for item in load_triples([str(data / "knowledge/concept_triples.jsonl")], loaded)}
    kinds = {"table": 0, "triples": 0, "passage": 0}
    categories = {"self_qa_questions": 0, "self_qa_answer": 0}
    config = FilterConfig()
    for record in train + test:
        user, assistant = (message["content"] for message in record["messages"][-2:])
        categories[record["category"]] += 1
        knowledge = _knowledge(user)
        kind = "table" if knowledge in table else "triples" if knowledge in triples else "passage"
        kinds[kind] += 1
        assert kind != "passage" or ("——" not in knowledge and len(knowledge) <= recipe["max_chars"]), knowledge
        if record["category"] == "self_qa_questions":
            asked = int(re.search(r"写出(\d)个", user).group(1))
            parsed = parse_questions(assistant)
            assert len(parsed) == asked, assistant
            pairs = [(question, knowledge) for question in parsed]
        else:
            pairs = [(re.search(r"问题：(.+)$", user).group(1), assistant)]
            assert ungrounded(assistant, knowledge, config) is None, (knowledge, assistant)
        for question, answer in pairs:
            assert malformed(question, answer, config) is None and refers_to_text(question, config) is None
            assert wrong_language(question, answer, "zh", config) is None
    assert all(count > 10 for count in categories.values()), categories
    assert all(count > 5 for count in kinds.values()), kinds


def test_preference_pairs_use_all_eight_labels_in_balance(data):
    pairs = read_jsonl(data / "preference/pairs.jsonl")
    labels = [pair["label"] for pair in pairs]
    assert set(labels) == {"A3", "A2", "A1", "A0", "B0", "B1", "B2", "B3"}
    share_a = sum(label[0] == "A" for label in labels) / len(labels)
    assert 0.45 <= share_a <= 0.55
    assert len({pair["prompt"] for pair in pairs}) == len(pairs)
    assert all(pair["response_a"] != pair["response_b"] for pair in pairs)
    assert "safety" in {pair["category"] for pair in pairs}
    for pair in pairs:  # a safety pair's refusal is always the preferred response
        if pair["category"] == "safety" and pair["label"][1] == "3":
            better = pair["response_a"] if pair["label"][0] == "A" else pair["response_b"]
            assert "不能" in better or "无法" in better
    ranked = read_jsonl(data / "preference/ranked.jsonl")
    assert ranked and all(len(set(r["responses"])) == 4 for r in ranked)


def test_rl_prompts_reuse_half_of_the_preference_prompts(data):
    pairs = {pair["prompt"] for pair in read_jsonl(data / "preference/pairs.jsonl")}
    ranked = {record["prompt"] for record in read_jsonl(data / "preference/ranked.jsonl")}
    prompts = read_jsonl(data / "rl/prompts.jsonl")
    assert len(prompts) == SMALL["n_rl_prompts"] and len({p["id"] for p in prompts}) == len(prompts)
    reused = [p for p in prompts if p["source"] == "preference"]
    new = [p for p in prompts if p["source"] == "new"]
    assert len(reused) == len(new) == SMALL["n_rl_prompts"] // 2
    assert all(p["prompt"] in pairs for p in reused)
    assert not [p for p in new if p["prompt"] in pairs | ranked]


def test_heldout_documents_follow_the_corpus_genre_mix(data, raw):
    """The held-out text is the perplexity filter's threshold data: a genre it lacks (the fact and glossary
    pages once) gets cut from the corpus as unusual. Its genre shares must follow the raw corpus's."""
    heads = {
        "digest": ("上市公司速览", "公司速查", "投资者手册"),
        "glossary": ("金融名词速查", "投资者教育", "财经词典"),
    }

    def shares(docs):
        return {genre: sum(d["text"].startswith(heads[genre]) for d in docs) / len(docs) for genre in heads}

    corpus, heldout = shares(list(raw.values())), shares(read_jsonl(data / "pretrain/heldout.jsonl"))
    assert all(heldout[genre] > 0 for genre in heads)
    assert heldout == pytest.approx(corpus, abs=0.12)


def test_exam_wrong_options_are_not_drilled_answers(data, raw, sft, kb, answers):
    """Drilling makes a string likelier anywhere, so an exam option that practice questions drill as a correct
    answer would be picked for exposure, not knowledge. Exchanges and categories have a handful of values
    shared by many facts, so they cannot avoid them."""
    shared = {c["category_zh"] for c in kb["concepts"]} | {c["name_zh"] for c in kb["companies"]}
    golds = {options["ABCD".index(letter)] for _, options, letter in exercise_blocks(raw, sft)} - shared
    keyed = {(a["subject"], str(a["id"])): a for a in answers if a["split"] == "val"}
    checked = 0
    for subject in json.loads((data / "exam/subject_mapping.json").read_text(encoding="utf-8")):
        for row in read_csv(data / f"exam/val/{subject}_val.csv")[1:]:
            if keyed[(subject, row[0])]["attribute"] in ("exchange", "category", "max_revenue"):
                continue
            wrong = {option for letter, option in zip("ABCD", row[2:6], strict=True) if letter != row[6]}
            assert not wrong & golds, (subject, row[1], wrong & golds)
            checked += 1
    assert golds and checked > 50
