"""The pure parts of `run_pipeline.py`: stage definitions, the paths a stage reads and writes, the record of each
finished stage that decides whether a rerun can reuse it, and the text of the report.

A sibling of the runner rather than a `xuanyuan` module: importing the package loads transformers (seconds).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path

from xuanyuan.utils.report_numbers import dotted_get

STATE_FILE = "pipeline_state.json"
STATE_VERSION = 1
CONFIG_SUFFIXES = (".yaml", ".yml", ".json", ".toml")
# A Markdown link or image whose target is relative: not a URL (scheme:), an anchor (#) or an absolute path (/)
RELATIVE_LINK = re.compile(r"(!?\[[^\]]*\]\()(?![a-zA-Z][\w+.-]*:|[#/])([^)\s]+)\)")
# tqdm's " 28%|██▊   | 275/1000 [...]": the percentage before a bar, and a standalone n/N (not part of a path or date)
PROGRESS = re.compile(r"(?P<percent>\b\d{1,3}%)\||(?<![\w/.:-])(?P<done>\d+)/(?P<total>\d+)(?![\w/.:-])")


@dataclass
class Stage:
    name: str
    command: str
    description: str = ""
    metrics: str | None = None
    summary: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)  # Markdown files whose text goes into report.md


@dataclass
class StagePaths:
    """The paths a stage's command names: what it writes, its config files, and the rest (inputs if they exist)."""

    outputs: list[str]
    configs: list[str]
    others: list[str]


@dataclass
class StageRecord:
    """One run of a stage as `pipeline_state.json` keeps it."""

    status: str  # "done" or "failed"
    command: str
    config_hash: str
    inputs: dict[str, str]
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    peak_rss_mib: float = 0.0  # of the stage's process tree (the largest process in it), from wait4
    metrics: dict = field(default_factory=dict)
    error: str = ""


def _substitute(value, variables: dict[str, str]):
    if isinstance(value, str):
        for name, replacement in variables.items():
            value = value.replace(f"{{{name}}}", replacement)
        return value
    if isinstance(value, list):
        return [_substitute(item, variables) for item in value]
    return value


def load_stages(config: dict, output_dir: str, seed: int = 0) -> list[Stage]:
    """The YAML's stages with `{output_dir}` and `{seed}` replaced."""
    variables = {"output_dir": output_dir, "seed": str(seed)}
    stages = []
    for index, raw in enumerate(config["stages"]):
        missing = {"name", "command"} - raw.keys()
        if missing:
            raise ValueError(f"stage {index}: missing field(s) {sorted(missing)}")
        stages.append(Stage(**{key: _substitute(value, variables) for key, value in raw.items()}))
    return stages


def _inside(path: str, folder: str) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder))


def stage_paths(stage: Stage, output_dir: str) -> StagePaths:
    """Sort the paths in `stage`'s command (`--flag value` or `--flag=value`), including `output_dir` paths inside
    quoted JSON arguments."""
    split = (token.split("=", 1) if token.startswith("--") else [token] for token in shlex.split(stage.command))
    tokens = [part for parts in split for part in parts]
    outputs = [path for flag, path in pairwise(tokens) if flag == "--output_dir"]
    outputs += [stage.metrics] if stage.metrics else []
    configs = [
        path
        for flag, path in pairwise(["", *tokens])
        if (flag == "--config" or path.endswith(CONFIG_SUFFIXES))
        and os.path.isfile(path)
        and not _inside(path, output_dir)
    ]
    embedded = re.findall(rf"(?<![\w/.]){re.escape(output_dir)}(?:/[^\s'\",}}\]]*)?", stage.command)
    runner_state = os.path.join(output_dir, STATE_FILE)  # stage times a stage may read; it changes with every stage
    others = [
        path
        for path in dict.fromkeys(tokens + embedded)
        if not path.startswith("-") and path not in configs and path != runner_state
    ]
    return StagePaths(outputs=outputs + stage.outputs, configs=configs, others=others)


def config_hash(stage: Stage, paths: StagePaths) -> str:
    """The command and the contents of its config files."""
    digest = hashlib.sha256(stage.command.encode())
    for path in paths.configs:
        digest.update(f"\0{path}\0".encode())
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def fingerprint(path: str) -> str:
    """Size and mtime of a file; for a folder, a digest of every file's relative path, size and mtime."""
    if not os.path.isdir(path):
        stat = os.stat(path)
        return f"{stat.st_size}:{stat.st_mtime_ns}"
    digest = hashlib.sha256()
    for root, folders, files in os.walk(path):
        folders.sort()
        for name in sorted(files):
            stat = os.stat(os.path.join(root, name), follow_symlinks=False)
            relative = os.path.relpath(os.path.join(root, name), path)
            digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return "folder:" + digest.hexdigest()


def _overlaps(path: str, others: list[str]) -> bool:
    return any(_inside(path, other) or _inside(other, path) for other in others)


def fingerprint_inputs(paths: StagePaths) -> dict[str, str]:
    """Fingerprints of the existing paths in the command that are neither outputs nor config files."""
    return {
        path: fingerprint(path) for path in paths.others if os.path.exists(path) and not _overlaps(path, paths.outputs)
    }


def fingerprint_outputs(paths: StagePaths) -> dict[str, str]:
    return {path: fingerprint(path) for path in paths.outputs if os.path.exists(path)}


def stale_reason(stage: Stage, paths: StagePaths, record: StageRecord | None) -> str | None:
    """Why `stage` must run again, or None when `record` can be reused."""
    if record is None:
        return "not run yet"
    if record.status != "done":
        return "failed last time"
    if record.command != stage.command:
        return "command changed"
    if record.config_hash != config_hash(stage, paths):
        return "config changed"
    missing = next((path for path in record.outputs if not os.path.exists(path)), None)
    if missing:
        return f"{missing} is gone"
    inputs = fingerprint_inputs(paths)
    changed = next(
        (path for path in inputs.keys() | record.inputs.keys() if inputs.get(path) != record.inputs.get(path)), None
    )
    return f"{changed} changed" if changed else None


def load_state(output_dir: Path) -> dict[str, StageRecord]:
    path = output_dir / STATE_FILE
    state = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if state.get("version") != STATE_VERSION:
        return {}
    return {name: StageRecord(**raw) for name, raw in state["stages"].items()}


def save_state(output_dir: Path, records: dict[str, StageRecord]) -> None:
    """Write the state atomically: a killed runner leaves the previous file or the new one, never half of one."""
    path = output_dir / STATE_FILE
    temporary = path.with_name(path.name + ".tmp")
    state = {"version": STATE_VERSION, "stages": {name: asdict(record) for name, record in records.items()}}
    temporary.write_text(json.dumps(state, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)


def _format(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def summary_text(stage: Stage, metrics: dict) -> str:
    values = {key: dotted_get(metrics, key) for key in stage.summary}
    return ", ".join(
        f"{key.rsplit('.', 1)[-1]}={_format(value)}" for key, value in values.items() if value is not None
    )


def result_entry(stage: Stage, record: StageRecord, reused: bool, output_dir: Path) -> dict:
    """A stage's row of report.json (`description`, `seconds`, `metrics` as before; `reused`, `images`, the text
    of its `sections` (their relative links rebased onto `output_dir`) and `peak_rss_mib` added)."""
    images = [os.path.relpath(image, output_dir) for image in stage.images if os.path.exists(image)]
    sections = [
        rebase_links(Path(path).read_text(encoding="utf-8"), Path(path).parent, output_dir)
        for path in stage.sections
        if os.path.exists(path)
    ]
    return {
        "description": stage.description,
        "seconds": record.seconds,
        "peak_rss_mib": record.peak_rss_mib,
        "metrics": record.metrics,
        "reused": reused,
        "images": images,
        "sections": sections,
    }


def rebase_links(text: str, folder: Path, output_dir: Path) -> str:
    """A section's relative links (written from its own `folder`) made relative to report.md's folder."""
    return RELATIVE_LINK.sub(lambda m: f"{m[1]}{os.path.relpath(Path(folder, m[2]), output_dir)})", text)


def machine_line(machine: dict) -> str:
    if "error" in machine:
        return f"Machine: unknown ({machine['error']})"
    flags = [f"{flag} {'yes' if flag in machine['cpu_bf16_flags'] else 'no'}" for flag in ("avx512_bf16", "amx_bf16")]
    flags.append(f"avx2 {'yes' if machine['cpu_avx2'] else 'no'}")
    device = f"CUDA {machine['cuda_name']}" if machine["device"] == "cuda" else machine["device"].upper()
    return (
        f"Machine: {machine['cpu_model']} ({', '.join(flags)}), {machine['threads']} threads, device {device}; "
        f"precision {machine['precision_reason']}"
    )


def markdown_report(report: dict, stages: list[Stage]) -> str:
    results = report["stages"]
    reused = sum(result["reused"] for result in results.values())
    lines = [
        "# Pipeline report",
        "",
        machine_line(report["machine"]),
        "",
        f"Training seed {report['seed']}. Wall time of this run: {report['total_seconds']:.0f} s; stage time:"
        f" {report['stage_seconds']:.0f} s over {len(results)} stage(s), {reused} reused from earlier runs",
        "",
        "| stage | what | seconds | peak RSS (MiB) | key results |",
        "|---|---|---:|---:|---|",
    ]
    shown = [stage for stage in stages if stage.name in results]
    for stage in shown:
        result = results[stage.name]
        seconds = f"{result['seconds']} (reused)" if result["reused"] else str(result["seconds"])
        memory = f"{result.get('peak_rss_mib', 0):.0f}"
        lines.append(
            f"| {stage.name} | {stage.description} | {seconds} | {memory} | {summary_text(stage, result['metrics'])} |"
        )
    for stage in shown:
        images, sections = results[stage.name]["images"], results[stage.name].get("sections", [])
        if images or sections:
            lines += ["", f"## {stage.name}", ""]
            lines += [text.rstrip("\n") + "\n" for text in sections]
            lines += [f"![{Path(image).name}]({image})" for image in images]
    return "\n".join(lines) + "\n"


def progress_of(line: str) -> str | None:
    """The progress a tqdm-style line shows, e.g. "28% 275/1000"; None when it shows none."""
    matches = list(PROGRESS.finditer(line))
    percent = next((match["percent"] for match in matches if match["percent"]), None)
    fractions = [(int(m["done"]), int(m["total"])) for m in matches if m["done"]]
    fraction = next((f"{done}/{total}" for done, total in fractions if 0 < total and done <= total), None)
    return " ".join(part for part in (percent, fraction) if part) or None
