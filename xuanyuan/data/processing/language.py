"""Language routing by script: the share of CJK ideographs among the letters of a text.

A record's own `lang` field wins; this is the fallback, and it only needs to tell Chinese from Latin-script
text for this corpus (routing to per-language perplexity models, punctuation context).
"""

from __future__ import annotations

import regex

_CJK = regex.compile(r"\p{Han}")
_LETTER = regex.compile(r"\p{L}")


def is_cjk(char: str) -> bool:
    """Whether `char` is a Han ideograph (CJK unified or compatibility)."""
    return bool(_CJK.match(char))


def cjk_share(text: str) -> float:
    """Han ideographs / all letters (0.0 for a text without letters)."""
    letters = len(_LETTER.findall(text))
    return len(_CJK.findall(text)) / letters if letters else 0.0


def detect_language(text: str, min_cjk_share: float = 0.3) -> str:
    """`"zh"` when at least `min_cjk_share` of the letters are Han ideographs, else `"en"`."""
    return "zh" if cjk_share(text) >= min_cjk_share else "en"
