"""Heuristic filters of synthesized instruction / answer pairs, shared by the synthesis steps (Self-QA, Evol-Instruct).

Each rule is a small function of strings (instruction, answer, reference text, expected language) that returns
None to keep the pair or the reason to drop it, `"<rule>: <detail>"`, which `SynthesisRun.filter` writes aside
and counts per rule. Thresholds live in `FilterConfig`.

- `malformed`: an empty instruction or answer, an instruction without words, or (with `require_question`) one
  that is not a question: no question mark, no Chinese interrogative or request word, no English question word
  at its start.
- `too_short` / `too_long`: characters of the instruction and of the answer, each with its own bounds.
- `refers_to_text`: an instruction that points at a text its asker cannot see ("上文", "根据材料", "according to
  the text", …); English phrases match whole words.
- `wrong_language`: the instruction or answer is not in the expected language (Han share of letters, as the data
  pipeline detects it); a text with fewer than `min_language_letters` letters is not judged.
- `ungrounded`: the share of the answer's character n-grams (the MinHash dedup's simplified text: lower case, no
  punctuation or spaces) found in the reference is below `min_grounding`; n is 2 for a Chinese answer, 4 for an
  English one (English character bigrams match almost any English text).
- `near_duplicates` (a batch rule): the project's MinHash near-dedup (`dedup.near_duplicate_roots`) over the
  instructions; the first of each group is kept, the others get `near_duplicate: of <id>`.
`filter_pairs` runs the rules named in `rules` as one `run.filter` step each over `{id, instruction, answer,
language, reference}` items, so the funnel shows what each rule removed.
Such rules are a few string tests each; no library packages them with reasons per item.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ...utils.phrases import phrase_pattern
from ..processing.dedup import DedupConfig, near_duplicate_roots, shingles
from ..processing.language import detect_language
from .runner import SynthesisRun

# Phrases by which a question points at a text its asker would not have.
TEXT_REFERENCES = (
    "上文", "下文", "本文", "原文", "文中提到", "文中所述", "文中所说", "根据材料", "根据上述", "根据以上", "根据文本",
    "根据这段", "根据该段", "根据所给", "根据提供", "上述材料", "该材料", "材料中", "阅读材料", "这段话", "这段文字",
    "这段内容", "这段知识", "该段落", "给定的文本", "提供的文本",
    "according to the text", "according to the passage", "according to the document", "according to the article",
    "according to the material", "based on the text", "based on the passage", "in the text", "in the passage",
    "the text above", "the passage above", "the above text", "the above passage", "mentioned above",
    "the given text", "the provided text", "this text", "this passage", "this article",
)  # fmt: skip
ZH_QUESTION_WORDS = ("什么", "怎么", "怎样", "如何", "为什么", "为何", "哪", "谁", "多少", "几", "是否", "吗", "呢",
                     "能否", "可否", "请")  # fmt: skip
EN_QUESTION_WORDS = ("what", "how", "why", "when", "where", "which", "who", "whom", "whose", "is", "are", "was",
                     "were", "do", "does", "did", "can", "could", "should", "would", "will", "has", "have",
                     "explain", "describe", "list", "compare", "define", "tell", "give", "name", "summarize",
                     "please")  # fmt: skip


@dataclass
class FilterConfig:
    min_instruction_chars: int = 5
    max_instruction_chars: int = 300
    min_answer_chars: int = 2
    max_answer_chars: int = 2000
    require_question: bool = True  # Self-QA's instructions are questions; evolved instructions need not be
    min_grounding: float = 0.5  # share of the answer's character n-grams found in the reference
    grounding_ngram_zh: int = 2
    grounding_ngram_en: int = 4
    min_cjk_share: float = 0.3  # a text is zh when at least this share of its letters are Han characters
    min_language_letters: int = 4
    near_duplicate_threshold: float = 0.7  # character n-gram Jaccard of two instructions
    near_duplicate_ngram: int = 3  # instructions are short: 3-grams (the corpus dedup uses 5)
    text_references: list[str] = field(default_factory=lambda: list(TEXT_REFERENCES))

    def __post_init__(self):
        for name in ("min_grounding", "min_cjk_share", "near_duplicate_threshold"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number from 0 to 1, got {value!r}")
        for name in ("grounding_ngram_zh", "grounding_ngram_en", "near_duplicate_ngram"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")

    def dedup_config(self) -> DedupConfig:
        return DedupConfig(dedup_threshold=self.near_duplicate_threshold, ngram_size=self.near_duplicate_ngram)


def _quoted(text: str) -> str:
    return repr(text[:60] + ("…" if len(text) > 60 else ""))


def is_question(text: str) -> bool:
    """A question or request: a question mark, a Chinese interrogative / request word, or an English question
    word first."""
    text = text.strip()
    if "?" in text or "？" in text or any(word in text for word in ZH_QUESTION_WORDS):
        return True
    first = re.match(r"[A-Za-z]+", text)
    return bool(first) and first.group(0).lower() in EN_QUESTION_WORDS


def malformed(instruction: str, answer: str, config: FilterConfig) -> str | None:
    if not instruction.strip():
        return "malformed: empty instruction"
    if not answer.strip():
        return "malformed: empty answer"
    if not any(char.isalpha() for char in instruction):
        return f"malformed: the instruction has no words: {_quoted(instruction)}"
    if config.require_question and not is_question(instruction):
        return f"malformed: the instruction is not a question: {_quoted(instruction)}"
    return None


def too_short(instruction: str, answer: str, config: FilterConfig) -> str | None:
    for name, text, least in (("instruction", instruction, config.min_instruction_chars),
                              ("answer", answer, config.min_answer_chars)):  # fmt: skip
        if len(text.strip()) < least:
            return f"too_short: the {name} has {len(text.strip())} characters (< {least})"
    return None


def too_long(instruction: str, answer: str, config: FilterConfig) -> str | None:
    for name, text, most in (("instruction", instruction, config.max_instruction_chars),
                             ("answer", answer, config.max_answer_chars)):  # fmt: skip
        if len(text.strip()) > most:
            return f"too_long: the {name} has {len(text.strip())} characters (> {most})"
    return None


def refers_to_text(instruction: str, config: FilterConfig) -> str | None:
    found = phrase_pattern(tuple(config.text_references)).search(instruction)
    return f"refers_to_text: {found.group(0)!r} in {_quoted(instruction)}" if found else None


def wrong_language(instruction: str, answer: str, language: str, config: FilterConfig) -> str | None:
    for name, text in (("instruction", instruction), ("answer", answer)):
        if sum(char.isalpha() for char in text) < config.min_language_letters:
            continue
        found = detect_language(text, config.min_cjk_share)
        if found != language:
            return f"wrong_language: the {name} is {found}, expected {language}"
    return None


def grounding(answer: str, reference: str, ngram: int) -> float | None:
    """Share of the answer's character n-grams that occur in the reference; None for an answer without one."""
    config = DedupConfig(ngram_size=ngram)
    grams = shingles(answer, config)
    return len(grams & shingles(reference, config)) / len(grams) if grams else None


def ungrounded(answer: str, reference: str, config: FilterConfig) -> str | None:
    zh = detect_language(answer, config.min_cjk_share) == "zh"
    ngram = config.grounding_ngram_zh if zh else config.grounding_ngram_en
    share = grounding(answer, reference, ngram)
    if share is None or share >= config.min_grounding:
        return None
    least = config.min_grounding
    return f"ungrounded: {share:.0%} of the answer's character {ngram}-grams are in the reference (< {least:.0%})"


def near_duplicates(ids: Sequence[str], texts: Sequence[str], config: FilterConfig) -> list[str | None]:
    """None for the first text of each near-duplicate group (and for texts without one), else the reason naming it."""
    roots = near_duplicate_roots(texts, config.dedup_config())
    return [None if root == index else f"near_duplicate: of {ids[root]}" for index, root in enumerate(roots)]


PAIR_RULES = {
    "malformed": lambda p, config: malformed(p["instruction"], p["answer"], config),
    "too_short": lambda p, config: too_short(p["instruction"], p["answer"], config),
    "too_long": lambda p, config: too_long(p["instruction"], p["answer"], config),
    "refers_to_text": lambda p, config: refers_to_text(p["instruction"], config),
    "wrong_language": lambda p, config: wrong_language(p["instruction"], p["answer"], p["language"], config),
    "ungrounded": lambda p, config: ungrounded(p["answer"], p["reference"], config),
}
NEAR_DUPLICATE = "near_duplicate"
RULES = (*PAIR_RULES, NEAR_DUPLICATE)  # cheap rules first; near-duplicates last, among the pairs that passed


def filter_pairs(
    run: SynthesisRun, pairs: Sequence[dict], config: FilterConfig, rules: Sequence[str] = RULES
) -> list[dict]:
    """The pairs every rule in `rules` keeps, each rule one `run.filter` step named after it."""
    unknown = [rule for rule in rules if rule not in RULES]
    if unknown:
        raise ValueError(f"unknown filter rule(s) {unknown}; choose from {list(RULES)}")
    kept = list(pairs)
    for rule in rules:
        if rule == NEAR_DUPLICATE:
            verdicts = near_duplicates([p["id"] for p in kept], [p["instruction"] for p in kept], config)
        else:
            verdicts = [PAIR_RULES[rule](pair, config) for pair in kept]
        kept = run.filter(rule, kept, verdicts)
    return kept
