"""The SFT records of the embedded world, split into train and test: every category of `instructions.py` and exam
practice on exercise facts, in the shares of `SFT_SHARES`; and, as a set of their own, the Self-QA-shaped tasks of
`reading.py` that teach the synthesis generator its two prompts."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from .exam import SUBJECTS, ExamPlan, exam_header, format_question, make_question
from .instructions import FACT_QUESTIONS, ITEM_MAKERS, SYSTEM_PROMPTS, company_fact, concept
from .reading import TASKS as READING_TASKS
from .world import World

if TYPE_CHECKING:
    from .generate import EmbeddedDataConfig

SFT_SHARES = {
    "company_fact": 0.28,
    "concept": 0.13,
    "calculation": 0.16,
    "comparison": 0.10,
    "exam_practice": 0.16,
    "safety": 0.12,
    "general": 0.05,
}
SELF_QA_SHARES = {"self_qa_questions": 0.5, "self_qa_answer": 0.5}


def _turns(rng: random.Random, world: World, category: str) -> list[tuple[str, str]]:
    """(user, assistant) turns: mostly one, sometimes two or three for company facts and concepts."""
    extra = rng.choice((1, 2)) if rng.random() < 0.25 else 0
    if category == "company_fact":
        company = rng.choice(world.companies)
        first = company_fact(rng, world, company)
        items = [first] + [
            company_fact(rng, world, company, attribute, followup=True)
            for attribute in rng.sample(list(FACT_QUESTIONS), extra if not first.question.isascii() else 0)
        ]
    elif category == "concept":
        items = [concept(rng, world)] + [concept(rng, world, followup=True) for _ in range(extra)]
    elif category in READING_TASKS:
        return READING_TASKS[category](rng, world)
    else:
        items = [ITEM_MAKERS[category](rng, world)]
    return [(item.question, item.answer) for item in items]


def _practice(rng: random.Random, world: World, plan: ExamPlan) -> tuple[list[tuple[str, str]], tuple]:
    subject = rng.choice(list(SUBJECTS))
    fact = rng.choice(plan["exercise"][subject])
    question = make_question(rng, world, fact)
    header = exam_header(subject) if rng.random() < 0.5 else ""
    prompt = header + format_question(question, with_answer=False)
    return [(prompt, f"{question.answer}\n\n解析：{question.explanation}")], (fact,)


def build_sft(
    rng: random.Random, world: World, plan: ExamPlan, config: EmbeddedDataConfig
) -> tuple[list[dict], list[dict], list[dict]]:
    """Train records, test records (disjoint by id and by first question) and the exercise-fact audit."""
    return _build(rng, world, plan, SFT_SHARES, config.sft_size, "sft", config.sft_test_fraction)


def build_self_qa_tasks(
    rng: random.Random, world: World, plan: ExamPlan, config: EmbeddedDataConfig
) -> tuple[list[dict], list[dict]]:
    """Train and test records of the two Self-QA-shaped tasks (`reading.py`), which teach a generator the prompts."""
    train, test, _ = _build(
        rng, world, plan, SELF_QA_SHARES, config.self_qa_tasks, "self-qa", config.sft_test_fraction
    )
    return train, test


def _build(
    rng: random.Random, world: World, plan: ExamPlan, shares: dict[str, float], size: int, prefix: str,
    test_fraction: float,
) -> tuple[list[dict], list[dict], list[dict]]:  # fmt: skip
    records: list[tuple[dict, tuple]] = []
    seen: set[str] = set()
    for category, share in shares.items():
        quota, made = round(share * size), 0
        for _ in range(quota * 20):
            if made >= quota:
                break
            if category == "exam_practice":
                turns, facts = _practice(rng, world, plan)
            else:
                turns, facts = _turns(rng, world, category), ()
            if turns[0][0] in seen:
                continue
            seen.add(turns[0][0])
            messages = [{"role": "system", "content": rng.choice(SYSTEM_PROMPTS)}] if rng.random() < 0.3 else []
            for user, assistant in turns:
                messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
            records.append(({"category": category, "messages": messages}, facts))
            made += 1
    rng.shuffle(records)
    audit = []
    for index, (record, facts) in enumerate(records):
        record["id"] = f"{prefix}-{index:05d}"
        audit += [
            {"source": "sft", "id": record["id"], "subject": f.subject, "entity": f.entity, "attribute": f.attribute}
            for f in facts
        ]
    n_test = max(1, round(test_fraction * len(records)))
    return [r for r, _ in records[n_test:]], [r for r, _ in records[:n_test]], audit
