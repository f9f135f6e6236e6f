"""Finding any of a list of phrases in Chinese or English text with one regular expression.

English phrases match as whole words, case-insensitively and with any spacing between their words ("in the
text" does not match "within the textbook"); other phrases (Chinese) match as they are, since Chinese text has
no spaces to mark word ends. Shared by the synthesis filters and the RL reward rules.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=16)
def phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern:
    """One pattern for all `phrases`: English ones as whole words with any spacing, others as they are."""
    parts = [r"\b" + r"\s+".join(map(re.escape, p.split())) + r"\b" if p.isascii() else re.escape(p) for p in phrases]
    return re.compile("|".join(parts), re.IGNORECASE)
