"""Rule filters: a bad-keyword document filter (Aho-Corasick over a keyword file), a line filter that drops
too-short or invalid lines (boilerplate, symbol noise, encoded blobs), and a document minimum length.

The line rules are a handful of regexes tuned to Chinese web text; datatrove's C4/Gopher filters assume
English words and sentence punctuation, so they are not reused here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import regex
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from xuanyuan.data.records import read_text

DEFAULT_BOILERPLATE = [
    r"版权所有",
    r"首页\s*[|｜>]",
    r"上一篇",
    r"返回顶部",
    r"扫码关注",
    r"分享到[:：]",
    r"您的位置[:：]",
    r"^点击(查看|阅读)全文$",
    r"(?i)all rights reserved",
    r"(?i)^click here",
]
NOISE_SYMBOLS = "#$^&*@~|<>{}[]\\_"


@dataclass
class RuleFilterConfig:
    """Stage 2, rule filters."""

    rule_filters: bool = field(default=True, metadata={"help": "Run the rule-filter stage at all."})
    keyword_file: str | None = field(
        default=None,
        metadata={
            "help": "Bad-keyword list, one per line ('#' comments), or 'embedded' for the list that ships with the "
            "package; unset = no keyword filter."
        },
    )
    min_keyword_hits: int = field(default=1, metadata={"help": "Drop a document with at least this many hits."})
    line_filter: bool = field(default=True, metadata={"help": "Drop too-short and invalid lines."})
    min_line_chars: int = field(default=2, metadata={"help": "Lines with fewer non-space characters are dropped."})
    max_symbol_ratio: float = field(
        default=0.1, metadata={"help": f"Lines where characters from {NOISE_SYMBOLS!r} exceed this share are dropped."}
    )
    max_blob_chars: int = field(
        default=40, metadata={"help": "Lines holding a run of this many base64-like characters are dropped."}
    )
    boilerplate_patterns: list[str] = field(
        default_factory=lambda: list(DEFAULT_BOILERPLATE),
        metadata={"help": "Regexes; a line matching any of them is boilerplate."},
    )
    min_doc_chars: int = field(default=20, metadata={"help": "Documents with fewer non-space characters are dropped."})


def read_keywords(path: str | Path) -> list[str]:
    """Non-empty, non-comment lines of a keyword file (`embedded`: the embedded default's list)."""
    if str(path) == "embedded":
        from xuanyuan.data.embedded.documents import KEYWORD_FILE

        path = KEYWORD_FILE
    if not Path(path).is_file():
        raise FileNotFoundError(f"keyword_file {str(path)!r} does not exist")
    lines = read_text(path).splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


_SPACE = regex.compile(r"\s")


def non_space_length(text: str) -> int:
    return len(text) - len(_SPACE.findall(text))


class KeywordFilter(BaseFilter):
    """Drops documents containing listed keywords (Aho-Corasick); records the hits on the document."""

    name = "🚫 Bad keywords"

    def __init__(self, keywords: list[str], min_hits: int = 1, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        if not keywords:
            raise ValueError("the bad-keyword list is empty")
        self.keywords = sorted(set(keywords))
        self.min_hits = min_hits

    @cached_property
    def _automaton(self):
        import ahocorasick

        automaton = ahocorasick.Automaton()
        for keyword in self.keywords:
            automaton.add_word(keyword, keyword)
        automaton.make_automaton()
        return automaton

    def hits(self, text: str) -> list[str]:
        """Every keyword occurrence in `text`, in order of their end position."""
        return [keyword for _, keyword in self._automaton.iter(text)]

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        hits = self.hits(doc.text)
        if len(hits) >= self.min_hits:
            doc.metadata["bad_keywords"] = sorted(set(hits))
            return False, "bad_keyword"
        return True


class LineFilter(BaseFilter):
    """Removes invalid lines from each document; drops the document when no line is left.

    A line is invalid when it is boilerplate, too short, mostly noise symbols or an encoded blob (checked in
    that order; the first reason is counted). Blank lines are kept as paragraph breaks.
    """

    name = "✂️ Lines"

    def __init__(self, config: RuleFilterConfig, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.config = config
        self.boilerplate = [regex.compile(pattern) for pattern in config.boilerplate_patterns]
        self.blob = regex.compile(r"[A-Za-z0-9+/=]{" + str(config.max_blob_chars) + ",}")
        self.noise = regex.compile("[" + regex.escape(NOISE_SYMBOLS) + "]")

    def line_problem(self, line: str) -> str | None:
        """Why `line` is invalid, or None for a line to keep."""
        stripped = line.strip()
        if any(pattern.search(stripped) for pattern in self.boilerplate):
            return "boilerplate"
        if non_space_length(stripped) < self.config.min_line_chars:
            return "short_line"
        if len(self.noise.findall(stripped)) > self.config.max_symbol_ratio * len(stripped):
            return "symbol_noise"
        if self.blob.search(stripped):
            return "encoded_blob"
        return None

    def clean(self, text: str) -> tuple[str, dict[str, int]]:
        """`text` without its invalid lines, and how many lines were removed per reason."""
        lines = text.split("\n")
        problems = [self.line_problem(line) if line.strip() else None for line in lines]
        kept = [line for line, problem in zip(lines, problems, strict=True) if not problem]
        removed = dict(Counter(problem for problem in problems if problem))
        return regex.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip(), removed

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        text, removed = self.clean(doc.text)
        for reason, count in removed.items():
            self.stat_update(f"lines_removed_{reason}", value=count)
        if not text:
            doc.metadata["removed_lines"] = removed
            return False, "no_valid_lines"
        doc.text = text
        return True


class MinLengthFilter(BaseFilter):
    """Drops documents with fewer than `min_chars` non-space characters."""

    name = "📏 Min length"

    def __init__(self, min_chars: int, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.min_chars = min_chars

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return non_space_length(doc.text) >= self.min_chars or (False, "too_short")
