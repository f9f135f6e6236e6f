"""Calibration samples for GPTQ: token ids from any source `xuanyuan.data.records` reads (a JSONL file, a
glob, a Hub dataset `name[:config]:split`, …).

A record is either `{"text": ...}` (a document) or `{"messages": [{"role", "content"}, ...]}` (a chat,
rendered with the tokenizer's chat template, so the quantizer sees the format the chat model serves).
Bad records raise `RecordError` naming the file (or dataset), line (or row) and field.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

from ..data.records import Record, RecordError, iter_records, require_text, resolve_sources


def record_to_text(record: Record, tokenizer: PreTrainedTokenizerBase, text_field: str, messages_field: str) -> str:
    """The record's document, or its conversation rendered with the chat template."""
    if text_field in record.data:
        return require_text(record, text_field)
    if messages_field not in record.data:
        raise RecordError(record.path, record.line, text_field, f"missing (and no {messages_field!r} field either)")
    messages = record.data[messages_field]
    if not isinstance(messages, list) or not messages:
        raise RecordError(record.path, record.line, messages_field, "expected a non-empty list of messages")
    for index, message in enumerate(messages):
        field = f"{messages_field}[{index}]"
        if not isinstance(message, dict):
            raise RecordError(record.path, record.line, field, f"expected an object, got {type(message).__name__}")
        for key in ("role", "content"):
            if not isinstance(message.get(key), str):
                raise RecordError(record.path, record.line, f"{field}.{key}", "missing or not a string")
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False)
    except Exception as error:  # the template's own raise_exception (e.g. an unsupported role)
        raise RecordError(record.path, record.line, messages_field, f"chat template failed: {error}") from error


def load_calibration(
    source: str,
    tokenizer: PreTrainedTokenizerBase,
    num_samples: int = 128,
    max_length: int = 512,
    min_length: int = 16,
    text_field: str = "text",
    messages_field: str = "messages",
) -> list[dict[str, list[int]]]:
    """Up to `num_samples` examples `{"input_ids", "attention_mask"}` of `min_length`..`max_length` tokens.

    Documents get the tokenizer's BOS; rendered chats already carry it from the template. Records
    shorter than `min_length` tokens are skipped (GPTQ learns little from them); if none are long
    enough a `ValueError` says so.
    """
    examples, too_short = [], 0
    for record in (record for path in resolve_sources(source) for record in iter_records(path)):
        text = record_to_text(record, tokenizer, text_field, messages_field)
        rendered = text_field not in record.data
        ids = tokenizer(text, add_special_tokens=not rendered, truncation=True, max_length=max_length)["input_ids"]
        if len(ids) < min_length:
            too_short += 1
            continue
        examples.append({"input_ids": ids, "attention_mask": [1] * len(ids)})
        if len(examples) == num_samples:
            break
    if not examples:
        raise ValueError(f"{source}: no calibration record has at least {min_length} tokens ({too_short} too short).")
    return examples
