"""The tables of docs/scaling.md, computed by `xuanyuan.scaling` from the presets and the 6B YAMLs.

    PYTHONPATH=$PWD python docs/scaling_tables.py            # print the tables
    PYTHONPATH=$PWD python docs/scaling_tables.py --write    # replace them in docs/scaling.md
    ... --tiny_report outputs/tiny/report.json               # the CPU cross-check from another main-job run

Every assumption that is not read from the repository is a named constant below; change one and rerun.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from xuanyuan import XuanYuanConfig
from xuanyuan.scaling.flops import (
    matmul_parameters,
    parameter_count,
    tokens_per_second,
    training_flops_per_token,
)
from xuanyuan.scaling.memory import GIB, STRATEGIES, model_states, stage_memory
from xuanyuan.scaling.workloads import PIPELINE_STRATEGY, load_workloads, step_flops, world_size

DOC = Path(__file__).with_name("scaling.md")
BEGIN, END = "<!-- scaling_tables:begin -->", "<!-- scaling_tables:end -->"

# --- assumptions (see docs/scaling.md for where each comes from) ---
PEAK_TFLOPS = 989.0  # H100 SXM / H200, bf16 dense (xuanyuan.scaling.flops.PEAK_BF16_TFLOPS)
MFU_RANGE = (0.35, 0.50)  # literature range for ZeRO/FSDP data parallelism of 7B-70B models on H100
DOLLARS_PER_GPU_HOUR = 2.50  # on-demand H100 class, order of magnitude
GPU_MEMORY_GIB = 80  # the smaller of the common H100 sizes (H200: 141)
PRETRAIN_TOKENS = 1.0e12  # assumed: the report lists ~4.8T cleaned tokens and says it sampled from them
SFT_TOKENS = 2 * 1.0e9 * 1.1  # assumed: 1B tokens of conversations x 2 epochs (sft.yaml), +10% pretraining mix
REWARD_PAIRS = 54_000  # report: ~60k preference pairs, 90% for training; 1 epoch (reward.yaml)
PPO_STEPS = 300  # report: about 300 PPO steps
GPUS = 8  # the 6B pipeline's node (accelerate_configs/*.yaml num_processes)
# The embedded default's pretraining on 2 CPU cores (main-job report, stages.pretrain.metrics).
TINY_RUN = {"token_slots_seen": 819_200, "train_seconds": 171.33, "seq_len": 512}
TINY_REPORT = "outputs/reports/fresh_bf16_session11_report.json"
CPU_PEAK_GFLOPS = 2 * 2.6 * 64  # 2 Zen 4 cores x 2.6 GHz x 64 bf16 FLOP/cycle (two 256-bit dot-product pipes)


@dataclass(frozen=True)
class Budget:
    stage: str
    tokens: float  # training tokens (PPO: tokens of prompt + response over all steps)
    note: str


def gib(value: float) -> str:
    return f"{value / GIB:.1f}"


def num(value: float) -> str:
    """Three significant digits, thousands separated."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def count(value: float) -> str:
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return num(value)


def model_table() -> str:
    lines = ["| preset | parameters | N (matmul) | training FLOPs/token at s = 2048 |", "|---|---:|---:|---:|"]
    for name in ("6b", "70b"):
        config = XuanYuanConfig.from_preset(name)
        lines.append(
            f"| `{name}` | {parameter_count(config) / 1e9:.2f} B | {matmul_parameters(config) / 1e9:.2f} B "
            f"| {training_flops_per_token(config, 2048) / 1e9:.1f} GFLOP |"
        )
    return "\n".join(lines)


def memory_table(preset: str, gpus: int) -> str:
    """Per-GPU GiB of each stage and strategy at the 6B YAMLs' micro-batches."""
    config = XuanYuanConfig.from_preset(preset)
    head = (
        "| stage (micro-batch) | strategy | weights | grads | Adam | gathered | activations ckpt / none "
        "| logits | rollout | total ckpt | total no ckpt |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for stage, workload in load_workloads().items():
        shape = f"{stage} ({workload.rows} x {workload.seq_len})"
        for name in ("zero2", "zero3", "fsdp"):
            if stage == "ppo" and name == "fsdp":
                lines.append(f"| {shape} | FSDP | n/a: the PPO trainer runs DDP or DeepSpeed | | | | | | | | |")
                continue
            with_ckpt = stage_memory(config, workload, STRATEGIES[name], gpus, checkpointing=True)
            without = stage_memory(config, workload, STRATEGIES[name], gpus, checkpointing=False)
            states = with_ckpt.states
            fits = "" if with_ckpt.total / GIB <= GPU_MEMORY_GIB else " ✗"
            lines.append(
                f"| {shape} | {STRATEGIES[name].label} | {gib(states.weights)} | {gib(states.grads)} "
                f"| {gib(states.optimizer)} | {gib(with_ckpt.gathered)} "
                f"| {gib(with_ckpt.activations)} / {gib(without.activations)} | {gib(with_ckpt.logits)} "
                f"| {gib(with_ckpt.rollout)} | **{gib(with_ckpt.total)}**{fits} | {gib(without.total)} |"
            )
    return "\n".join(lines)


def states_by_gpus_table(preset: str, gpu_counts: tuple[int, ...]) -> str:
    """One trained model's weights + grads + Adam per GPU, by strategy and GPU count."""
    config = XuanYuanConfig.from_preset(preset)
    lines = [
        "| strategy | " + " | ".join(f"{n} GPUs" for n in gpu_counts) + " |",
        "|---|" + "---:|" * len(gpu_counts),
    ]
    for name in ("zero2", "zero3", "fsdp"):
        cells = [gib(model_states(config, STRATEGIES[name], n).total) for n in gpu_counts]
        lines.append(f"| {STRATEGIES[name].label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def budgets() -> list[Budget]:
    ppo = load_workloads()["ppo"]
    reward = load_workloads()["reward"]
    return [
        Budget("pretrain", PRETRAIN_TOKENS, "assumed 1.0T of the report's ~4.8T cleaned tokens"),
        Budget("sft", SFT_TOKENS, "assumed 1B tokens x 2 epochs + 10% pretraining text"),
        Budget("reward", REWARD_PAIRS * reward.seq_len * 2, "54k pairs x 2 x 1024 (upper bound: full rows)"),
        Budget("ppo", PPO_STEPS * GPUS * ppo.rollout_rows * ppo.seq_len, "300 steps x 8 GPUs x 16 x 512"),
    ]


def time_table() -> str:
    """Hours and cost of each 6B stage on `GPUS` GPUs at both ends of `MFU_RANGE`."""
    config = XuanYuanConfig.from_preset("6b")
    shapes = load_workloads()
    low, high = MFU_RANGE
    lines = [
        f"| stage | tokens | FLOPs/token | tokens/s/GPU at {low:.0%} / {high:.0%} MFU "
        f"| GPU-hours | hours on {GPUS} GPUs | cost at ${DOLLARS_PER_GPU_HOUR:.2f}/GPU-h |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for budget in budgets():
        flops, tokens = step_flops(config, shapes[budget.stage])
        per_token = flops / tokens
        fast, slow = (tokens_per_second(per_token, PEAK_TFLOPS, mfu) for mfu in (high, low))
        gpu_hours = (budget.tokens / fast / 3600, budget.tokens / slow / 3600)
        cost = [hours * DOLLARS_PER_GPU_HOUR for hours in gpu_hours]
        lines.append(
            f"| {budget.stage} ({budget.note}) | {count(budget.tokens)} | {per_token / 1e9:.1f} G "
            f"| {slow:,.0f} / {fast:,.0f} | {num(gpu_hours[0])}–{num(gpu_hours[1])} "
            f"| {num(gpu_hours[0] / GPUS)}–{num(gpu_hours[1] / GPUS)} | ${cost[0]:,.0f}–{cost[1]:,.0f} |"
        )
    return "\n".join(lines)


def cpu_cross_check(run: dict) -> str:
    """The embedded default's measured pretraining throughput through the same formula."""
    config = XuanYuanConfig.from_preset("tiny")
    per_token = training_flops_per_token(config, run["seq_len"])
    tokens_per_s = run["token_slots_seen"] / run["train_seconds"]
    achieved = tokens_per_s * per_token / 1e9
    return "\n".join(
        [
            "| quantity | value |",
            "|---|---:|",
            f"| N (matmul parameters of `tiny`) | {matmul_parameters(config):,} |",
            f"| FLOPs/token = 6·N + 12·L·h·s at s = {run['seq_len']} | {per_token:,.0f} |",
            f"| token slots / train seconds | {run['token_slots_seen']:,} / {run['train_seconds']:.1f} s |",
            f"| tokens/s | {tokens_per_s:,.0f} |",
            f"| model GFLOP/s | {achieved:.0f} |",
            f"| assumed CPU bf16 peak (2 cores x 2.6 GHz x 64 FLOP/cycle) | {CPU_PEAK_GFLOPS:.0f} GFLOP/s |",
            f"| MFU | {achieved / CPU_PEAK_GFLOPS:.0%} |",
        ]
    )


def render(tiny_run: dict) -> str:
    sections = [
        ("Models", model_table()),
        (f"Per-GPU memory, XuanYuan-6B, {GPUS} GPUs (GiB)", memory_table("6b", GPUS)),
        ("Per-GPU memory, 70B preset, 64 GPUs (GiB)", memory_table("70b", 64)),
        ("One trained 70B model's weights + grads + Adam per GPU (GiB)", states_by_gpus_table("70b", (8, 16, 32, 64))),
        (f"XuanYuan-6B time and cost on {GPUS} GPUs at {PEAK_TFLOPS:.0f} TFLOP/s peak", time_table()),
        ("CPU cross-check: the embedded default's pretraining", cpu_cross_check(tiny_run)),
    ]
    pipeline = ", ".join(f"{stage} {strategy}" for stage, strategy in PIPELINE_STRATEGY.items())
    gpus = world_size("zero3")
    header = f"_Generated by `docs/scaling_tables.py`; the 6B pipeline launches {pipeline}, {gpus} GPUs._"
    return "\n\n".join([header] + [f"#### {title}\n\n{table}" for title, table in sections])


def tiny_run_from_report(path: Path) -> dict:
    metrics = json.loads(path.read_text(encoding="utf-8"))["stages"]["pretrain"]["metrics"]
    buckets = metrics["packing"]["sequences_per_bucket"]
    return {
        "token_slots_seen": metrics["token_slots_seen"],
        "train_seconds": metrics["train_seconds"],
        "seq_len": int(max(buckets, key=buckets.get)),  # the bucket nearly every row is packed into
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"replace the tables in {DOC}")
    parser.add_argument("--tiny_report", type=Path, help=f"a main-job report.json (default: {TINY_REPORT}'s numbers)")
    args = parser.parse_args()
    tables = render(tiny_run_from_report(args.tiny_report) if args.tiny_report else TINY_RUN)
    if not args.write:
        print(tables)
        return
    text = DOC.read_text(encoding="utf-8")
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + tables + "\n" + text[stop:], encoding="utf-8")


if __name__ == "__main__":
    main()
