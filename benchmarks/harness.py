"""What every benchmark shares: pinned threads, interleaved repeats after a warm-up, median and spread,
an equality check before timing, the machine and library versions, and one result layout.

A benchmark's `run(...)` returns a `Section`: the baseline named as the best configuration a user of
that library would pick, the work both sides do, the equality check that was passed before timing,
and rows of paired measurements. `benchmarks/run_all.py` renders sections into RESULTS.md; a benchmark
run alone prints its own section.

Ratios are taken per round (ours and the baseline measured back to back, alternating which goes first)
and summarised by their median and range, so that load on a shared machine hits both sides alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version

import torch

LIBRARIES = ("torch", "transformers", "trl", "accelerate", "datasets", "peft", "datatrove", "datasketch", "lm_eval")
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


class MismatchError(AssertionError):
    """The two sides of a benchmark do not compute the same thing; nothing is timed."""


@dataclass
class Spread:
    """Median and range of repeated measurements."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def to_dict(self) -> dict:
        return {"median": self.median, "min": min(self.values), "max": max(self.values), "n": len(self.values)}


@dataclass
class Row:
    """One compared quantity. `higher_is_better` says which way a ratio > 1 is a win for us; `ratio` is
    ours / baseline per round (for times: baseline / ours, so that > 1 is always a win)."""

    name: str
    unit: str
    ours: dict
    baseline: dict | None = None
    ratio: dict | None = None
    note: str = ""


@dataclass
class Section:
    key: str
    title: str
    command: str
    baseline: str
    matched_work: str
    check: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    peak_rss_mib: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def pin_threads(threads: int) -> None:
    """The same intra-op thread count for both sides (environment too, for child processes)."""
    torch.set_num_threads(threads)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)


def paired(
    ours: Callable[[], float],
    baseline: Callable[[], float],
    repeats: int,
    warmup: int = 1,
    lower_is_better: bool = False,
) -> tuple[Spread, Spread, Spread]:
    """Measure both sides `warmup + repeats` times, back to back, alternating which goes first; the warm-up
    rounds are dropped. Each callable returns its measurement (a rate, or seconds with `lower_is_better`).
    Returns ours, the baseline's and the per-round ratios (> 1: ours is better)."""
    mine, theirs = [], []
    for round_index in range(warmup + repeats):
        order = (ours, baseline) if round_index % 2 == 0 else (baseline, ours)
        results = {fn: fn() for fn in order}
        if round_index >= warmup:
            mine.append(results[ours])
            theirs.append(results[baseline])
    ratios = [(b / a) if lower_is_better else (a / b) for a, b in zip(mine, theirs, strict=True)]
    return Spread(mine), Spread(theirs), Spread(ratios)


def single(value: float) -> dict:
    """A deterministic quantity (a count, a share, a quality score) in a row's layout: measured once."""
    return Spread([value]).to_dict()


def measure(fn: Callable[[], float], repeats: int, warmup: int = 1) -> Spread:
    """One side alone (no peer): `warmup + repeats` measurements, the warm-up ones dropped."""
    return Spread([fn() for _ in range(warmup + repeats)][warmup:])


def paired_row(name: str, unit: str, ours: Callable[[], float], baseline: Callable[[], float], repeats: int,
               warmup: int = 1, lower_is_better: bool = False, note: str = "") -> Row:  # fmt: skip
    mine, theirs, ratio = paired(ours, baseline, repeats, warmup, lower_is_better)
    return Row(name, unit, mine.to_dict(), theirs.to_dict(), ratio.to_dict(), note)


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rate(count: float, fn: Callable[[], object]) -> Callable[[], float]:
    """A measurement for `paired`: `count` units of work per second of one call of `fn`."""
    return lambda: count / seconds(fn)


def check_close(what: str, ours: torch.Tensor, baseline: torch.Tensor, atol: float, rtol: float = 0.0) -> str:
    """Raise `MismatchError` unless the two agree; returns the check as a sentence for the section."""
    ours, baseline = torch.as_tensor(ours).double(), torch.as_tensor(baseline).double()
    if ours.shape != baseline.shape:
        raise MismatchError(f"{what}: shapes {tuple(ours.shape)} vs {tuple(baseline.shape)}")
    diff = (ours - baseline).abs().max().item() if ours.numel() else 0.0
    if not torch.allclose(ours, baseline, atol=atol, rtol=rtol):
        raise MismatchError(f"{what}: max abs difference {diff:.3g} exceeds atol {atol:g} / rtol {rtol:g}")
    return f"{what}: max abs difference {diff:.2g} (tolerance {atol:g})"


def peak_rss_mib() -> float:
    """This process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict:
    """CPU model and the flags that decide precision and kernels, threads, library versions."""
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = version(name.replace("_", "-") if name == "lm_eval" else name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": model,
        "cpu_flags": [flag for flag in CPU_FLAGS if flag in flags],
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "versions": versions,
    }


def _cell(spread: dict | None, unit: str) -> str:
    if spread is None:
        return "-"
    if unit == "×":
        return f"{spread['median']:.2f}× [{spread['min']:.2f}–{spread['max']:.2f}]"
    fmt = ".3g" if abs(spread["median"]) < 100 else ".0f"
    if spread["min"] == spread["max"]:  # one measurement, or a deterministic quantity
        return f"{spread['median']:{fmt}}"
    return f"{spread['median']:{fmt}} [{spread['min']:{fmt}}–{spread['max']:{fmt}}]"


def _verdict(ratio: float) -> str:
    return "win" if ratio > 1 else "tie" if ratio == 1 else "**loss**"


def render(section: dict) -> str:
    """Markdown for one section (a `Section.to_dict()`): what was compared, then the rows."""
    lines = [
        f"## {section['title']}",
        "",
        f"`{section['command']}`",
        "",
        f"- **Baseline:** {section['baseline']}",
        f"- **Same work:** {section['matched_work']}",
        f"- **Checked before timing:** {section['check']}",
        f"- **Peak RSS of the benchmark process:** {section['peak_rss_mib']:.0f} MiB",
        "",
        "| measure | unit | ours (median [min–max]) | baseline | ours / baseline | verdict |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in section["rows"]:
        ratio = row["ratio"]
        verdict = "-" if ratio is None else _verdict(ratio["median"])
        name = row["name"] + (f" ({row['note']})" if row["note"] else "")
        lines.append(
            f"| {name} | {row['unit']} | {_cell(row['ours'], row['unit'])} | {_cell(row['baseline'], row['unit'])} "
            f"| {_cell(ratio, '×')} | {verdict} |"
        )
    lines += ["", *(f"- {note}" for note in section["notes"])]
    return "\n".join(lines).rstrip() + "\n"


def add_common_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--threads", type=int, default=2, help="Intra-op threads for both sides.")
    parser.add_argument("--repeats", type=int, default=5, help="Measured rounds (after --warmup).")
    parser.add_argument("--warmup", type=int, default=1, help="Rounds run first and dropped.")
    parser.add_argument("--json", default=None, help="Also write the section as JSON here (run_all.py reads it).")
    return parser


def bench_main(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], Section]) -> None:
    """Parse, pin threads, run, record peak RSS, print the section and write it as JSON when asked."""
    args = add_common_arguments(parser).parse_args()
    pin_threads(args.threads)
    section = run(args)
    section.peak_rss_mib = peak_rss_mib()
    result = section.to_dict()
    print(render(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)
