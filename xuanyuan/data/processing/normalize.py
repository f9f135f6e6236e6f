"""Normalization: traditional → simplified, character widths, repeated symbols, whitespace. Nothing is dropped.

Conversion uses OpenCC (`t2s`, character-based: 報導 → 报导). The width and whitespace rules are small and
corpus-specific, so they are written here as pure functions (each testable alone) rather than pulled from a
general library: full-width letters/digits become ASCII, and punctuation takes the width of its script
context — a half-width `,.;:?!()` next to Chinese becomes full-width, a full-width one inside Latin text
becomes half-width. Numbers keep their ASCII separators (13.7%, 10:30, 1,000).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from functools import cached_property

import regex
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from xuanyuan.data.processing.language import is_cjk

HALF_TO_FULL = {",": "，", ".": "。", ";": "；", ":": "：", "?": "？", "!": "！", "(": "（", ")": "）"}
FULL_TO_HALF = {full: half for half, full in HALF_TO_FULL.items()}
# Full-width forms sit at a fixed offset from their ASCII letters and digits (Ａ = U+FF21 = U+0041 + 0xFEE0).
_ALNUM_TABLE = {ord(char) + 0xFEE0: char for char in string.ascii_letters + string.digits}
_SKIPPED_NEIGHBOURS = " \t\"'“”‘’「」『』"
_HORIZONTAL_SPACE = regex.compile(r"[\p{Zs}\t]+")
_BLANK_LINES = regex.compile(r"\n{3,}")
# What a run of a symbol compresses to when it is not the symbol itself: ellipsis-like runs → ……, dashes → ——.
_RUN_REPLACEMENTS = {**dict.fromkeys("….。·", "……"), "—": "——"}


def _is_wide(char: str) -> bool:
    """Han ideographs and the punctuation that lives among them (CJK symbols, full-width forms)."""
    return is_cjk(char) or "\u3000" <= char <= "\u303f" or "\uff00" <= char <= "\uffef"


def unify_alnum_width(text: str) -> str:
    """Full-width letters and digits (ＲＯＥ１２) → ASCII (ROE12)."""
    return text.translate(_ALNUM_TABLE)


def _space_between(line: str, start: int, end: int) -> str:
    """What a run of horizontal space line[start:end] becomes: nothing at the line's edges or next to Chinese,
    else one space."""
    before, after = line[start - 1 : start], line[end : end + 1]  # "" at the line's edges
    return "" if not before or not after or _is_wide(before) or _is_wide(after) else " "


def clean_whitespace(text: str) -> str:
    """Unify line ends, drop spaces/tabs/ideographic spaces next to Chinese, keep one space between Latin words,
    strip every line and collapse runs of blank lines to one."""
    lines = [
        _HORIZONTAL_SPACE.sub(lambda match, line=line: _space_between(line, match.start(), match.end()), line)
        for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def compress_repeats(text: str, min_run: int = 3) -> str:
    """Runs of at least `min_run` identical punctuation/symbol characters → one (！！！！！ → ！);
    ellipsis-like runs (…… . 。) → ……, dash runs → ——."""
    pattern = regex.compile(r"([\p{P}\p{S}])\1{" + str(min_run - 1) + ",}")
    return pattern.sub(lambda match: _RUN_REPLACEMENTS.get(match.group(1), match.group(1)), text)


def _neighbour(text: str, index: int, step: int) -> int:
    """Index of the nearest character from `index` in direction `step`, skipping spaces and quotes; -1 at the
    edges of the line."""
    index += step
    while 0 <= index < len(text) and text[index] in _SKIPPED_NEIGHBOURS:
        index += step
    return index if 0 <= index < len(text) and text[index] != "\n" else -1


_CANDIDATES = regex.compile("[" + regex.escape("".join(HALF_TO_FULL) + "".join(FULL_TO_HALF)) + "]")


def unify_punctuation(text: str, lang: str = "zh") -> str:
    """Punctuation takes the width of its context. In Chinese text, `,.;:?!()` next to Chinese (or after
    full-width punctuation) → full-width, except digit-separator-digit. In any text, full-width punctuation
    between Latin letters/digits with no Chinese on either side → half-width (plus a space before a word)."""
    converted: dict[int, str] = {}

    def char_at(index: int) -> str:
        return "" if index < 0 else converted.get(index, text[index])

    for match in _CANDIDATES.finditer(text):
        index, char = match.start(), match.group()
        before, after = char_at(_neighbour(text, index, -1)), char_at(_neighbour(text, index, 1))
        if char in HALF_TO_FULL and lang == "zh":
            between_digits = before.isdigit() and after.isdigit()
            if not between_digits and (_is_wide(before) or is_cjk(after)):
                converted[index] = HALF_TO_FULL[char]
        elif char in FULL_TO_HALF:
            latin_before, latin_after = before.isascii() and before.isalnum(), after.isascii() and after.isalnum()
            if (latin_before or latin_after) and not (_is_wide(before) or _is_wide(after)):
                half = FULL_TO_HALF[char]
                spaced = half in ",.;:?!" and latin_after and text[index + 1 : index + 2] != " "
                converted[index] = half + " " if spaced else half
    if not converted:
        return text
    return "".join(converted.get(index, char) for index, char in enumerate(text))


@dataclass
class NormalizeConfig:
    """Stage 1, normalization (a formatter: changes text, drops nothing)."""

    normalize: bool = field(default=True, metadata={"help": "Run the normalization stage at all."})
    t2s: bool = field(default=True, metadata={"help": "Traditional → simplified Chinese with OpenCC t2s."})
    unify_width: bool = field(
        default=True, metadata={"help": "Full-width letters/digits → ASCII; punctuation width by script context."}
    )
    compress_symbols: bool = field(default=True, metadata={"help": "Compress runs of a repeated symbol."})
    min_symbol_run: int = field(default=3, metadata={"help": "Shortest run of one symbol that is compressed."})
    clean_whitespace: bool = field(default=True, metadata={"help": "Strip lines, unify spaces and blank lines."})


class TextNormalizer(PipelineStep):
    """Applies the enabled normalizations in a fixed order and counts the documents each one changed."""

    type = "✂️ - FORMAT"
    name = "🧽 Normalize"

    def __init__(self, config: NormalizeConfig):
        super().__init__()
        self.config = config

    @cached_property
    def _converter(self):
        import opencc

        return opencc.OpenCC("t2s")

    def operations(self, lang: str) -> list[tuple[str, callable]]:
        ops = []
        if self.config.t2s:
            ops.append(("t2s", self._converter.convert))
        if self.config.unify_width:
            ops.append(("alnum_width", unify_alnum_width))
        if self.config.clean_whitespace:
            ops.append(("whitespace", clean_whitespace))
        if self.config.compress_symbols:
            ops.append(("repeated_symbols", lambda text: compress_repeats(text, self.config.min_symbol_run)))
        if self.config.unify_width:
            ops.append(("punctuation_width", lambda text: unify_punctuation(text, lang)))
        return ops

    def normalize(self, text: str, lang: str = "zh") -> tuple[str, list[str]]:
        """The normalized text and the names of the operations that changed it."""
        changed = []
        for name, operation in self.operations(lang):
            new_text = operation(text)
            if new_text != text:
                changed.append(name)
            text = new_text
        return text, changed

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                doc.text, changed = self.normalize(doc.text, doc.metadata.get("lang", "zh"))
            self.stat_update("documents", *(f"changed_{name}" for name in changed))
            yield doc
