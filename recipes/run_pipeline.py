"""Run the whole pipeline as a user would: each stage is a recipe command, run in order.

    python recipes/run_pipeline.py --config recipes/tiny/pipeline.yaml [--output_dir DIR] [--only a,b]

The YAML lists stages (`name`, `command`, optional `metrics` JSON file and `summary` keys, dotted for
nested values: `counts.raw_docs`).
`{output_dir}` in commands and paths is replaced; a leading `python` becomes this interpreter.
Each stage's output goes to `{output_dir}/logs/{name}.log`; `report.json` and `report.md` collect
timings and every stage's metrics. A failed stage stops the run with its log tail.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass
class Stage:
    name: str
    command: str
    description: str = ""
    metrics: str | None = None
    summary: list[str] = field(default_factory=list)


def load_stages(config: dict, output_dir: str) -> list[Stage]:
    stages = []
    for index, raw in enumerate(config["stages"]):
        missing = {"name", "command"} - raw.keys()
        if missing:
            raise ValueError(f"stage {index}: missing field(s) {sorted(missing)}")
        raw = {k: (v.replace("{output_dir}", output_dir) if isinstance(v, str) else v) for k, v in raw.items()}
        stages.append(Stage(**raw))
    return stages


def run_stage(stage: Stage, log_dir: Path) -> dict:
    argv = shlex.split(stage.command)
    if argv[0] == "python":
        argv[0] = sys.executable
    log_path = log_dir / f"{stage.name}.log"
    print(f"\n=== {stage.name}: {stage.description}\n$ {shlex.join(argv)}", flush=True)
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in process.stdout:
            log.write(line)
            sys.stdout.write(line)
        returncode = process.wait()
    seconds = time.perf_counter() - started
    if returncode != 0:
        raise SystemExit(f"stage {stage.name!r} failed (exit {returncode}) after {seconds:.0f}s; log: {log_path}")
    metrics = json.loads(Path(stage.metrics).read_text(encoding="utf-8")) if stage.metrics else {}
    print(f"=== {stage.name} done in {seconds:.1f}s", flush=True)
    return {"description": stage.description, "seconds": round(seconds, 1), "metrics": metrics}


def _lookup(metrics: dict, dotted_key: str):
    """`metrics["a"]["b"]` for "a.b"; None when any part is missing."""
    for part in dotted_key.split("."):
        if not isinstance(metrics, dict) or part not in metrics:
            return None
        metrics = metrics[part]
    return metrics


def _format(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_report(results: dict[str, dict], stages: list[Stage], output_dir: Path, total_seconds: float) -> None:
    report = {"total_seconds": round(total_seconds, 1), "stages": results}
    (output_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    lines = [
        "# Pipeline report",
        "",
        f"Total wall time: {total_seconds:.0f} s",
        "",
        "| stage | what | seconds | key results |",
        "|---|---|---:|---|",
    ]
    for stage in stages:
        if stage.name not in results:
            continue
        result = results[stage.name]
        values = {key: _lookup(result["metrics"], key) for key in stage.summary}
        keys = ", ".join(f"{key.rsplit('.', 1)[-1]}={_format(v)}" for key, v in values.items() if v is not None)
        lines.append(f"| {stage.name} | {stage.description} | {result['seconds']} | {keys} |")
    (output_dir / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="pipeline YAML")
    parser.add_argument("--output_dir", help="override the YAML's output_dir")
    parser.add_argument("--only", help="comma-separated stage names to run (default: all)")
    args = parser.parse_args(argv)

    config = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    output_dir = Path(args.output_dir or config["output_dir"])
    stages = load_stages(config, str(output_dir))
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {s.name for s in stages}
        if unknown:
            raise SystemExit(f"unknown stage(s) {sorted(unknown)}; stages are {[s.name for s in stages]}")
        stages = [s for s in stages if s.name in wanted]

    (output_dir / "logs").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: dict[str, dict] = {}
    for stage in stages:
        results[stage.name] = run_stage(stage, output_dir / "logs")
        write_report(results, stages, output_dir, time.perf_counter() - started)
    print((output_dir / "report.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
