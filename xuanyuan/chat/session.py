"""One conversation with a chat model: system prompt, history, sampling settings, streamed replies.

Both chat front ends (terminal and web page) talk through `ChatSession`. Every turn renders the whole
conversation with the tokenizer's chat template. When that would leave no room for `max_new_tokens` in the
model's context, the oldest exchanges are left out of the prompt (never the system prompt or the new
message); the history itself keeps them. Replies stream through transformers' `TextIteratorStreamer`, with
`generate` in a background thread that stops as soon as the reader stops reading (Ctrl-C in the terminal,
the page's stop button), so an abandoned reply does not keep the model busy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from transformers import (
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from ..chat_format import XUANYUAN_SYSTEM_PROMPT, with_system_prompt
from ..evaluation.generation import Sampling
from ..evaluation.mc_eval import context_limit
from ..hub import CHAT_SAMPLING

SAMPLING_FIELDS = ("temperature", "top_p", "max_new_tokens", "repetition_penalty")


def chat_sampling(generation_config: GenerationConfig, greedy: bool = False, **overrides) -> Sampling:
    """Sampling settings: `overrides` that are not None, else the model's generation config, else the published
    XuanYuan-Chat settings (`CHAT_SAMPLING`). Greedy when `greedy`, when the generation config says
    `do_sample: false`, or at temperature 0."""
    settings = {}
    for name in SAMPLING_FIELDS:
        value = overrides.get(name)
        value = getattr(generation_config, name, None) if value is None else value
        settings[name] = CHAT_SAMPLING[name] if value is None else value
    if greedy or generation_config.do_sample is False:
        settings["temperature"] = 0.0
    return Sampling(**settings)


class ContextOverflowError(ValueError):
    """The new message alone (with the system prompt) does not fit the model's context."""


class _StopWhenSet(StoppingCriteria):
    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> bool:
        return self.event.is_set()


@dataclass
class ChatSession:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    system_prompt: str | None = XUANYUAN_SYSTEM_PROMPT
    sampling: Sampling = field(default_factory=Sampling)
    max_length: int | None = None  # the context length; default: the model's
    history: list[dict] = field(default_factory=list)  # user and assistant messages, oldest first
    turns_left_out: int = 0  # messages of the history the last prompt could not hold
    generated_tokens: int = 0  # tokens of the last reply (with its EOS)

    def __post_init__(self):
        self.max_length = context_limit(self.model, self.tokenizer, self.max_length)

    def reset(self) -> None:
        self.history, self.turns_left_out = [], 0

    def encode(self, messages: list[dict]) -> list[int]:
        return list(self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False))

    def prompt_ids(self, text: str) -> list[int]:
        """The token ids of the conversation with `text` as the new user turn, ending in the generation prompt;
        oldest exchanges left out (counted in `turns_left_out`) until `max_new_tokens` fit the context."""
        history = self.history
        while True:
            ids = self.encode(with_system_prompt([*history, {"role": "user", "content": text}], self.system_prompt))
            if self.max_length is None or len(ids) + self.sampling.max_new_tokens <= self.max_length or not history:
                break
            # the oldest exchange: the first user message and the replies up to the next user message
            history = history[next((i for i, m in enumerate(history) if i and m["role"] == "user"), len(history)) :]
        self.turns_left_out = len(self.history) - len(history)
        if self.max_length is not None and len(ids) >= self.max_length:
            raise ContextOverflowError(
                f"the message with the system prompt is {len(ids)} tokens; the model's context holds "
                f"{self.max_length}: shorten it (or the system prompt)"
            )
        return ids

    def stream(self, text: str) -> Iterator[str]:
        """Answer `text`: yield the reply piece by piece as it is generated; then add both to the history
        (also when the reader stops early: the history holds what was shown)."""
        ids = self.prompt_ids(text)
        max_new_tokens = self.sampling.max_new_tokens
        if self.max_length is not None:
            max_new_tokens = min(max_new_tokens, self.max_length - len(ids))
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        stop, failure = threading.Event(), []
        device, pad_token_id = self.model.device, self.tokenizer.pad_token_id
        generate_kwargs = {
            **self.sampling.generate_kwargs(),
            "input_ids": torch.tensor([ids], device=device),
            "attention_mask": torch.ones(1, len(ids), dtype=torch.long, device=device),
            "max_new_tokens": max_new_tokens,
            "pad_token_id": self.tokenizer.eos_token_id if pad_token_id is None else pad_token_id,
            "eos_token_id": self.tokenizer.eos_token_id,
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([_StopWhenSet(stop)]),
        }

        def generate() -> None:
            try:
                with torch.no_grad():
                    self.generated_tokens = self.model.generate(**generate_kwargs).shape[1] - len(ids)
            except BaseException as error:  # handed to the reader, whose loop would otherwise wait forever
                failure.append(error)
                streamer.end()

        thread = threading.Thread(target=generate, name="chat-generate", daemon=True)
        thread.start()
        pieces: list[str] = []
        try:
            for piece in streamer:
                piece = piece if pieces else piece.lstrip()  # the template puts a space before every reply
                if piece:
                    pieces.append(piece)
                    yield piece
        finally:
            stop.set()
            thread.join()
            if not failure:
                reply = {"role": "assistant", "content": "".join(pieces).rstrip()}
                self.history = [*self.history, {"role": "user", "content": text}, reply]
        if failure:
            raise failure[0]

    def reply(self, text: str) -> str:
        """The whole reply to `text` (what `stream` yields, joined)."""
        return "".join(self.stream(text)).rstrip()
