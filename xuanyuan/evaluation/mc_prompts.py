"""The official C-Eval and CMMLU prompt strings (FinanceIQ uses CMMLU's), zero- or k-shot, plain or chat.

- C-Eval: `以下是中国关于{科目}考试的单项选择题，请选出其中的正确答案。\\n\\n`, each shot
  `{question}\\nA. {A}\\nB. {B}\\nC. {C}\\nD. {D}\\n答案：{X}\\n\\n`, the query ends with `答案：`.
- CMMLU: `以下是关于{科目}的单项选择题，请直接给出正确答案的选项。\\n\\n`, each shot
  `题目：{question}\\nA. ..\\nD. {D}\\n答案是：{X}\\n\\n`, the query ends with `答案是：`.
- Cloze formulation (OLMES / lm-eval "CF"): the same header and question lines without the lettered
  options; a shot's answer is its correct option's text, and each option's text is scored as the continuation.
- Blank formulation (fill-in-the-blank questions, Winogrande-style substitution after Trinh & Le 2018): a
  question with a blank (`____`, `＿＿`, or an empty `（ ）`) is cut at its first blank; the context ends
  just before it and each option is scored as `option + the rest of the question`, so the model reads the
  completed statement, as it would find it in text. A shot is its question with the blank filled by its
  answer. Questions without a blank fall back to the cloze formulation, shots and query alike.
- Chat mode (for chat models): the whole plain prompt is the user turn of the tokenizer's chat template with
  the generation prompt appended; the answer (letter or option text) is the assistant's reply, so the scored
  continuation is whatever the template puts before the reply (XuanYuan's puts a space: `Assistant: A`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .mc_data import LETTERS, MCQuestion

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class PromptStyle:
    header: str  # formatted with the subject's Chinese name
    question_prefix: str
    answer_prefix: str


STYLES = {
    "ceval": PromptStyle("以下是中国关于{name}考试的单项选择题，请选出其中的正确答案。\n\n", "", "答案："),
    "cmmlu": PromptStyle("以下是关于{name}的单项选择题，请直接给出正确答案的选项。\n\n", "题目：", "答案是："),
}
SCORINGS = ("letter", "cloze", "blank")
BLANK = re.compile(r"_{2,}|＿{2,}|[（(][ \u3000]*[）)]")


def split_at_blank(question: str) -> tuple[str, str] | None:
    """(text before, text after) the question's first blank, or None when it has none."""
    match = BLANK.search(question)
    return (question[: match.start()], question[match.end() :]) if match else None


def format_query(style: PromptStyle, question: MCQuestion, scoring: str = "letter") -> str:
    """What precedes an option's continuation: the question with its lettered options (letter) or without
    (cloze) ending with the answer prefix, or in blank the question up to its blank."""
    parts = split_at_blank(question.question) if scoring == "blank" else None
    if parts:
        return style.question_prefix + parts[0]
    text = style.question_prefix + question.question
    if scoring == "letter":
        text += "".join(f"\n{letter}. {option}" for letter, option in zip(LETTERS, question.options, strict=True))
    return f"{text}\n{style.answer_prefix}"


def answer_text(question: MCQuestion, letter: str, scoring: str = "letter") -> str:
    """The continuation scored for answer `letter`: the letter, the option's text (cloze), or in blank the
    option's text followed by the rest of the question after its blank."""
    if scoring == "letter":
        return letter
    option = question.options[LETTERS.index(letter)]
    parts = split_at_blank(question.question) if scoring == "blank" else None
    return option + parts[1] if parts else option


def format_shot(style: PromptStyle, question: MCQuestion, scoring: str = "letter") -> str:
    return format_query(style, question, scoring) + answer_text(question, question.answer, scoring) + "\n\n"


def build_prompt(
    style: PromptStyle, subject_zh: str, shots: list[MCQuestion], query: MCQuestion, scoring: str = "letter"
) -> str:
    """Header, the shots in order, then the query up to where the options' continuations start."""
    return (
        style.header.format(name=subject_zh)
        + "".join(format_shot(style, shot, scoring) for shot in shots)
        + format_query(style, query, scoring)
    )


def chat_context(tokenizer: PreTrainedTokenizerBase, prompt: str) -> str:
    """The prompt as the user turn, rendered up to and including the generation prompt."""
    messages = [{"role": "user", "content": prompt}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def chat_continuation(tokenizer: PreTrainedTokenizerBase, prompt: str, reply: str) -> str:
    """The text the chat template renders after the generation prompt, up to the end of `reply`."""
    context = chat_context(tokenizer, prompt)
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    rest = full[len(context) :]
    if not full.startswith(context) or reply not in rest:
        raise ValueError("the chat template does not render the assistant reply right after its generation prompt")
    return rest[: rest.index(reply) + len(reply)]
