"""The terminal chat: read a message, stream the reply, repeat.

On a terminal it greets, prompts (with readline's line editing) and confirms commands; reading from a pipe
it writes nothing but the replies, one per input line, so `echo 什么是市盈率？ | python -m xuanyuan.chat
MODEL` answers once and ends. Ctrl-C stops a reply being written; at the prompt, Ctrl-C or Ctrl-D ends the
chat. Commands: `/reset`, `/system <text>`, `/exit`.
"""

from __future__ import annotations

import sys

from .session import ChatSession, ContextOverflowError

USER_PROMPT, ASSISTANT_PROMPT = "Human: ", "Assistant: "
COMMANDS = {
    "/reset": "forget the conversation",
    "/system <text>": "set the system prompt (alone: show it)",
    "/exit": "leave (also Ctrl-D)",
}


def describe(session: ChatSession, name: str) -> str:
    """One line on the model, its precision and device, the context and the sampling settings."""
    sampling = session.sampling
    decoding = "greedy" if sampling.temperature == 0 else f"temperature {sampling.temperature}, top_p {sampling.top_p}"
    return (
        f"{name} ({session.model.dtype}, {session.model.device}; context {session.max_length} tokens): {decoding}, "
        f"repetition penalty {sampling.repetition_penalty}, up to {sampling.max_new_tokens} new tokens"
    )


def run_command(session: ChatSession, line: str, say) -> bool:
    """Carry out a `/command` line, telling `say` what happened; False for `/exit`."""
    command, _, argument = line.partition(" ")
    if command == "/exit":
        return False
    if command == "/reset":
        session.reset()
        say("(conversation cleared)")
    elif command == "/system":
        if argument.strip():
            session.system_prompt = argument.strip()
            say("(system prompt set)")
        else:
            say(f"system prompt: {session.system_prompt or '(none)'}")
    else:
        commands = ", ".join(COMMANDS)
        print(f"unknown command {command}; commands: {commands} (a message cannot start with /)", file=sys.stderr)
    return True


def run_terminal(session: ChatSession, name: str) -> None:
    """Chat on standard input and output until `/exit` or the end of the input."""
    interactive = sys.stdin.isatty()

    def say(text: str) -> None:
        if interactive:
            print(text, flush=True)

    if interactive:
        import readline  # noqa: F401  (line editing and recall for input())

        say(f"Chatting with {describe(session, name)}")
        say("Commands: " + "; ".join(f"{command} {what}" for command, what in COMMANDS.items()))
    left_out = 0
    while True:
        try:
            line = input(USER_PROMPT) if interactive else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            say("")
            return
        if not (interactive or line):  # the end of piped input
            return
        text = line.strip()
        if not text:
            continue
        if text.startswith("/"):
            if not run_command(session, text, say):
                return
            continue
        if interactive:
            sys.stdout.write(ASSISTANT_PROMPT)
        try:
            for piece in session.stream(text):
                sys.stdout.write(piece)
                sys.stdout.flush()
        except KeyboardInterrupt:
            sys.stdout.write(" (stopped)")
        except ContextOverflowError as error:  # still an (empty) line: piped replies stay one per message
            print(f"error: {error}", file=sys.stderr)
        sys.stdout.write("\n")
        sys.stdout.flush()
        if session.turns_left_out not in (0, left_out):
            say(f"(the oldest {session.turns_left_out} messages no longer fit the {session.max_length}-token context)")
        left_out = session.turns_left_out
