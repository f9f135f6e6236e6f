"""Talking to the models: a chat session (template, history, truncation, streaming) behind a terminal chat
and a web page (`python -m xuanyuan.chat MODEL [--web]`), and the loader they share.

The names below load on first use, so that the command line's `--help` answers without torch.
"""

from ..utils.lazy import lazy_exports

_SOURCES = {
    "ChatSession": "session",
    "ContextOverflowError": "session",
    "chat_sampling": "session",
    "load_chat_model": "loading",
}
__all__ = list(_SOURCES)

__getattr__ = lazy_exports(__name__, _SOURCES)
