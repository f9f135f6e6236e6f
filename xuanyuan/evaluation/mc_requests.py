"""Token-level scoring requests: one context and four answer continuations per question.

The continuation of each option is found by encoding `context + continuation` and removing the context's tokens,
so its tokens are exactly those the model would read after the prompt (lm-eval's rule). If a tokenizer merged
the context's last token into a continuation, that continuation is encoded on its own instead, so the four
options are always scored after the same context tokens.

Answer-letter tokens (checked in tests/test_mc_eval.py): with this project's byte-level BPE, `…答案：A` encodes
as `[…, '答案', '：', 'A']` and `…答案是：A` as `[…, '答案', '是', '：', 'A']`: the letter is one token of its
own after the full-width colon, the same id as a bare `A` (35..38 for A..D in the shipped tokenizer). Letter
ids are still never taken from `tokenizer("A")` alone: a SentencePiece tokenizer gives `▁A` there. In chat
mode XuanYuan's template renders the reply as ` A`, which is one token (`ĠA`) while ` B` is two (`Ġ`, `B`);
the scorer therefore scores each letter's whole continuation (see mc_scoring), which for one-token letters is
exactly the official next-token comparison.

Prompts longer than `max_length` lose their longest shot until they fit (the official CMMLU rule); a 0-shot
prompt that still does not fit keeps its last `max_length` tokens and is marked `truncated`. No question is
ever dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .mc_data import LETTERS, MCQuestion, MCSubject
from .mc_prompts import PromptStyle, answer_text, build_prompt, chat_context, chat_continuation, format_shot

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass
class MCRequest:
    question: MCQuestion
    context_ids: list[int]
    continuation_ids: list[list[int]]  # options A-D
    continuation_chars: list[int]  # characters of each continuation's text (cloze/blank length normalization)
    num_shots: int
    truncated: bool = False

    @property
    def fed_length(self) -> int:
        """Tokens the model reads: the context and every continuation token but the last."""
        return len(self.context_ids) + max(len(ids) for ids in self.continuation_ids) - 1


def encode_request(
    tokenizer: PreTrainedTokenizerBase,
    style: PromptStyle,
    subject: MCSubject,
    shots: list[MCQuestion],
    question: MCQuestion,
    scoring: str,
    chat: bool,
) -> MCRequest:
    prompt = build_prompt(style, subject.name_zh, shots, question, scoring)
    replies = [answer_text(question, letter, scoring) for letter in LETTERS]
    if chat:  # the template writes BOS itself
        context = chat_context(tokenizer, prompt)
        continuations = [chat_continuation(tokenizer, prompt, reply) for reply in replies]
    else:
        context, continuations = prompt, replies
    encoded = tokenizer([context] + [context + text for text in continuations], add_special_tokens=not chat)
    context_ids, *full_ids = encoded["input_ids"]
    continuation_ids = []
    for text, ids in zip(continuations, full_ids, strict=True):
        own = ids[len(context_ids) :] if ids[: len(context_ids)] == context_ids else []
        continuation_ids.append(own or tokenizer(text, add_special_tokens=False)["input_ids"])
    return MCRequest(question, context_ids, continuation_ids, [len(text) for text in continuations], len(shots))


def build_requests(
    tokenizer: PreTrainedTokenizerBase,
    style: PromptStyle,
    subject: MCSubject,
    num_fewshot: int,
    scoring: str = "letter",
    chat: bool = False,
    max_length: int | None = None,
) -> list[MCRequest]:
    """One request per question of the subject's scored split, in file order."""
    requests = []
    for question in subject.questions:
        shots = subject.dev[:num_fewshot]
        request = encode_request(tokenizer, style, subject, shots, question, scoring, chat)
        while max_length and request.fed_length > max_length and shots:
            lengths = [len(tokenizer(format_shot(style, shot, scoring), add_special_tokens=False)["input_ids"])
                       for shot in shots]  # fmt: skip
            longest = max(range(len(shots)), key=lambda i: (lengths[i], i))
            shots = shots[:longest] + shots[longest + 1 :]
            request = encode_request(tokenizer, style, subject, shots, question, scoring, chat)
        if max_length and request.fed_length > max_length:
            request.context_ids = request.context_ids[request.fed_length - max_length :]
            request.truncated = True
        requests.append(request)
    return requests
