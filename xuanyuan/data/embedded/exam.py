"""The multiple-choice finance exam in the official C-Eval layout, and the fact split it rests on.

Facts (company x attribute, company x ratio, concept x question type) are split once into `val`, `test` and
`exercise` pools. Val/test facts become exam questions; exercise facts become practice questions in the
pretraining corpus and the SFT data. The pools are disjoint, so the exam measures whether a model recalls
facts it only ever read as ordinary prose, never as a drilled question.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .world import (
    ATTRIBUTE_LABELS,
    CITIES,
    METRICS_BY_KEY,
    OTHER_EXCHANGES_ZH,
    PROFILE_ATTRIBUTES,
    SECTORS,
    STATEMENT_ATTRIBUTES,
    Company,
    Concept,
    World,
    fact_value,
    format_metric,
    metric_inputs,
    metric_value,
    worked_metric,
)

# Official C-Eval subject_mapping.json format: {subject: [English name, Chinese name, category]}.
SUBJECTS = {
    "listed_company_profile": ["Listed Company Profile", "上市公司概况", "Other"],
    "financial_statements": ["Financial Statements", "财务报表", "Social Science"],
    "financial_concepts": ["Financial Concepts", "金融概念", "Social Science"],
    "financial_calculation": ["Financial Calculation", "金融计算", "STEM"],
}
CSV_HEADER = ("id", "question", "A", "B", "C", "D", "answer", "explanation")
LETTERS = "ABCD"
DEV_SIZE = 5
RANKING = "max_revenue"
CONCEPT_QUESTION_TYPES = ("definition", "meaning", "english", "formula", "category")
_COMPANY_SUBJECTS = {
    "listed_company_profile": PROFILE_ATTRIBUTES,
    "financial_statements": STATEMENT_ATTRIBUTES,
    "financial_calculation": tuple(METRICS_BY_KEY),
}


@dataclass(frozen=True)
class Fact:
    """What one question asks: `entity` is a company or concept `name_zh`."""

    subject: str
    entity: str
    attribute: str  # a company attribute, a metric key, a concept question type, or RANKING
    group: tuple[str, ...] = ()  # the four companies compared by a RANKING question


@dataclass(frozen=True)
class Question:
    fact: Fact
    question: str
    options: tuple[str, ...]
    answer: str
    value: str
    explanation: str


# split ("val", "test", "exercise") -> subject -> facts
ExamPlan = dict[str, dict[str, list[Fact]]]


def has_formula(concept: Concept) -> bool:
    """Whether the concept's formula defines the concept itself (`市盈率 = ...`), so it can be asked as one."""
    return concept.formula_zh.startswith(concept.name_zh + " = ")


def _rankings(rng: random.Random, world: World, facts: list[Fact], count: int) -> list[Fact]:
    """Up to `count` "largest revenue among four" facts over companies whose revenue fact is in `facts`."""
    names = [fact.entity for fact in facts if fact.attribute == "revenue"]
    rankings: list[Fact] = []
    seen: set[tuple[str, ...]] = set()
    for _ in range(count * 20):
        if len(rankings) >= count or len(names) < 4:
            break
        group = tuple(rng.sample(names, 4))
        revenues = sorted(world.company(name).financials.revenue for name in group)
        if tuple(sorted(group)) in seen or revenues[-1] == revenues[-2]:
            continue
        seen.add(tuple(sorted(group)))
        winner = max(group, key=lambda name: world.company(name).financials.revenue)
        rankings.append(Fact("financial_statements", winner, RANKING, group))
    return rankings


def split_sizes(n_facts: int, val_size: int, test_size: int, val_share: float) -> tuple[int, int]:
    """How many of `n_facts` go to val and to test: the exam gets two thirds (the last third stays for exercise),
    val `val_share` of all facts and test the rest of the two thirds, each capped at its size."""
    exam = 2 * (n_facts // 3)
    n_val = min(val_size, exam, int(n_facts * val_share + 1e-9))
    return n_val, min(test_size, exam - n_val)


def _split(items: list, val_size: int, test_size: int, val_share: float) -> dict[str, list]:
    """`items` cut, in order, into val, test and exercise pools of the sizes `split_sizes` gives."""
    n_val, n_test = split_sizes(len(items), val_size, test_size, val_share)
    return {"val": items[:n_val], "test": items[n_val : n_val + n_test], "exercise": items[n_val + n_test :]}


def build_plan(rng: random.Random, world: World, val_size: int, test_size: int, val_share: float = 1 / 3) -> ExamPlan:
    """Split the askable facts into disjoint val / test / exercise pools (see `split_sizes`).

    Company facts are split per (company, attribute); concepts are split whole, so an exam concept is never
    drilled in any question form.
    """
    plan: ExamPlan = {"val": {}, "test": {}, "exercise": {}}
    for subject, attributes in _COMPANY_SUBJECTS.items():
        facts = [Fact(subject, company.name_zh, attribute) for company in world.companies for attribute in attributes]
        rng.shuffle(facts)
        for split, pool in _split(facts, val_size, test_size, val_share).items():
            if subject == "financial_statements":  # a tenth of its questions rank four companies by revenue
                n_rank = len(pool) // 10
                pool = pool[: len(pool) - n_rank] if split != "exercise" else pool
                pool = pool + _rankings(rng, world, pool, n_rank)
            plan[split][subject] = pool
    concepts = list(world.concepts)
    rng.shuffle(concepts)
    sizes = {"val": val_size, "test": test_size, "exercise": None}
    for split, group in _split(concepts, len(concepts), len(concepts), val_share).items():
        facts = [
            Fact("financial_concepts", concept.name_zh, kind)
            for concept in group
            for kind in CONCEPT_QUESTION_TYPES
            if kind != "formula" or has_formula(concept)
        ]
        rng.shuffle(facts)
        plan[split]["financial_concepts"] = facts[: sizes[split]]
    return plan


def _choose(
    rng: random.Random, value: str, candidates: list[str], drilled: frozenset[str] = frozenset()
) -> tuple[tuple[str, ...], str]:
    """Four distinct options: `value` at a uniformly random position plus three distinct wrong candidates,
    none of them `drilled` while three others exist."""
    wrong = [candidate for candidate in dict.fromkeys(candidates) if candidate != value]
    fresh = [candidate for candidate in wrong if candidate not in drilled]
    options = rng.sample(fresh if len(fresh) >= 3 else wrong, 3)
    position = rng.randrange(4)
    options.insert(position, value)
    return tuple(options), LETTERS[position]


_COMPANY_STEMS = {
    "sector": ("{name}所属的行业是____。", "下列选项中，{name}所在的行业是"),
    "city": ("{name}的总部位于____。", "{name}的总部设在哪个城市？"),
    "founded": ("{name}成立于____。", "{name}是在哪一年成立的？"),
    "listed": ("{name}的股票于____上市。", "{name}在哪一年上市？"),
    "chairman": ("{name}的现任董事长是____。", "下列人物中，担任{name}董事长的是"),
    "exchange": ("{name}的股票在____上市交易。", "{name}是哪家证券交易所的上市公司？"),
    "ticker": ("{name}的A股股票代码是____。", "下列代码中，属于{name}的股票代码是"),
    "revenue": ("{name}2023年的营业收入约为____。", "根据2023年年报，{name}全年实现营业收入"),
    "net_profit": ("{name}2023年的净利润约为____。", "根据2023年年报，{name}全年实现净利润"),
    "total_assets": ("截至2023年末，{name}的总资产约为____。", "{name}2023年末的资产总额是"),
    "debt_ratio": ("{name}2023年末的资产负债率为____。", "截至2023年末，{name}的资产负债率是"),
    "roe": ("{name}2023年的净资产收益率（ROE）为____。", "2023年，{name}的净资产收益率是"),
    "eps": ("{name}2023年的每股收益为____。", "2023年，{name}的基本每股收益是"),
    "dps": ("{name}2023年度每股派发现金红利____（含税）。", "{name}2023年度的每股现金分红是"),
}


def _extra_candidates(attribute: str, company: Company) -> list[str]:
    """Wrong options that need not be another company's value (so small worlds still have three)."""
    if attribute == "sector":
        return [sector.zh for sector in SECTORS]
    if attribute == "city":
        return [city for city, _ in CITIES]
    if attribute == "exchange":
        return list(OTHER_EXCHANGES_ZH)
    if attribute in ("founded", "listed"):
        year = getattr(company, attribute)
        return [f"{year + delta}年" for delta in (-6, -4, -3, -2, 2, 3, 4, 6) if year + delta < 2023]
    return []


def _company_question(rng: random.Random, world: World, fact: Fact, drilled: frozenset[str]) -> Question:
    company = world.company(fact.entity)
    value = fact_value(company, fact.attribute)
    others = [fact_value(other, fact.attribute) for other in world.companies if other is not company]
    candidates = others + _extra_candidates(fact.attribute, company)
    rng.shuffle(candidates)
    options, answer = _choose(rng, value, candidates, drilled)
    stem = rng.choice(_COMPANY_STEMS[fact.attribute]).format(name=company.name_zh)
    year = "2023年" if fact.attribute in STATEMENT_ATTRIBUTES else ""
    explanation = f"{company.name_zh}{year}的{ATTRIBUTE_LABELS[fact.attribute]}为{value}。"
    return Question(fact, stem, options, answer, value, explanation)


def _ranking_question(rng: random.Random, world: World, fact: Fact) -> Question:
    options = list(fact.group)
    rng.shuffle(options)
    stem = rng.choice(("下列四家上市公司中，2023年营业收入最高的是", "以下公司中，2023年营业收入规模最大的是____。"))
    listing = "，".join(f"{name}为{fact_value(world.company(name), 'revenue')}" for name in options)
    explanation = f"2023年营业收入：{listing}，其中{fact.entity}最高。"
    return Question(fact, stem, tuple(options), LETTERS[options.index(fact.entity)], fact.entity, explanation)


def _calculation_question(rng: random.Random, world: World, fact: Fact, drilled: frozenset[str]) -> Question:
    company, metric = world.company(fact.entity), METRICS_BY_KEY[fact.attribute]
    value = metric_value(company, metric.key)
    true = metric.compute(company.financials)
    slips = [format_metric(metric, true * factor) for factor in (10, 0.1, 2, 0.5, 1.25, 0.8, 1.5)]
    others = [metric_value(other, metric.key) for other in world.companies if other is not company]
    rng.shuffle(others)
    options, answer = _choose(rng, value, slips + others[:3], drilled)
    inputs = metric_inputs(company, metric.key)
    stem = rng.choice(
        (
            "已知{name}2023年{inputs}，则其{metric}约为____。",
            "根据2023年年报，{name}{inputs}。据此计算，该公司的{metric}约为",
        )
    ).format(name=company.name_zh, inputs=inputs, metric=metric.name_zh)
    return Question(fact, stem, options, answer, value, worked_metric(company, metric.key) + "。")


def _concept_question(rng: random.Random, world: World, fact: Fact, drilled: frozenset[str]) -> Question:
    concept = world.concept(fact.entity)
    others = [other for other in world.concepts if other is not concept]
    rng.shuffle(others)
    kind = fact.attribute
    if kind == "definition":
        stem = rng.choice(("____是指{d}。", "下列哪个金融概念是指{d}？"))
        value, candidates = concept.name_zh, [other.name_zh for other in others]
    elif kind == "meaning":
        stem, value, candidates = "{n}是指____。", concept.definition_zh, [other.definition_zh for other in others]
    elif kind == "english":
        stem = rng.choice(("____的英文名称是{e}。", "英文术语“{e}”对应的中文金融概念是"))
        value, candidates = concept.name_zh, [other.name_zh for other in others]
    elif kind == "formula":
        stem = "{n}的计算公式为：{n} = ____。"
        value = concept.formula_zh.split(" = ", 1)[1]
        candidates = [other.formula_zh.split(" = ", 1)[1] for other in others if has_formula(other)]
    else:
        stem = rng.choice(("按知识类别划分，{n}属于____方面的概念。", "{n}通常被归入哪一类金融知识？"))
        value, candidates = concept.category_zh, [other.category_zh for other in others]
    options, answer = _choose(rng, value, candidates, drilled)
    question = stem.format(n=concept.name_zh, d=concept.definition_zh, e=concept.name_en)
    explanation = (
        f"{concept.name_zh}（{concept.name_en}）是指{concept.definition_zh}。它属于{concept.category_zh}方面的概念。"
    )
    if has_formula(concept):
        explanation += f"计算公式为：{concept.formula_zh}。"
    return Question(fact, question, options, answer, value, explanation)


def make_question(rng: random.Random, world: World, fact: Fact, drilled: frozenset[str] = frozenset()) -> Question:
    """Render one fact as a four-option question; the same fact can be rendered many ways. Wrong options avoid
    the `drilled` answers (see `drilled_answers`) while enough others exist."""
    if fact.subject == "financial_concepts":
        return _concept_question(rng, world, fact, drilled)
    if fact.subject == "financial_calculation":
        return _calculation_question(rng, world, fact, drilled)
    if fact.attribute == RANKING:
        return _ranking_question(rng, world, fact)
    return _company_question(rng, world, fact, drilled)


def drilled_answers(world: World, plan: ExamPlan) -> frozenset[str]:
    """The answers of every exercise fact, which practice questions and SFT drill.

    An exam question must not offer them as wrong options: drilling makes a string likelier wherever it
    appears, so a likelihood-scored exam would count a model's exposure to a distractor as ignorance of the
    fact (SFT, which drills exercise facts hardest, lost exam accuracy this way on concept meanings and
    company figures whose wrong options were drilled answers).
    """
    answers: set[str] = set()
    for subject, facts in plan["exercise"].items():
        for fact in facts:
            if fact.attribute == RANKING:
                continue
            if subject == "financial_concepts":
                concept = world.concept(fact.entity)
                answers |= {concept.name_zh, concept.definition_zh, concept.formula_zh.split(" = ", 1)[-1]}
            elif subject == "financial_calculation":
                answers.add(metric_value(world.company(fact.entity), fact.attribute))
            else:
                answers.add(fact_value(world.company(fact.entity), fact.attribute))
    return frozenset(answers)


def exam_header(subject: str) -> str:
    """The C-Eval instruction line that precedes the questions of one subject."""
    return f"以下是中国关于{SUBJECTS[subject][1]}考试的单项选择题，请选出其中的正确答案。\n\n"


def format_question(question: Question, with_answer: bool) -> str:
    """C-Eval prompt shape: the stem, `A. ...` to `D. ...`, then `答案：` (with the letter and a blank line)."""
    lines = [
        question.question,
        *(f"{letter}. {option}" for letter, option in zip(LETTERS, question.options, strict=True)),
    ]
    return "\n".join(lines) + ("\n答案：" + question.answer + "\n\n" if with_answer else "\n答案：")


def build_exam(
    rng: random.Random, world: World, plan: ExamPlan, renderings: int = 1
) -> tuple[dict[str, list[list[str]]], list[dict]]:
    """CSV rows per file (`dev/x_dev.csv`, `val/x_val.csv`, `test/x_test.csv`) and the val/test answer key.

    Dev takes the first exercise facts and carries explanations, as the official dev split does; test rows
    leave the answer empty, as the official test split hides it. Each val/test fact is asked `renderings`
    times (wording, distractors and answer position drawn anew), consecutive ids; the answer key's `fact`
    names the fact behind each question, so paired comparisons can treat a fact's questions as one cluster.
    """
    tables: dict[str, list[list[str]]] = {}
    answers: list[dict] = []
    drilled = drilled_answers(world, plan)
    for subject in SUBJECTS:
        splits = {
            "dev": plan["exercise"][subject][:DEV_SIZE],
            "val": plan["val"][subject],
            "test": plan["test"][subject],
        }
        for split, facts in splits.items():
            rows = []
            copies = 1 if split == "dev" else renderings
            asked = [(number, fact) for number, fact in enumerate(facts) for _ in range(copies)]
            for index, (number, fact) in enumerate(asked):
                question = make_question(rng, world, fact, drilled if split != "dev" else frozenset())
                answer = question.answer if split != "test" else ""
                explanation = question.explanation if split == "dev" else ""
                rows.append([str(index), question.question, *question.options, answer, explanation])
                if split != "dev":
                    entity_key = "concept" if subject == "financial_concepts" else "company"
                    record = {"split": split, "subject": subject, "id": index, "answer": question.answer}
                    record["fact"] = f"{subject}/{number}"
                    record |= {entity_key: fact.entity, "attribute": fact.attribute, "value": question.value}
                    if fact.group:
                        record["candidates"] = list(fact.group)
                    answers.append(record)
            tables[f"{split}/{subject}_{split}.csv"] = rows
    return tables, answers
