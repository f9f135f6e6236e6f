"""Chat turns in records: one check of a `messages` list, used by every loader that reads conversations (SFT
data, preference prompts, RL prompts, generation examples), so they accept and refuse the same things; and the
one plain-text rendering of a conversation that people read (judge prompts, rater and labelling sheets)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .records import LoadReport, Record, RecordError, check_unique_id, load_records, require_text

ROLES = ("system", "user", "assistant")


def check_messages(
    record: Record, messages, field: str, last_role: str | None = None, need_assistant: bool = False
) -> list[dict]:
    """`messages` as `[{"role", "content"}, ...]`: a non-empty list of turns with a known role (a system turn
    only first) and non-empty text; `last_role` is the role the last turn must have. Else `RecordError`
    naming the record and the field (`messages[2].content`)."""
    if not isinstance(messages, list) or not messages:
        raise RecordError(record.path, record.line, field, f"expected a non-empty list of turns, got {messages!r:.60}")
    turns = []
    for index, turn in enumerate(messages):
        where = f"{field}[{index}]"
        if not isinstance(turn, dict):
            raise RecordError(
                record.path, record.line, where, f"expected an object with role and content, got {turn!r:.60}"
            )
        role, content = turn.get("role"), turn.get("content")
        if role not in ROLES:
            raise RecordError(record.path, record.line, f"{where}.role", f"expected one of {ROLES}, got {role!r:.30}")
        if role == "system" and index != 0:
            raise RecordError(record.path, record.line, f"{where}.role", "a system prompt may only be the first turn")
        if not isinstance(content, str) or not content.strip():
            raise RecordError(record.path, record.line, f"{where}.content", "expected a non-empty string")
        turns.append({"role": role, "content": content})
    if last_role is not None and turns[-1]["role"] != last_role:
        raise RecordError(record.path, record.line, field, f"the last turn must be the {last_role}'s turn")
    if need_assistant and not any(turn["role"] == "assistant" for turn in turns):
        raise RecordError(record.path, record.line, field, "has no assistant turn to train on")
    return turns


def prompt_messages(record: Record, fields: tuple[str, ...] = ("prompt", "messages")) -> list[dict]:
    """The conversation to continue, from the first of `fields` the record has (the last one is reported
    missing when it has none): a text (one user turn) or turns ending with the user's."""
    name = next((f for f in fields if f in record.data), fields[-1])
    if isinstance(record.data.get(name), list):
        return check_messages(record, record.data[name], name, last_role="user")
    return [{"role": "user", "content": require_text(record, name)}]


def load_prompts(
    sources: str | Path | Iterable[str | Path],
    on_bad_record: str = "error",
    rejects_path: str | Path | None = None,
    text_fields: tuple[str, ...] = ("prompt",),
) -> tuple[list[dict], LoadReport]:
    """`{id, prompt, category}` of every record, `prompt` being turns that end with the user's: from `messages`
    (an SFT record's closing assistant reply is left out: the caller answers in its place) or from the first of
    `text_fields` the record has (a text or turns). Ids must be unique, since they key what is made from each
    prompt; a record without one is named by its file and line."""
    seen: dict[str, Record] = {}

    def parse(record: Record) -> dict:
        data = record.data
        if "messages" in data:
            turns = check_messages(record, data["messages"], "messages")
            if turns[-1]["role"] == "assistant":
                turns = turns[:-1]
            if not turns or turns[-1]["role"] != "user":
                problem = "expected turns ending with the user's (or with the user's and the assistant's reply)"
                raise RecordError(record.path, record.line, "messages", problem)
        else:
            turns = prompt_messages(record, text_fields)
        category = data.get("category")
        if category is not None and not isinstance(category, str):
            raise RecordError(record.path, record.line, "category", f"expected a string, got {category!r:.40}")
        item_id = str(data["id"]) if data.get("id") is not None else f"{Path(record.path).name}:{record.line}"
        check_unique_id(seen, record, item_id)
        return {"id": item_id, "prompt": turns, "category": category}

    return load_records(sources, parse, on_bad_record, rejects_path)


ROLE_NAMES = {"system": "系统", "user": "用户", "assistant": "助手"}


def conversation_text(messages: list[dict]) -> str:
    """A prompt as people read it: a single turn's text, else one `角色：text` line per turn."""
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n".join(f"{ROLE_NAMES[m['role']]}：{m['content']}" for m in messages)
