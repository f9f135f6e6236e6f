"""Evol-Instruct (WizardLM): existing finance questions rewritten into harder or new ones, failed rewrites eliminated.

Operations (templates in `xuanyuan/resources/synthesis/evol.yaml`): in depth `add_constraints`, `deepen`,
`concretize` and `increase_reasoning` make a question harder; in breadth `breadth` writes a new question of the
same domain on a rarer topic. Every question evolves for `rounds` rounds. The operation of each question and round
is drawn from `random.Random(chunk seed)` (`draw_operations`); the runner derives the chunk seed from the run seed,
the step and the chunk index, so a resumed run draws exactly what an uninterrupted one would. A rewrite that
survives is the base of the question's next round; a failed one leaves the question as it was for the next round.

WizardLM asked an LLM whether a rewrite gained information; here every elimination is a rule, so its verdict is
reproducible and its reason (`"<rule>: <detail>"`) is written aside with the item:
- `empty_rewrite`: the generator returned nothing;
- `no_change`: the rewrite is equal or nearly equal to its base — difflib's character similarity ratio
  (whitespace runs collapsed) at least `max_similarity`;
- `copied_prompt`: the rewrite contains a phrase of the rewriting prompt (`copied_phrases`, any case), i.e. the
  generator echoed the instructions instead of following them;
- `unusable_answer`: the generator's answer to the rewrite is empty, has fewer than `min_answer_chars` letters or
  digits, or contains a refusal phrase (`refusal_phrases`, any case).
Funnel steps per round r: `evolve_r{r}`, `rewrite_checks_r{r}`, `answer_r{r}`, `answer_checks_r{r}`.
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..conversations import load_prompts
from ..processing.language import detect_language
from ..records import LoadReport
from .prompts import LANGUAGES, render

if TYPE_CHECKING:  # the types only: a recipe's --help must not load torch
    from ...evaluation.generation import Sampling
    from .generators import Generator
    from .runner import SynthesisRun

IN_DEPTH = ("add_constraints", "deepen", "concretize", "increase_reasoning")
IN_BREADTH = ("breadth",)
OPERATIONS = (*IN_DEPTH, *IN_BREADTH)
CATEGORY = "evol_instruct"
# the shipped templates' markers and WizardLM's, in both languages
COPIED_PHRASES = (
    "#原问题#", "#改写后的问题#", "#参考问题#", "#新问题#", "改写后的问题", "原问题",
    "#Given Question#", "#Rewritten Question#", "#Reference Question#", "#New Question#", "given question",
    "rewritten question", "#Given Prompt#", "#Rewritten Prompt#", "given prompt", "rewritten prompt",
)  # fmt: skip
REFUSAL_PHRASES = ("抱歉", "对不起", "无法回答", "sorry", "I cannot", "I can't", "I am unable", "as an AI")


@dataclass
class EvolConfig:
    rounds: int = field(default=2, metadata={"help": "Rewrites per question, each of the previous survivor."})
    operations: list[str] = field(
        default_factory=lambda: list(OPERATIONS),
        metadata={"help": "Each rewrite's operation is drawn from these, uniformly."},
    )
    language: str = field(default="auto", metadata={"help": "zh, en, or auto (by the question's script)."})
    max_similarity: float = field(default=0.9, metadata={"help": "no_change at or above this difflib ratio."})
    copied_phrases: list[str] = field(
        default_factory=lambda: list(COPIED_PHRASES),
        metadata={"help": "copied_prompt when a rewrite holds one (any case)."},
    )
    refusal_phrases: list[str] = field(
        default_factory=lambda: list(REFUSAL_PHRASES),
        metadata={"help": "unusable_answer when an answer holds one (any case)."},
    )
    min_answer_chars: int = field(default=10, metadata={"help": "Fewest letters/digits of a usable answer."})

    def __post_init__(self):
        unknown = [name for name in self.operations if name not in OPERATIONS]
        if not self.operations or unknown:
            raise ValueError(f"operations must be a non-empty list of {OPERATIONS}, got {self.operations}")
        if self.rounds < 1 or self.min_answer_chars < 0 or not 0 < self.max_similarity <= 1:
            raise ValueError(
                f"need rounds >= 1, min_answer_chars >= 0 and 0 < max_similarity <= 1; got rounds={self.rounds}, "
                f"min_answer_chars={self.min_answer_chars}, max_similarity={self.max_similarity}"
            )
        if self.language not in ("auto", *LANGUAGES):
            raise ValueError(f"language must be auto or one of {LANGUAGES}, got {self.language!r}")


def load_questions(
    sources: str | Path | Iterable[str | Path], on_bad_record: str = "error", rejects_path: str | Path | None = None
) -> tuple[list[dict], LoadReport]:
    """`{id, question}` of every record: an SFT record's first user turn (later turns lean on the earlier
    ones), or its `question`."""
    prompts, report = load_prompts(sources, on_bad_record, rejects_path, text_fields=("question",))
    first_user_turns = [next(t["content"] for t in p["prompt"] if t["role"] == "user") for p in prompts]
    return [{"id": p["id"], "question": q} for p, q in zip(prompts, first_user_turns, strict=True)], report


def draw_operations(seed: int, count: int, operations: Sequence[str]) -> list[str]:
    """The operations of `count` questions, in order, drawn from `random.Random(seed)`."""
    rng = random.Random(seed)
    return [rng.choice(list(operations)) for _ in range(count)]


def similarity(a: str, b: str) -> float:
    """difflib's ratio of the two texts, whitespace runs collapsed (2 × matched characters / total characters)."""
    a, b = " ".join(a.split()), " ".join(b.split())
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _found(text: str, phrases: Sequence[str]) -> str | None:
    folded = text.casefold()
    return next((phrase for phrase in phrases if phrase.casefold() in folded), None)


def rewrite_verdict(base: str, rewrite: str, config: EvolConfig) -> str | None:
    """None for a rewrite to keep, else the reason it is eliminated (see the module docstring)."""
    if not rewrite.strip():
        return "empty_rewrite: the generator returned no question"
    ratio = similarity(base, rewrite)
    if ratio >= config.max_similarity:
        return f"no_change: similarity {ratio:.3f} >= {config.max_similarity} to the question it rewrites"
    phrase = _found(rewrite, config.copied_phrases)
    if phrase is not None:
        return f"copied_prompt: contains {phrase!r}"
    return None


def answer_verdict(answer: str, config: EvolConfig) -> str | None:
    """None for a usable answer, else why it is not (see the module docstring)."""
    if not answer.strip():
        return "unusable_answer: empty"
    letters = sum(char.isalnum() for char in answer)
    if letters < config.min_answer_chars:
        return f"unusable_answer: {letters} letters or digits < {config.min_answer_chars}"
    phrase = _found(answer, config.refusal_phrases)
    if phrase is not None:
        return f"unusable_answer: refusal {phrase!r}"
    return None


def _language(text: str, config: EvolConfig) -> str:
    return detect_language(text) if config.language == "auto" else config.language


def evolve_questions(
    run: SynthesisRun,
    questions: Sequence[dict],
    generator: Generator,
    templates: dict[str, dict[str, str]],
    config: EvolConfig,
    evolve_sampling: Sampling,
    answer_sampling: Sampling,
    chunk_size: int = 16,
) -> list[dict]:
    """The SFT records of every surviving rewrite of every round (round 1 first, each in input order).

    `generator` both rewrites and answers (its name is recorded in each record's `source`)."""

    def answer(chunk: list[dict], seed: int) -> list[dict]:
        prompts = [[{"role": "user", "content": item["question"]}] for item in chunk]
        replies = generator.complete(prompts, answer_sampling, seed)
        return [{**item, "answer": reply[0].strip()} for item, reply in zip(chunk, replies, strict=True)]

    bases = {item["id"]: item["question"] for item in questions}
    records = []
    for round_number in range(1, config.rounds + 1):

        def evolve(chunk: list[dict], seed: int, round_number: int = round_number) -> list[dict]:
            operations = draw_operations(seed, len(chunk), config.operations)
            prompts = [
                [{"role": "user", "content": render(templates, _language(item["question"], config), operation,
                                                    question=item["question"])}]
                for item, operation in zip(chunk, operations, strict=True)
            ]  # fmt: skip
            replies = generator.complete(prompts, evolve_sampling, seed)
            return [
                {"id": item["id"], "parent": item["question"], "question": reply[0].strip(), "operation": operation,
                 "round": round_number}
                for item, operation, reply in zip(chunk, operations, replies, strict=True)
            ]  # fmt: skip

        pool = [{"id": item_id, "question": question} for item_id, question in bases.items()]
        rewrite_settings = {"generator": generator.name, "operations": config.operations, "language": config.language,
                            "templates": templates, "sampling": asdict(evolve_sampling)}  # fmt: skip
        rewrites = run.generate(f"evolve_r{round_number}", pool, evolve, chunk_size, rewrite_settings)
        verdicts = [rewrite_verdict(item["parent"], item["question"], config) for item in rewrites]
        rewrites = run.filter(f"rewrite_checks_r{round_number}", rewrites, verdicts)
        answer_settings = {"generator": generator.name, "sampling": asdict(answer_sampling)}
        answered = run.generate(f"answer_r{round_number}", rewrites, answer, chunk_size, answer_settings)
        verdicts = [answer_verdict(item["answer"], config) for item in answered]
        for item in run.filter(f"answer_checks_r{round_number}", answered, verdicts):
            bases[item["id"]] = item["question"]
            records.append(_record(item, generator.name))
    return records


def _record(item: dict, generator_name: str) -> dict:
    return {
        "id": f"{item['id']}-evol{item['round']}",
        "messages": [{"role": "user", "content": item["question"]}, {"role": "assistant", "content": item["answer"]}],
        "category": CATEGORY,
        "source": {"original_id": item["id"], "operation": item["operation"], "round": item["round"],
                   "generator": generator_name, "parent": item["parent"]},
    }  # fmt: skip
