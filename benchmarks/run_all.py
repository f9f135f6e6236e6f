"""Regenerate benchmarks/RESULTS.md from scratch: every benchmark, side by side with its baseline.

    python benchmarks/run_all.py [--threads 2] [--repeats 5] [--only pretrain_throughput sft_throughput]

Makes the embedded data and the tiny model in a temporary folder (or `--workdir`), then runs each
benchmark in its own process (so that its peak memory is its own) with the same thread count, warm-up
and repeats, and writes RESULTS.md from their JSON sections. RESULTS.md is written by this script only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import command_line, machine, pin_threads, render

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"

# name -> (benchmark module, arguments beyond the common ones; {data} and {model} are filled in)
BENCHMARKS: dict[str, tuple[str, list[str]]] = {
    "pretrain_throughput_fp32": (
        "pretrain_throughput",
        ["--data_files", "{data}/pretrain/raw.jsonl", "--model", "{model}", "--fp32"],
    ),
    "pretrain_throughput_auto": (
        "pretrain_throughput",
        ["--data_files", "{data}/pretrain/raw.jsonl", "--model", "{model}"],
    ),
    "packing_utilization": ("packing_utilization", ["--data_files", "{data}/pretrain/raw.jsonl"]),
    "sft_throughput_fp32": ("sft_throughput", ["--model", "{model}", "--data_dir", "{data}", "--fp32"]),
    "reward_loss": ("reward_loss", []),
    "ppo_step_time": ("ppo_step_time", ["--model", "{model}", "--prompts", "{data}/rl/prompts.jsonl"]),
    "mc_eval_speed": ("mc_eval_speed", ["--model", "{model}", "--data_dir", "{data}/exam"]),
    "synthesis_generation": ("synthesis_generation", ["--model", "{model}", "--prompts", "{data}/sft/test.jsonl"]),
    "dedup_quality": ("dedup_quality", []),
    "quantization": ("quantization", ["--data_dir", "{data}"]),
    "lm_safety_filters": ("lm_safety_filters", ["--data_dir", "{data}"]),
    "dpo_speed": ("dpo_speed", ["--model", "{model}", "--data_dir", "{data}"]),
    "grpo_speed": ("grpo_speed", ["--model", "{model}", "--prompts", "{data}/rl/prompts.jsonl"]),
}


def prepare(workdir: Path) -> tuple[Path, Path]:
    """The embedded data and the tiny model with random weights, made by the project's own recipes."""
    data, model = workdir / "data", workdir / "init"
    if not (data / "manifest.json").exists():
        recipe = ROOT / "recipes" / "generate_data.py"
        config = ROOT / "recipes" / "tiny" / "embedded_data.yaml"
        subprocess.run([sys.executable, recipe, "--config", config, "--output_dir", data], check=True)
    if not (model / "config.json").exists():
        recipe, config = ROOT / "recipes" / "create_model.py", ROOT / "recipes" / "tiny" / "model.yaml"
        subprocess.run([sys.executable, recipe, "--config", config, "--output_dir", model], check=True)
    return data, model


def run_benchmark(name: str, args: argparse.Namespace, data: Path, model: Path) -> dict:
    module, extra = BENCHMARKS[name]
    out = Path(args.workdir) / f"{name}.json"
    command = [sys.executable, str(ROOT / "benchmarks" / f"{module}.py")]
    command += [a.format(data=data, model=model) for a in extra]
    command += ["--threads", str(args.threads), "--repeats", str(args.repeats), "--warmup", str(args.warmup)]
    print("$", " ".join(command[1:]), flush=True)
    subprocess.run([*command, "--json", str(out)], check=True, cwd=ROOT)
    section = json.loads(out.read_text(encoding="utf-8"))
    section["command"] = command_line([f"benchmarks/{module}.py", *extra])  # as run, data and model as placeholders
    return section


def write_results(sections: list[dict], args: argparse.Namespace, started: datetime.datetime) -> None:
    info = machine()
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    minutes = (datetime.datetime.now(datetime.UTC) - started).total_seconds() / 60
    header = [
        "# Benchmark results",
        "",
        f"Written by `python benchmarks/run_all.py {' '.join(sys.argv[1:])}`".rstrip() + " — never by hand.",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {minutes:.0f} minutes.",
        "",
        f"- **Machine:** {info['cpu']}, {info['logical_cpus']} logical CPUs, flags: "
        f"{', '.join(info['cpu_flags']) or 'none of interest'}; Python {info['python']}.",
        f"- **Libraries:** {versions}.",
        f"- **Protocol:** {args.threads} threads on both sides; {args.warmup} warm-up round(s) dropped, then "
        f"{args.repeats} measured rounds, ours and the baseline back to back with the order alternating; "
        "medians with [min–max]; the ratio is taken per round and is > 1 when ours is better. "
        "Verdict: a win when every round's ratio is above 1, a **loss** when every one is below 1, otherwise a tie "
        "(bold when its median is below 1).",
        "",
    ]
    body = [render(section) for section in sections]
    RESULTS.write_text("\n".join(header) + "\n" + "\n".join(body), encoding="utf-8")
    print(f"wrote {RESULTS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--only", nargs="*", choices=list(BENCHMARKS), help="A subset (RESULTS.md is not written).")
    parser.add_argument("--workdir", default=None, help="Keep data, model and JSON here (default: a temporary one).")
    args = parser.parse_args()
    if args.repeats < 5 and not args.only:
        parser.error("RESULTS.md needs at least 5 measured rounds")
    pin_threads(args.threads)
    started = datetime.datetime.now(datetime.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        args.workdir = args.workdir or tmp
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        data, model = prepare(Path(args.workdir))
        names = args.only or list(BENCHMARKS)
        sections = [run_benchmark(name, args, data, model) for name in names]
    if not args.only:
        write_results(sections, args, started)


if __name__ == "__main__":
    main()
