"""Self-QA (XuanYuan-6B): instruction data from unsupervised knowledge, with no seed instructions.

Two generation steps over the knowledge items of `knowledge.py`, each resumable through `SynthesisRun`:
- `instructions`: the generator reads an item and writes `num_questions` questions a finance user could ask
  without seeing it (template `instructions` of `resources/synthesis/self_qa.yaml`, in the item's language). The
  numbered lines of its reply ("1. …", "2、…", "(3) …") are the questions; an item whose replies hold none is
  dropped `malformed`, with the replies kept in `dropped.jsonl`.
- `answers`: the generator answers each question by reading the item (template `answer`: reading comprehension).
Then every rule of `filters.py` runs as its own step (malformed, too_short, too_long, refers_to_text,
wrong_language, ungrounded, near_duplicate), so the funnel shows what each removed. A kept pair becomes an SFT
record: `{"id", "messages": [user question, assistant answer], "category": "self_qa", "source": {"knowledge_id",
"source", "generator"}}` (and the document's `domain` in `source` when it has one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from ...evaluation.generation import Sampling
from .filters import FilterConfig, filter_pairs
from .generators import Generator
from .prompts import load_templates, render
from .runner import DROPPED, SynthesisRun

TASK = "self_qa"
# "1. q", "2、q", "3) q", "(4) q", "（5）q", "6：q"; a decimal such as "1.5亿元…" is not a number label.
NUMBERED = re.compile(r"^\s*[(（]?\d{1,3}[.．、)）:：](?!\d)\s*(?P<question>.*?)\s*$")


@dataclass
class SelfQAConfig:
    num_questions: int = 5  # asked of the generator per knowledge item
    instruction_sampling: Sampling = field(default_factory=lambda: Sampling(max_new_tokens=256))
    answer_sampling: Sampling = field(default_factory=lambda: Sampling(max_new_tokens=256))
    filters: FilterConfig = field(default_factory=FilterConfig)
    templates: str | None = None  # a YAML file replacing some of the shipped templates
    chunk_size: int = 16  # knowledge items (then questions) per resumable chunk

    def __post_init__(self):
        if self.num_questions < 1 or self.chunk_size < 1:
            raise ValueError(f"num_questions and chunk_size must be positive, got {self.num_questions}, "
                             f"{self.chunk_size}")  # fmt: skip
        if self.answer_sampling.num_samples != 1:
            raise ValueError(f"answer_sampling.num_samples must be 1 (one answer per question), got "
                             f"{self.answer_sampling.num_samples}")  # fmt: skip


def parse_questions(reply: str) -> list[str]:
    """The non-empty numbered lines of a reply, without their numbers."""
    found = (NUMBERED.match(line) for line in reply.splitlines())
    return [match.group("question") for match in found if match and match.group("question")]


def _user(content: str) -> list[dict]:
    return [{"role": "user", "content": content}]


def sft_record(pair: dict) -> dict:
    source = {"knowledge_id": pair["knowledge_id"], "source": pair["source"], "generator": pair["generator"]}
    if pair.get("domain"):
        source["domain"] = pair["domain"]
    messages = [{"role": "user", "content": pair["instruction"]}, {"role": "assistant", "content": pair["answer"]}]
    return {"id": pair["id"], "messages": messages, "category": TASK, "source": source}


def run_self_qa(
    knowledge_items: Sequence[dict], generator: Generator, config: SelfQAConfig, run: SynthesisRun
) -> list[dict]:
    """SFT records made from `knowledge_items` (`{id, text, source, language}`); see the module docstring."""
    templates = load_templates(TASK, config.templates)

    def ask(chunk: list[dict], seed: int) -> list[dict]:
        prompts = [
            _user(render(templates, item["language"], "instructions", knowledge=item["text"],
                         num_questions=config.num_questions))
            for item in chunk
        ]  # fmt: skip
        outputs = []
        for item, replies in zip(chunk, generator.complete(prompts, config.instruction_sampling, seed), strict=True):
            questions = [question for reply in replies for question in parse_questions(reply)]
            if not questions:
                reason = f"malformed: no numbered question in the reply {replies[0][:80]!r}"
                outputs.append({**item, "replies": replies, DROPPED: reason})
            outputs += [
                {"id": f"{item['id']}/q{number}", "knowledge_id": item["id"], "instruction": question,
                 "reference": item["text"], "language": item["language"], "source": item["source"],
                 "domain": item.get("domain")}
                for number, question in enumerate(questions, start=1)
            ]  # fmt: skip
        return outputs

    def answer(chunk: list[dict], seed: int) -> list[dict]:
        prompts = [
            _user(render(templates, q["language"], "answer", knowledge=q["reference"], question=q["instruction"]))
            for q in chunk
        ]
        replies = generator.complete(prompts, config.answer_sampling, seed)
        return [
            {**q, "answer": texts[0], "generator": generator.name} for q, texts in zip(chunk, replies, strict=True)
        ]

    def settings(template: str, sampling: Sampling) -> dict:
        used = {language: named[template] for language, named in templates.items() if template in named}
        return {"generator": generator.name, "template": used, "sampling": asdict(sampling)}

    ask_settings = {**settings("instructions", config.instruction_sampling), "num_questions": config.num_questions}
    questions = run.generate("instructions", knowledge_items, ask, config.chunk_size, ask_settings)
    pairs = run.generate("answers", questions, answer, config.chunk_size, settings("answer", config.answer_sampling))
    return [sft_record(pair) for pair in filter_pairs(run, pairs, config.filters)]
