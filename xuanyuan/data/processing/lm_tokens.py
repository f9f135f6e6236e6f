"""The word segmentation shared by the KenLM perplexity models and the fastText safety classifier.

Training and scoring must see text cut the same way, so both go through `lm_tokens`: NFKC folding
(full-width letters, digits and punctuation become ASCII), lower case, every Chinese character a token,
Latin words as tokens, every digit mapped to 0 (figures carry no fluency signal and would make each
number a new word; CCNet does the same), and every other visible character a token of its own.
"""

from __future__ import annotations

import unicodedata

import regex

_TOKEN = regex.compile(r"\p{Han}|[a-z]+(?:'[a-z]+)*|\d+(?:[.,]\d+)*|\S")
_DIGIT = regex.compile(r"\d")


def lm_tokens(text: str) -> list[str]:
    """Tokens of `text`: Chinese characters, lower-cased Latin words, numbers with digits as 0, symbols."""
    text = unicodedata.normalize("NFKC", text).lower()
    return [_DIGIT.sub("0", token) for token in _TOKEN.findall(text)]


def lm_sentences(text: str) -> list[str]:
    """One space-joined token line per non-blank line of `text`: the unit KenLM trains on and scores."""
    lines = (" ".join(lm_tokens(line)) for line in text.splitlines())
    return [line for line in lines if line]
