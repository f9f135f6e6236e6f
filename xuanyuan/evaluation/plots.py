"""Figure handling shared by every PNG the project writes.

- `figure`: a constrained-layout figure on the Agg canvas (no display needed), saved tight when the block ends;
- fonts: figures fall back to an installed CJK font, if any, for the glyphs the default font lacks, and
  `readable` swaps a label that no font can draw for an ASCII one (one warning, no tofu boxes);
- `legend_beside`: legends right of their panel, never over the data;
- `label_bars`: bar labels wrapped, turned upright when they don't fit side by side, the figure as wide as
  the labels need.
"""

from __future__ import annotations

import functools
import logging
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

DPI = 100
STYLE = {"axes.grid": True, "grid.alpha": 0.3, "legend.fontsize": 8, "axes.titlesize": 10}
CJK_PROBE = "金融计算"  # characters any Chinese font has
# characters per line and lines of a bar label, side by side (0°) and upright (90°); longer ones end in "…"
LABEL_WRAP = {0: (12, 3), 90: (28, 2)}
LABEL_GAP = 0.12  # inches between neighbouring bar labels
MAX_LABEL_ROW = 12.0  # inches: a longer row of side-by-side labels is turned upright
MIN_WIDTH, AXIS_MARGIN = 4.5, 1.4  # inches: narrowest bar chart; room beside the bars for the y axis


@functools.cache
def _glyphs(path: str) -> frozenset[int]:
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(path).get_charmap())


@functools.cache
def fonts() -> tuple[tuple[str, ...], frozenset[int]]:
    """Font families of every figure (the default sans-serif, then a CJK font if one is installed) and the
    code points they can draw. matplotlib's own last-resort font only draws boxes, so it does not count."""
    from matplotlib import font_manager

    default = font_manager.findfont(font_manager.FontProperties(family=["sans-serif"]))
    probe = {ord(c) for c in CJK_PROBE}
    for font in font_manager.fontManager.ttflist:
        if not font.name.startswith("Last Resort") and probe <= _glyphs(font.fname):
            return ("sans-serif", font.name), _glyphs(default) | _glyphs(font.fname)
    return ("sans-serif",), _glyphs(default)


@functools.cache
def _warn_missing_font() -> None:
    logger.warning("no installed font draws some plot labels: ASCII names shown instead (install a CJK font)")


def readable(text: str, fallback: str) -> str:
    """`text` if the figures' fonts draw every character of it, else `fallback` (one warning per process)."""
    _, glyphs = fonts()
    if all(ord(c) in glyphs for c in text if not c.isspace()):
        return text
    _warn_missing_font()
    return fallback


@contextmanager
def figure(path: str | Path, size: tuple[float, float], **subplots) -> Iterator[tuple[Figure, Any]]:
    """A constrained-layout figure and its `Figure.subplots(**subplots)` axes; written to `path` as a PNG
    (bounding box tight around everything drawn) when the block ends without an error."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    families, _ = fonts()
    with matplotlib.rc_context({**STYLE, "font.family": list(families)}):
        canvas = FigureCanvasAgg(Figure(figsize=size, dpi=DPI, layout="constrained"))
        yield canvas.figure, canvas.figure.subplots(**subplots)
        canvas.figure.savefig(path, dpi=DPI, bbox_inches="tight")


def legend_beside(axis: Axes, handles: list | None = None) -> None:
    """The legend (of `handles`, else of the labelled artists) right of the panel, where it hides no data."""
    handles = axis.get_legend_handles_labels()[0] if handles is None else handles
    if handles:
        axis.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def wrap(label: str, width: int, lines: int) -> str:
    """`label` in at most `lines` lines of at most `width` characters (underscores read as spaces)."""
    return "\n".join(textwrap.wrap(label.replace("_", " "), width, max_lines=lines, placeholder="…")) or label


def label_bars(figure: Figure, axis: Axes, labels: list[str]) -> None:
    """Label the bars at x = 0, 1, ... side by side if the row fits in `MAX_LABEL_ROW`, else upright in a row at
    least that long (so more labels never make a narrower figure); widen the figure until no two labels
    overlap and heighten it by the labels' height."""
    renderer = figure.canvas.get_renderer()
    for rotation, (width, lines) in LABEL_WRAP.items():
        axis.set_xticks(range(len(labels)), [wrap(label, width, lines) for label in labels], rotation=rotation)
        boxes = [text.get_window_extent(renderer) for text in axis.get_xticklabels()]
        row = len(labels) * (max((box.width for box in boxes), default=0.0) / figure.dpi + LABEL_GAP)
        if row <= MAX_LABEL_ROW:
            break
    row = max(row, MAX_LABEL_ROW) if rotation else row
    axis.set_xlim(-0.6, len(labels) - 0.4)
    height = figure.get_figheight() + max((box.height for box in boxes), default=0.0) / figure.dpi
    figure.set_size_inches(max(MIN_WIDTH, row + AXIS_MARGIN), height)
