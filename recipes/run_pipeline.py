"""Run the whole pipeline as a user would: each stage is a recipe command, run in order; finished ones are reused.

    python recipes/run_pipeline.py --config recipes/tiny/pipeline.yaml [--output_dir DIR] [--seed N]
        [--from STAGE | --only a,b | --force] [-v]

The YAML lists stages: `name`, `command`, optional `description`, `metrics` (a JSON file), `summary` (its keys,
dotted for nested values: `counts.raw_docs`), `outputs` (paths the stage writes besides `--output_dir` and
`metrics`), `images` (pictures embedded in report.md) and `sections` (Markdown files whose text report.md
includes). `{output_dir}` in commands and paths is replaced, and
`{seed}` by the YAML's top-level `seed` (or `--seed`: the training seed of every stage that takes one); a
leading `python` becomes this interpreter.

Resume: `{output_dir}/pipeline_state.json` records each stage that ran. A stage is reused unless it never
finished, its command or config (files named after `--config` or ending in .yaml/.yml/.json/.toml, by content)
changed, one of its outputs (the paths after `--output_dir`, the metrics file, `outputs:`) is gone, or one of its
inputs changed: any other path in the command that existed when it started (size and mtime, folders
recursively), so a stage reruns when an earlier stage rewrote what it reads or its recipe script was edited.
Library code under xuanyuan/ is not tracked: after changing it use --from or --force.

Quiet by default: one line per stage (updated in place on a terminal); each stage's whole output goes to
`{output_dir}/logs/{name}.log`, and `-v` streams it as well. report.json / report.md state the machine, the
times and every stage's metrics. A failed stage stops the run with its log tail and the command to rerun it.
"""

from __future__ import annotations

import argparse
import codecs
import functools
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

import yaml
from pipeline_state import (
    Stage,
    StagePaths,
    StageRecord,
    config_hash,
    fingerprint_inputs,
    fingerprint_outputs,
    load_stages,
    load_state,
    machine_line,
    markdown_report,
    progress_of,
    result_entry,
    save_state,
    stage_paths,
    stale_reason,
    summary_text,
)

TAIL_LINES = 40
TICK_SECONDS = 0.25
POLL_SECONDS = 0.02
READ_BYTES = 1 << 16
STOP_GRACE_SECONDS = 10
# Run in a child process: importing torch (and xuanyuan) costs seconds and prints warnings.
PROBE = """
import json
from xuanyuan.utils.precision import detect_machine, resolve_precision
try:
    from xuanyuan.utils.quiet import quiet_environment
except ImportError:
    quiet_environment = dict
machine = detect_machine()
precision = resolve_precision("auto", False, machine)
facts = {**machine.to_dict(), "precision": precision.name, "precision_reason": precision.reason}
print(json.dumps({"machine": facts, "quiet_environment": quiet_environment()}))
"""


@dataclass
class MachineProbe:
    """The machine's facts and the quiet-mode environment, gathered by a child process started at once."""

    process: subprocess.Popen

    @classmethod
    def start(cls) -> MachineProbe:
        command = [sys.executable, "-c", PROBE]
        return cls(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))

    @functools.cached_property
    def result(self) -> dict:
        stdout, stderr = self.process.communicate()
        if self.process.returncode != 0:
            error = (stderr.strip().splitlines() or ["no output"])[-1]
            return {"machine": {"error": f"machine probe failed: {error}"}, "quiet_environment": {}}
        return json.loads(stdout.strip().splitlines()[-1])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@dataclass
class StatusLine:
    """The terminal's view of a stage: one line redrawn in place while it runs (`live`), then its final text."""

    live: bool

    def show(self, text: str) -> None:
        if self.live:
            width = shutil.get_terminal_size().columns - 1
            print("\r" + text[:width] + "\x1b[K", end="", flush=True)

    def done(self, text: str) -> None:
        print(("\r\x1b[K" if self.live else "") + text, flush=True)


@dataclass
class OutputPump:
    """Copies a stage's output to its log (and to the terminal when `echo`), keeping the latest progress shown.

    Reads whatever arrives rather than whole lines: a progress bar ends its updates with a bare carriage return.
    """

    log: TextIO
    echo: bool
    progress: str = ""

    def copy(self, stream: BinaryIO) -> None:
        decoder = io.IncrementalNewlineDecoder(codecs.getincrementaldecoder("utf-8")("replace"), translate=True)
        for chunk in iter(functools.partial(stream.read1, READ_BYTES), b""):
            self.write(decoder.decode(chunk))
        self.write(decoder.decode(b"", final=True))

    def write(self, text: str) -> None:
        self.log.write(text)
        if self.echo:
            sys.stdout.write(text)
        shown = (progress_of(piece) for piece in reversed(text.split("\n")))
        self.progress = next((progress for progress in shown if progress), self.progress)


def stop(process: subprocess.Popen) -> None:
    """End a stage the runner abandons (Ctrl-C, SIGTERM): SIGTERM, then SIGKILL after a grace period."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_command(argv: list[str], log_path: Path, env: dict, echo: bool, tick) -> tuple[int, float]:
    """Run `argv` to the end, its output into `log_path`; `tick(progress)` is called a few times a second.
    Returns the exit code and the peak resident memory (MiB) of the process and the children it waited for."""
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        pump = OutputPump(log, echo)
        reader = threading.Thread(target=pump.copy, args=(process.stdout,), daemon=True)
        reader.start()
        try:
            next_tick = time.monotonic() + TICK_SECONDS
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)  # reaps it with its resource usage
                if pid:
                    process.returncode = os.waitstatus_to_exitcode(status)
                    return process.returncode, usage.ru_maxrss / 1024
                if time.monotonic() >= next_tick:
                    tick(pump.progress)
                    next_tick += TICK_SECONDS
                time.sleep(POLL_SECONDS)
        except BaseException:
            stop(process)
            raise
        finally:
            reader.join()


def _line(*parts: str) -> str:
    return "  ".join(part for part in parts if part)


@dataclass
class Run:
    """One invocation of the runner: what earlier runs recorded and what this one has produced so far."""

    args: argparse.Namespace
    stages: list[Stage]
    output_dir: Path
    seed: int
    records: dict[str, StageRecord]
    probe: MachineProbe
    display: StatusLine
    results: dict[str, dict] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @functools.cached_property
    def environment(self) -> dict[str, str]:
        extra = {"XUANYUAN_VERBOSE": "1"} if self.args.verbose else self.probe.result["quiet_environment"]
        return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}

    def label(self, index: int, stage: Stage) -> str:
        total = len(self.stages)
        width = max(len(s.name) for s in self.stages)
        return f"[{index:>{len(str(total))}}/{total}] {stage.name:<{width}}"

    def process(self, index: int, stage: Stage, forced: bool) -> None:
        """Reuse `stage`'s recorded result when it is up to date, else run it; a failure ends the run."""
        paths = stage_paths(stage, str(self.output_dir))
        record = self.records.get(stage.name)
        reason = "forced" if forced else stale_reason(stage, paths, record)
        label = self.label(index, stage)
        if reason is None:
            self.display.done(_line(label, f"reused {record.seconds:.1f}s", summary_text(stage, record.metrics)))
        else:
            record = self.execute(label, stage, paths, reason)
            self.records[stage.name] = record
            save_state(self.output_dir, self.records)
            if record.status != "done":
                self.display.done(_line(label, f"FAILED after {record.seconds:.0f}s ({record.error})"))
                self.report()
                raise SystemExit(self.failure_message(stage, record))
            self.display.done(_line(label, f"{record.seconds:.1f}s", summary_text(stage, record.metrics)))
        self.results[stage.name] = result_entry(stage, record, reason is None, self.output_dir)
        self.report()

    def execute(self, label: str, stage: Stage, paths: StagePaths, reason: str) -> StageRecord:
        argv = shlex.split(stage.command)
        if argv[0] == "python":
            argv[0] = sys.executable
        if self.args.verbose:
            print(f"\n=== {stage.name}: {stage.description} ({reason})\n$ {shlex.join(argv)}", flush=True)
        self.display.show(_line(label, f"({reason})"))
        environment, inputs = self.environment, fingerprint_inputs(paths)
        started = time.perf_counter()

        def tick(progress: str) -> None:
            self.display.show(_line(label, f"{time.perf_counter() - started:.0f}s", progress, f"({reason})"))

        code, peak_rss_mib = run_command(argv, self.log_path(stage), environment, self.args.verbose, tick)
        seconds = round(time.perf_counter() - started, 1)
        error = f"exit {code}" if code else ""
        if not error and stage.metrics and not os.path.exists(stage.metrics):
            error = f"no metrics file {stage.metrics}"
        metrics = json.loads(Path(stage.metrics).read_text(encoding="utf-8")) if stage.metrics and not error else {}
        return StageRecord(
            status="failed" if error else "done",
            command=stage.command,
            config_hash=config_hash(stage, paths),
            inputs=inputs,
            outputs=fingerprint_outputs(paths),
            seconds=seconds,
            peak_rss_mib=round(peak_rss_mib),
            metrics=metrics,
            error=error,
        )

    def log_path(self, stage: Stage) -> Path:
        return self.output_dir / "logs" / f"{stage.name}.log"

    def failure_message(self, stage: Stage, record: StageRecord) -> str:
        log_path = self.log_path(stage)
        with open(log_path, encoding="utf-8", errors="replace") as log:
            tail = [line.rstrip("\n") for line in deque(log, maxlen=TAIL_LINES)]
        here = os.path.relpath(__file__)
        runner = ["python", __file__ if here.startswith("..") else here, "--config", self.args.config]
        runner += ["--output_dir", self.args.output_dir] if self.args.output_dir else []
        runner += ["--seed", str(self.args.seed)] if self.args.seed is not None else []
        return "\n".join(
            [
                f"---- last {len(tail)} lines of {log_path}",
                *tail,
                "----",
                f"stage {stage.name!r} failed ({record.error}) after {record.seconds:.0f}s; log: {log_path}",
                "rerun it alone with the runner (a plain rerun resumes from it):",
                f"  {shlex.join([*runner, '--only', stage.name])}",
                "or directly:",
                f"  {shlex.join(shlex.split(stage.command))}",
            ]
        )

    @property
    def stage_seconds(self) -> float:
        return sum(result["seconds"] for result in self.results.values())

    def report(self) -> None:
        """Write report.json and report.md with what this run has produced so far."""
        report = {
            "machine": self.probe.result["machine"],
            "seed": self.seed,
            "total_seconds": round(time.perf_counter() - self.started, 1),
            "stage_seconds": round(self.stage_seconds, 1),
            "stages": self.results,
        }
        report_json = json.dumps(report, indent=2, ensure_ascii=False)
        (self.output_dir / "report.json").write_text(report_json, encoding="utf-8")
        (self.output_dir / "report.md").write_text(markdown_report(report, self.stages), encoding="utf-8")

    def closing_lines(self) -> list[str]:
        reused = sum(result["reused"] for result in self.results.values())
        return [
            machine_line(self.probe.result["machine"]),
            f"{len(self.results) - reused} stage(s) ran, {reused} reused; {time.perf_counter() - self.started:.0f} s"
            f" (stage time {self.stage_seconds:.0f} s); report: {self.output_dir / 'report.md'}",
        ]


def choose(stages: list[Stage], args: argparse.Namespace) -> tuple[set[str], set[str]]:
    """The stages this run looks at, and those among them it runs even when up to date."""
    names = [stage.name for stage in stages]
    asked = args.only.split(",") if args.only else [args.from_stage] if args.from_stage else []
    unknown = set(asked) - set(names)
    if unknown:
        raise SystemExit(f"unknown stage(s) {sorted(unknown)}; stages are {names}")
    if args.only:
        return set(asked), set(asked)
    if args.from_stage:
        return set(names), set(names[names.index(args.from_stage) :])
    return set(names), set(names) if args.force else set()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="pipeline YAML")
    parser.add_argument("--output_dir", help="override the YAML's output_dir")
    parser.add_argument("--seed", type=int, help="override the YAML's seed (replaces {seed} in the commands)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--only", help="comma-separated stages to run, even when up to date (no others)")
    which.add_argument(
        "--from",
        dest="from_stage",
        metavar="STAGE",
        help="rerun STAGE and every stage after it (earlier ones only if stale)",
    )
    which.add_argument("--force", action="store_true", help="rerun every stage")
    parser.add_argument("-v", "--verbose", action="store_true", help="stream every stage's output")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    output_dir = Path(args.output_dir or config["output_dir"])
    seed = config.get("seed", 0) if args.seed is None else args.seed
    stages = load_stages(config, str(output_dir), seed)
    selected, forced = choose(stages, args)
    (output_dir / "logs").mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    probe = MachineProbe.start()
    display = StatusLine(live=sys.stdout.isatty() and not args.verbose)
    run = Run(args, stages, output_dir, seed, load_state(output_dir), probe, display)
    try:
        for index, stage in enumerate(stages, 1):
            if stage.name in selected:
                run.process(index, stage, stage.name in forced)
    except KeyboardInterrupt:
        raise SystemExit("\ninterrupted; a plain rerun resumes with the stage that was running") from None
    finally:
        probe.stop()
    print("\n".join(run.closing_lines()))


if __name__ == "__main__":
    main()
