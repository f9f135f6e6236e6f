"""SFT tasks in the shape of Self-QA's two prompts, which teach a tiny model to be the synthesis generator.

Both render the shipped Self-QA templates (`xuanyuan/resources/synthesis/self_qa.yaml`, Chinese) over a piece
of world knowledge written the way `xuanyuan.data.synthesis.knowledge` writes a user's knowledge: a passage of
fact sentences about one company, a row of the company table, or a concept's triples.
- `self_qa_questions`: the `instructions` prompt; the answer is `num_questions` numbered questions, each about a
  fact the knowledge states and asked with the entity's name (standing on its own, as the template requires).
- `self_qa_answer`: the `answer` prompt with one such question; the answer is the fact, stated from the knowledge.
The main job's `self_qa_generator` stage fine-tunes the pretrained model on them (`sft/self_qa_train.jsonl`).
"""

from __future__ import annotations

import random
import re
from functools import cache

from ..synthesis.knowledge import entity_passages, row_text
from ..synthesis.prompts import load_templates, render
from .documents import fact_sentence
from .instructions import FACT_QUESTIONS
from .knowledge import COLUMN_ATTRIBUTES, COMPANY_TABLE_TITLE, company_row, concept_statements
from .world import Company, Concept, World

MAX_CHARS = 200  # the main job's Self-QA passage length
NUM_QUESTIONS = (2, 3, 4)
_PASSAGE_ATTRIBUTES = ("sector", "city", "founded", "listed", "chairman", "employees", "revenue", "net_profit",
                       "total_assets", "debt_ratio", "roe", "eps", "dps")  # fmt: skip
# relation -> (questions, answer) about a concept `n` whose value is `v`; answers restate the triple's words. Not the
# English name: an answer made of it is mostly English, which the wrong_language filter rightly drops.
_CONCEPT_QA = {
    "定义": (("什么是{n}？", "{n}是什么意思？", "请解释一下{n}。"), "{n}是指{v}。"),
    "英文缩写": (("{n}的英文缩写是什么？",), "{n}的英文缩写是{v}。"),
    "计算公式": (("{n}怎么计算？", "{n}的计算公式是什么？"), "{n}的计算公式是：{v}。"),
    "所属类别": (("{n}属于哪一类金融概念？",), "{n}所属类别为{v}。"),
}
Fact = tuple[str, str]  # (question, answer)


def _company_passage(rng: random.Random, world: World) -> tuple[str, list[Fact]]:
    """Fact sentences about one company (after the first, sometimes calling it 公司 / 该公司, as documents do);
    each answer is its sentence with the name."""
    company = rng.choice(world.companies)
    attributes = rng.sample(_PASSAGE_ATTRIBUTES, rng.randint(3, 5))
    sentences = [fact_sentence(rng, company, attribute) for attribute in attributes]
    while len("".join(sentences)) > MAX_CHARS:
        attributes.pop()
        sentences.pop()
    alias = [index > 0 and rng.random() < 0.35 for index in range(len(sentences))]
    text = "".join(
        s.replace(company.name_zh, rng.choice(("公司", "该公司")), 1) if aliased else s
        for s, aliased in zip(sentences, alias, strict=True)
    )
    return text, [(_question(rng, company, a), s) for a, s in zip(attributes, sentences, strict=True)]


def _question(rng: random.Random, company: Company, attribute: str) -> str:
    return rng.choice(FACT_QUESTIONS[attribute]).format(name=company.name_zh, ticker=company.ticker)


def _table_row(rng: random.Random, world: World) -> tuple[str, list[Fact]]:
    """A row of the company table; each answer states one cell: `<company>的<column>为<value><unit>。`"""
    company = rng.choice(world.companies)
    row = company_row(company)
    facts = []
    for column, value in row[1:]:
        label, unit = re.fullmatch(r"(.+?)(?:（(.+)）)?", column).groups()
        answer = f"{company.name_zh}的{label}为{value}{unit or ''}。"
        facts.append((_question(rng, company, COLUMN_ATTRIBUTES[column]), answer))
    return row_text(row, "zh", COMPANY_TABLE_TITLE), facts


def _concept(rng: random.Random, world: World) -> tuple[str, list[Fact]]:
    concept: Concept = rng.choice(world.concepts)
    statements = concept_statements(concept)
    (text, *_) = entity_passages(concept.name_zh, statements, "zh", MAX_CHARS)
    facts = []
    for relation, value in statements:
        if relation in _CONCEPT_QA and relation in text:  # stated in the (first) passage
            questions, answer = _CONCEPT_QA[relation]
            facts.append((rng.choice(questions).format(n=concept.name_zh), answer.format(n=concept.name_zh, v=value)))
    return text, facts


_KNOWLEDGE = ((_company_passage, 0.4), (_table_row, 0.3), (_concept, 0.3))


def knowledge_with_facts(rng: random.Random, world: World) -> tuple[str, list[Fact]]:
    """A piece of knowledge and (question, answer) pairs about facts it states."""
    (make,) = rng.choices([make for make, _ in _KNOWLEDGE], weights=[weight for _, weight in _KNOWLEDGE])
    return make(rng, world)


@cache
def _templates() -> dict[str, dict[str, str]]:
    """The shipped Self-QA templates, read once per process (every record renders one)."""
    return load_templates("self_qa")


def question_writing(rng: random.Random, world: World) -> list[tuple[str, str]]:
    """One turn: the Self-QA instructions prompt and numbered questions about the knowledge."""
    text, facts = knowledge_with_facts(rng, world)
    count = min(rng.choice(NUM_QUESTIONS), len(facts))
    chosen = sorted(rng.sample(range(len(facts)), count))
    prompt = render(_templates(), "zh", "instructions", knowledge=text, num_questions=count)
    return [(prompt, "\n".join(f"{number}. {facts[index][0]}" for number, index in enumerate(chosen, start=1)))]


def reading(rng: random.Random, world: World) -> list[tuple[str, str]]:
    """One turn: the Self-QA answer prompt with a question about the knowledge, and its answer."""
    text, facts = knowledge_with_facts(rng, world)
    question, answer = rng.choice(facts)
    return [(render(_templates(), "zh", "answer", knowledge=text, question=question), answer)]


TASKS = {"self_qa_questions": question_writing, "self_qa_answer": reading}
