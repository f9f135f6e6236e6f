"""Run the main job's training stages for several seeds and both precisions, and report mean and spread.

    python scripts/seed_study.py [--config recipes/tiny/pipeline.yaml] [--seeds 0 1 2] [--precisions fp32 bf16]
        [--output_dir outputs/seed_study]

One tiny run says little: the exam changes by a few points and PPO's reward by a fraction between seeds. This
runs the pipeline's data stages once (they have their own seed), then for every precision and seed the stages
that initialize, train and evaluate a model (`--seed` of run_pipeline.py: every stage after the data stages up
to the last one whose numbers the study reads), each in its own folder, and writes
`seed_study.json` and `seed_study.md`: every run's numbers, their mean, standard deviation and range, and how
many runs met each expectation (SFT keeps the exam pretraining reached; PPO raises the held-out reward and
wins more comparisons against SFT than it loses).

Precision follows the hardware as in the main job. `fp32` runs cap the CPU's instruction set to AVX2
(`ONEDNN_MAX_CPU_ISA`, `ATEN_CPU_CAPABILITY`), which is what a CPU without avx512_bf16 does, so `bf16: auto`
resolves to fp32; `bf16` runs need a CPU or GPU with native bf16, and a run that resolved otherwise is an error.
A run whose report already holds every stage is not repeated; delete its folder to redo it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

from xuanyuan.utils.report_numbers import ReportNumber as Number

SHARED_STAGES = ("data", "reference_data", "build_kenlm", "kenlm", "clean_data", "tokenizer")
SHARED_FOLDERS = ("data", "reference", "kenlm", "clean", "tokenizer")
PRECISION_ENVIRONMENT = {"fp32": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}, "bf16": {}}


NUMBERS = (
    Number("stages.exam_pretrain_blank.metrics.overall.accuracy", "exam accuracy after pretraining", "{:.3f}"),
    Number("stages.exam_sft_blank.metrics.overall.accuracy", "exam accuracy after SFT", "{:.3f}"),
    Number("stages.exam_sft_vs_pretrain.metrics.difference", "exam change SFT − pretraining (paired)", "{:+.3f}"),
    Number("stages.exam_sft_vs_pretrain.metrics.cluster_p_value", "its p-value (sign flips over facts)", "{:.2f}"),
    Number("stages.eval_reward.metrics.accuracy", "reward model accuracy, held-out prompts", "{:.3f}"),
    Number("stages.ppo.metrics.reward_first", "PPO reward, first step", "{:.2f}"),
    Number("stages.ppo.metrics.reward_last", "PPO reward, last step", "{:.2f}"),
    Number("stages.alignment.metrics.methods.sft.reward_mean", "mean reward, held-out prompts, SFT", "{:.2f}"),
    Number("stages.alignment.metrics.methods.ppo.reward_mean", "mean reward, held-out prompts, PPO", "{:.2f}"),
    Number("stages.alignment.metrics.methods.ppo.good", "PPO wins against SFT", "{:.0f}"),
    Number("stages.alignment.metrics.methods.ppo.same", "ties", "{:.0f}"),
    Number("stages.alignment.metrics.methods.ppo.bad", "PPO losses against SFT", "{:.0f}"),
    Number("stages.pretrain.seconds", "pretraining seconds", "{:.0f}"),
)
# What each run should show, as (description, test on the run's numbers keyed by label).
SFT_P_VALUE = 0.05
EXPECTATIONS = (
    (
        f"SFT keeps the exam (not significantly below pretraining, p ≥ {SFT_P_VALUE})",
        lambda n: (
            n["exam change SFT − pretraining (paired)"] >= 0 or n["its p-value (sign flips over facts)"] >= SFT_P_VALUE
        ),
    ),
    (
        "PPO raises the mean reward on held-out prompts",
        lambda n: n["mean reward, held-out prompts, PPO"] > n["mean reward, held-out prompts, SFT"],
    ),
    ("PPO wins more than it loses against SFT", lambda n: n["PPO wins against SFT"] > n["PPO losses against SFT"]),
)


def run_pipeline(config: Path, output_dir: Path, stages: tuple[str, ...], seed: int | None, environment: dict) -> None:
    command = [sys.executable, "recipes/run_pipeline.py", "--config", str(config), "--output_dir", str(output_dir)]
    command += ["--only", ",".join(stages)] + (["--seed", str(seed)] if seed is not None else [])
    print("$", " ".join(command), flush=True)
    subprocess.run(command, env={**os.environ, **environment}, check=True)


def seeded_stages(config: dict) -> tuple[str, ...]:
    """The pipeline's stages after the shared ones, up to the last stage one of NUMBERS reads."""
    names = [stage["name"] for stage in config["stages"]]
    read = {number.path.split(".")[1] for number in NUMBERS}
    missing = [name for name in (*SHARED_STAGES, *sorted(read)) if name not in names]
    if missing:
        raise SystemExit(f"the pipeline has no stage(s) {missing}, which the study runs or reads")
    last = max(names.index(name) for name in read)
    return tuple(name for name in names[: last + 1] if name not in SHARED_STAGES)


def finished(output_dir: Path, stages: tuple[str, ...]) -> dict | None:
    """The run's report when it holds every one of `stages`, else None."""
    path = output_dir / "report.json"
    if not path.exists():
        return None
    report = json.loads(path.read_text(encoding="utf-8"))
    return report if set(stages) <= set(report.get("stages", {})) else None


def study_run(config: Path, stages: tuple[str, ...], root: Path, precision: str, seed: int) -> dict:
    """One precision and seed: the seeded `stages` on the shared data; returns its numbers."""
    output_dir = root / f"{precision}-seed{seed}"
    report = finished(output_dir, stages)
    if report is None:
        output_dir.mkdir(parents=True, exist_ok=True)
        for folder in SHARED_FOLDERS:
            link = output_dir / folder
            if not link.exists():
                link.symlink_to(Path("..") / "shared" / folder)
        run_pipeline(config, output_dir, stages, seed, PRECISION_ENVIRONMENT[precision])
        report = finished(output_dir, stages)
    used = report["machine"].get("precision")
    if used != precision:
        raise SystemExit(f"{output_dir}: asked for {precision} but the run resolved {used}: {report['machine']}")
    numbers = {n.label: n.read(report) for n in NUMBERS}
    return {"seed": seed, "precision": precision, "threads": report["machine"].get("threads"), "numbers": numbers}


def spread(values: list[float]) -> dict:
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def summarize(runs: list[dict], precisions: list[str]) -> dict:
    summary = {}
    for precision in precisions:
        numbers = [run["numbers"] for run in runs if run["precision"] == precision]
        summary[precision] = {
            "runs": len(numbers),
            "numbers": {n.label: spread([run[n.label] for run in numbers]) for n in NUMBERS},
            "expectations": {text: sum(bool(test(run)) for run in numbers) for text, test in EXPECTATIONS},
        }
    return summary


def markdown(study: dict) -> str:
    summary = study["summary"]
    runs = {precision: [run for run in study["runs"] if run["precision"] == precision] for precision in summary}
    header = ["number"]
    for precision, precision_runs in runs.items():
        seeds = " / ".join(str(run["seed"]) for run in precision_runs)
        header += [f"{precision}, seeds {seeds}", f"{precision} mean ± sd"]
    lines = [f"| {' | '.join(header)} |", "|---|" + "---:|" * (len(header) - 1)]
    for number in NUMBERS:
        cells = [number.label]
        for precision, precision_runs in runs.items():
            stats = summary[precision]["numbers"][number.label]
            cells.append(" / ".join(number.format.format(run["numbers"][number.label]) for run in precision_runs))
            cells.append(f"{number.format.format(stats['mean'])} ± {abs(stats['sd']):.3g}")
        lines.append(f"| {' | '.join(cells)} |")
    threads = ", ".join(
        f"{precision} {' / '.join(str(run.get('threads')) for run in precision_runs)}"
        for precision, precision_runs in runs.items()
    )
    lines += ["", f"Threads per run (seeds in the order above): {threads}.", ""]
    for text, _ in EXPECTATIONS:
        counts = ", ".join(
            f"{precision} {summary[precision]['expectations'][text]}/{summary[precision]['runs']}"
            for precision in summary
        )
        lines.append(f"- {text}: {counts} runs")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=Path("recipes/tiny/pipeline.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--precisions", nargs="+", choices=sorted(PRECISION_ENVIRONMENT), default=["fp32", "bf16"])
    parser.add_argument("--output_dir", type=Path, default=Path("outputs/seed_study"))
    args = parser.parse_args(argv)
    stages = seeded_stages(yaml.safe_load(args.config.read_text(encoding="utf-8")))
    if finished(args.output_dir / "shared", SHARED_STAGES) is None:
        run_pipeline(args.config, args.output_dir / "shared", SHARED_STAGES, None, {})
    runs = [study_run(args.config, stages, args.output_dir, p, seed) for p in args.precisions for seed in args.seeds]
    study = {"config": str(args.config), "runs": runs, "summary": summarize(runs, args.precisions)}
    (args.output_dir / "seed_study.json").write_text(json.dumps(study, indent=2, ensure_ascii=False), encoding="utf-8")
    (args.output_dir / "seed_study.md").write_text(markdown(study), encoding="utf-8")
    print(markdown(study))


if __name__ == "__main__":
    main()
