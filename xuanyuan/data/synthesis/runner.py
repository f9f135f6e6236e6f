"""Resumable synthesis runs: chunked generation steps, filter steps, and the funnel of what each kept and dropped.

A run lives in one folder. `SynthesisRun.generate` maps items (dicts with a unique `id`) through a
`process(chunk, seed)` function `chunk_size` items at a time; every finished chunk is written atomically
to `<run>/<step>/chunk-NNNNN.jsonl`, so a killed run redoes at most the chunk it was in and never writes an
item twice. The input order is fixed and a chunk's seed comes from (run seed, step, chunk index), so a resumed
run writes exactly what an uninterrupted one would. Each step fingerprints its inputs and settings
(`<step>/fingerprint`), and the contents of the run's `models` (the local model folders it generates or scores
with: file names, sizes and modification times), so a retrained generator is never resumed from its old replies:
resuming over changed inputs, settings or models is refused, naming the step, unless the run was opened with
`overwrite=True` (which starts the run folder afresh).

An output item with a `"dropped"` reason (`"<rule>: <detail>"`) is set aside, not lost: `finish` writes every
dropped item, with its step and reason, to `dropped.jsonl`, and the funnel (items in / out per step, drops per
rule) to `summary.json` with the generators' token counts, throughput and HTTP requests, and as a table to
`funnel.md`.
`SynthesisRun.filter` applies a list of verdicts (None = keep) the same way for rule-based filters.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..records import write_jsonl

DROPPED = "dropped"


class SynthesisResumeError(RuntimeError):
    """A run folder holds a step made from other inputs or settings (picklable: one message argument)."""


@dataclass
class StepCount:
    step: str
    items_in: int
    items_out: int
    dropped: dict[str, int] = field(default_factory=dict)  # rule -> count


def rule_of(reason: str) -> str:
    return reason.partition(":")[0].strip()


def chunk_seed(seed: int, step: str, chunk: int) -> int:
    return zlib.crc32(f"{seed}/{step}/{chunk}".encode()) & 0x7FFFFFFF


def model_digest(model: str | Path) -> str:
    """A local model folder's files (names, sizes, modification times) as a digest; a Hub id or name as is."""
    folder = Path(model)
    if not folder.is_dir():
        return str(model)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    listing = [(str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


class SynthesisRun:
    def __init__(self, output_dir: str | Path, seed: int = 0, overwrite: bool = False, models: Sequence[str] = ()):
        self.dir, self.seed = Path(output_dir), seed
        self.models = {str(model): model_digest(model) for model in models}
        if overwrite and self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.funnel: list[StepCount] = []
        self.dropped: list[dict] = []

    def generate(
        self,
        step: str,
        items: Sequence[dict],
        process: Callable[[list[dict], int], list[dict]],
        chunk_size: int = 16,
        settings: dict | None = None,
    ) -> list[dict]:
        """`process(chunk, seed)` over `items` in chunks, resuming from finished chunks; returns the kept outputs
        (every output not marked `dropped`), in input order."""
        folder = self.dir / step
        self._check_fingerprint(folder, step, items, settings)
        chunks = [list(items[i : i + chunk_size]) for i in range(0, len(items), chunk_size)]
        paths = [folder / f"chunk-{index:05d}.jsonl" for index in range(len(chunks))]
        outputs: list[dict] = []
        with tqdm(total=len(items), desc=step, unit="item") as bar:
            for index, (chunk, path) in enumerate(zip(chunks, paths, strict=True)):
                if not path.exists():
                    write_jsonl(path, process(chunk, chunk_seed(self.seed, step, index)))
                outputs += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
                bar.update(len(chunk))
        return self._count(step, len(items), outputs)

    def filter(self, step: str, items: Sequence[dict], verdicts: Sequence[str | None]) -> list[dict]:
        """Keep the items whose verdict is None; the others are dropped with the verdict as reason."""
        pairs = zip(items, verdicts, strict=True)
        marked = [item if verdict is None else {**item, DROPPED: verdict} for item, verdict in pairs]
        return self._count(step, len(items), marked)

    def _count(self, step: str, items_in: int, outputs: list[dict]) -> list[dict]:
        kept = [o for o in outputs if DROPPED not in o]
        dropped = [o for o in outputs if DROPPED in o]
        rules = Counter(rule_of(o[DROPPED]) for o in dropped)
        self.funnel.append(StepCount(step, items_in, len(kept), dict(sorted(rules.items()))))
        self.dropped += [{"step": step, "reason": o[DROPPED], "item": {k: v for k, v in o.items() if k != DROPPED}}
                         for o in dropped]  # fmt: skip
        return kept

    def _check_fingerprint(self, folder: Path, step: str, items: Sequence[dict], settings: dict | None) -> None:
        payload = json.dumps({"items": list(items), "settings": settings or {}, "models": self.models}, sort_keys=True,
                             ensure_ascii=False, default=str)  # fmt: skip
        digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
        marker = folder / "fingerprint"
        if marker.exists() and marker.read_text(encoding="utf-8").strip() != digest:
            raise SynthesisResumeError(
                f"{folder}: step {step!r} was started from other inputs, settings or models; resume with the same "
                "ones, or start afresh (overwrite: true)"
            )
        folder.mkdir(parents=True, exist_ok=True)
        marker.write_text(digest + "\n", encoding="utf-8")

    def finish(self, outputs: dict[str, list[dict]], generators: Sequence = (), extra: dict | None = None) -> dict:
        """Write `<name>.jsonl` for every output, `dropped.jsonl`, `summary.json` and the funnel as `funnel.md`;
        return the summary."""
        for name, rows in outputs.items():
            write_jsonl(self.dir / f"{name}.jsonl", rows)
        write_jsonl(self.dir / "dropped.jsonl", self.dropped)
        summary = {
            "funnel": [asdict(count) for count in self.funnel],
            "outputs": {name: len(rows) for name, rows in outputs.items()},
            "dropped": len(self.dropped),
            "generators": {g.name: g.stats.to_dict() for g in generators},
            **(extra or {}),
        }
        (self.dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", "utf-8")
        (self.dir / "funnel.md").write_text(funnel_markdown(summary), encoding="utf-8")
        return summary


def funnel_markdown(summary: dict) -> str:
    """The funnel as a table: step, in, out, and the drops per rule."""
    lines = ["| step | in | out | dropped (by rule) |", "|---|---:|---:|---|"]
    for count in summary["funnel"]:
        rules = ", ".join(f"{rule} {n}" for rule, n in count["dropped"].items()) or "-"
        lines.append(f"| {count['step']} | {count['items_in']} | {count['items_out']} | {rules} |")
    return "\n".join(lines) + "\n"
