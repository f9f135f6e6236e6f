"""The web chat page: a Gradio app over one `ChatSession` per model, streaming, with the terminal's options.

With two models (`--compare MODEL2`: SFT against the PPO chat model, fp32 against 4-bit, ...) every
message goes to both, and their replies stream side by side, one after the other, each model seeing only
its own side of the conversation. The conversation lives in the page (each browser tab has its own); the
settings panel starts at the command line's values. The status line under the chat says how long each
reply took and how many tokens it had. Gradio is the optional `web` extra.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

from ..evaluation.generation import Sampling
from ..utils.extras import require
from .session import ChatSession, ContextOverflowError

TITLE = "XuanYuan chat"


def plain_history(messages: list[dict]) -> list[dict]:
    """A Gradio chatbot's messages (content as a list of typed parts) as chat-template messages."""
    plain = []
    for message in messages:
        content = message["content"]
        if not isinstance(content, str):
            content = "".join(part.get("text", "") for part in content if part.get("type") == "text")
        plain.append({"role": message["role"], "content": content})
    return plain


def answer_all(
    sessions: list[ChatSession], names: list[str], text: str, histories: list[list[dict]]
) -> Iterator[tuple[list[list[dict]], str]]:
    """Stream each session's reply to `text` in turn: yield every chatbot's messages and the status line."""
    histories = [plain_history(history) for history in histories]
    status: list[str] = []
    for index, (session, name) in enumerate(zip(sessions, names, strict=True)):
        session = dataclasses.replace(session, history=histories[index])  # this page's conversation
        shown = [*histories[index], {"role": "user", "content": text}, {"role": "assistant", "content": ""}]
        histories[index] = shown
        started = time.perf_counter()
        try:
            for piece in session.stream(text):
                shown[-1] = {"role": "assistant", "content": shown[-1]["content"] + piece}
                yield histories, " · ".join([*status, f"{name}: writing…"])
        except ContextOverflowError as error:
            shown[-1] = {"role": "assistant", "content": f"(error: {error})"}
        seconds = time.perf_counter() - started
        status.append(f"{name}: {session.generated_tokens} tokens in {seconds:.1f} s")
        yield histories, " · ".join(status)
    yield histories, " · ".join(["done", *status])


def build_app(sessions: list[ChatSession], names: list[str]):
    """The page: one chat column per session, a message box with Send and Stop, Clear, and a settings panel
    (system prompt and sampling) that applies to every model."""
    gr = require("gradio")
    first = sessions[0]
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(f"## {TITLE}: " + " vs ".join(f"`{name}`" for name in names))
        with gr.Row():
            chatbots = [
                gr.Chatbot(label=name, elem_id=f"chat-{index}", height=480, buttons=["copy"])
                for index, name in enumerate(names)
            ]
        with gr.Row():
            message = gr.Textbox(
                placeholder="Message (Enter sends)", show_label=False, elem_id="chat-input", scale=8, autofocus=True
            )
            send = gr.Button("Send", variant="primary", elem_id="chat-send", scale=1)
            stop = gr.Button("Stop", elem_id="chat-stop", scale=1)
            clear = gr.Button("Clear", elem_id="chat-clear", scale=1)
        status = gr.Markdown(elem_id="chat-status")
        with gr.Accordion("Settings", open=False):
            system_prompt = gr.Textbox(value=first.system_prompt or "", label="System prompt (empty: none)", lines=3)
            with gr.Row():
                temperature = gr.Slider(
                    0, 2, value=first.sampling.temperature, step=0.05, label="temperature (0: greedy)"
                )
                top_p = gr.Slider(0.05, 1, value=first.sampling.top_p, step=0.01, label="top_p")
                max_new_tokens = gr.Slider(
                    1, first.max_length or 4096, value=first.sampling.max_new_tokens, step=1, label="max_new_tokens"
                )
                repetition_penalty = gr.Slider(
                    1, 2, value=first.sampling.repetition_penalty, step=0.01, label="repetition_penalty"
                )

        def respond(text, system, temp, p, new_tokens, penalty, *histories):
            text = text.strip()
            if not text:
                return
            sampling = Sampling(max_new_tokens=int(new_tokens), temperature=temp, top_p=p, repetition_penalty=penalty)
            configured = [dataclasses.replace(s, system_prompt=system.strip() or None, sampling=sampling)
                          for s in sessions]  # fmt: skip
            for shown, line in answer_all(configured, names, text, list(histories)):
                yield "", *shown, line

        settings = [system_prompt, temperature, top_p, max_new_tokens, repetition_penalty]
        answering = gr.on(
            [message.submit, send.click],
            respond,
            inputs=[message, *settings, *chatbots],
            outputs=[message, *chatbots, status],
            concurrency_limit=1,  # one model copy: replies are generated one at a time
            show_progress="hidden",  # the reply streaming in and the status line show it
        )
        stop.click(lambda: "stopped", outputs=[status], cancels=[answering])
        clear.click(lambda: ([],) * len(chatbots) + ("",), outputs=[*chatbots, status], cancels=[answering])
    return app


def launch(sessions: list[ChatSession], names: list[str], host: str = "127.0.0.1", port: int | None = None) -> None:
    """Serve the page on `host:port` (default: Gradio's first free port from 7860) until interrupted."""
    build_app(sessions, names).queue().launch(server_name=host, server_port=port, footer_links=[])
