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
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version

import torch
from transformers import TrainerCallback

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
    baseline: str
    matched_work: str
    check: str
    command: str = ""  # filled in by `bench_main` (the command line that ran) or by run_all.py
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)  # markdown shown under the rows
    peak_rss_mib: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def pin_threads(threads: int) -> None:
    """The same intra-op thread count for both sides (environment too, for child processes)."""
    torch.set_num_threads(threads)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)


def measure_rounds(sides: dict[str, Callable[[], float]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Run every side once per round, back to back, the order reversed every other round; `warmup` rounds first
    are dropped. Each callable returns its measurement."""
    values: dict[str, list[float]] = {name: [] for name in sides}
    for round_index in range(warmup + repeats):
        order = list(sides) if round_index % 2 == 0 else list(reversed(sides))
        results = {name: sides[name]() for name in order}
        if round_index >= warmup:
            for name, value in results.items():
                values[name].append(value)
    return values


def paired(
    ours: Callable[[], float],
    baseline: Callable[[], float],
    repeats: int,
    warmup: int = 1,
    lower_is_better: bool = False,
) -> tuple[Spread, Spread, Spread]:
    """`measure_rounds` of the two sides: ours, the baseline's and the per-round ratios (> 1: ours is better;
    `lower_is_better` for times)."""
    values = measure_rounds({"ours": ours, "baseline": baseline}, repeats, warmup)
    mine, theirs = values["ours"], values["baseline"]
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


def paired_rows(measure: str, unit: str, ours: Callable[[], float], baselines: dict[str, Callable[[], float]],
                repeats: int, warmup: int = 1, notes: dict[str, str] | None = None) -> list[Row]:  # fmt: skip
    """Ours against several baselines in the same rounds (higher is better): one row per baseline, with the
    per-round ratios."""
    values = measure_rounds({"ours": ours, **baselines}, repeats, warmup)
    rows = []
    for name in baselines:
        ratios = Spread([a / b for a, b in zip(values["ours"], values[name], strict=True)])
        mine, theirs, note = Spread(values["ours"]), Spread(values[name]), (notes or {}).get(name, "")
        rows.append(Row(f"{measure} vs {name}", unit, mine.to_dict(), theirs.to_dict(), ratios.to_dict(), note))
    return rows


class StepClock(TrainerCallback):
    """(time, non-pad input tokens so far) at the end of every optimizer step of a `Trainer`."""

    def __init__(self):
        self.marks: list[tuple[float, int]] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.marks.append((time.perf_counter(), state.num_input_tokens_seen))


def step_marks(trainer) -> list[tuple[float, int]]:
    """Train once; `StepClock`'s marks, one per optimizer step."""
    clock = StepClock()
    trainer.add_callback(clock)
    try:
        trainer.train()
    finally:
        trainer.remove_callback(clock)
    return clock.marks


def steady_tokens_per_second(trainer) -> float:
    """Train once; real tokens/s from the end of the first step to the end of the last (setup and warm-up left
    out). The trainer must count with `include_num_input_tokens_seen="non_padding"`."""
    marks = step_marks(trainer)
    (t0, n0), (t1, n1) = marks[0], marks[-1]
    return (n1 - n0) / (t1 - t0)


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


def _verdict(ratio: dict) -> str:
    """win / loss when every round agrees; a tie when the rounds' ratios straddle 1 (the median's side named) or
    are exactly 1 (e.g. equal precision)."""
    if ratio["min"] == ratio["max"] == 1.0:
        return "tie"
    if ratio["min"] > 1.0:
        return "win"
    if ratio["max"] < 1.0:
        return "**loss**"
    return "tie, median above 1" if ratio["median"] >= 1.0 else "**tie, median below 1**"


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
        verdict = "-" if ratio is None else _verdict(ratio)
        name = row["name"] + (f" ({row['note']})" if row["note"] else "")
        lines.append(
            f"| {name} | {row['unit']} | {_cell(row['ours'], row['unit'])} | {_cell(row['baseline'], row['unit'])} "
            f"| {_cell(ratio, '×')} | {verdict} |"
        )
    lines += ["", *(f"- {note}" for note in section["notes"])]
    for table in section.get("tables", []):
        lines += ["", table]
    return "\n".join(lines).rstrip() + "\n"


def add_common_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--threads", type=int, default=2, help="Intra-op threads for both sides.")
    parser.add_argument("--repeats", type=int, default=5, help="Measured rounds (after --warmup).")
    parser.add_argument("--warmup", type=int, default=1, help="Rounds run first and dropped.")
    parser.add_argument("--json", default=None, help="Also write the section as JSON here (run_all.py reads it).")
    return parser


def command_line(argv: list[str], drop: tuple[str, ...] = ()) -> str:
    """`python <argv>` as a shell line, leaving out each option in `drop` with its value."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in drop:
            skip = True
        else:
            kept.append(arg)
    return "python " + shlex.join(kept)


def bench_main(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], Section]) -> None:
    """Parse, pin threads, run, record peak RSS, print the section and write it as JSON when asked."""
    args = add_common_arguments(parser).parse_args()
    pin_threads(args.threads)
    section = run(args)
    section.command = command_line(sys.argv, drop=("--json",))
    section.peak_rss_mib = peak_rss_mib()
    result = section.to_dict()
    print(render(result))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)
