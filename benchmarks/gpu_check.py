"""GPU check: a few real optimizer steps of every training stage at the 6B architecture, reduced depth.

    bash benchmarks/gpu_check.sh                         # 6B shapes, 4 layers, the 6B YAMLs' micro-batches
    python benchmarks/gpu_check.py --smoke               # toy size on CPU, a few seconds (what the test runs)

Builds the `6b` preset (`XuanYuanConfig.from_preset`) with `--layers` decoder layers (optionally a smaller
`--hidden`/`--heads`/`--intermediate`/`--vocab`) and runs, per stage, `--warmup` untimed and `--steps` timed
steps on random tokens: pretraining (causal LM on full packed rows), SFT (the same, loss on the second half of
each row only), the reward model (`XuanYuanForSequenceClassification` with the token-level pairwise loss of
`xuanyuan.training.reward`) and PPO (the project's `PPOTrainer`: its rollout, then its PPO update). Micro-batch
rows and lengths come from `recipes/xuanyuan-6b/*.yaml` unless `--rows`/`--seq` override them. Trained weights
are fp32 under bf16 autocast (fp32 where bf16 is not native, see `xuanyuan.utils.precision`), AdamW.

Per stage it reports tokens/s, MFU (model FLOPs per token 6·N + 12·L·h·s, `xuanyuan.scaling.flops`, against
the GPU's bf16 dense peak, or `--peak_tflops`) and peak memory: `torch.cuda.max_memory_allocated`, reset per
stage, next to `xuanyuan.scaling.memory`'s prediction for one GPU; on CPU the process's peak RSS so far
(`getrusage`, which cannot be reset). Writes `--output` (JSON) and prints a markdown table.
"""

from __future__ import annotations

import gc
import json
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from transformers import HfArgumentParser

from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM, XuanYuanForSequenceClassification
from xuanyuan.scaling.flops import matmul_parameters, peak_tflops
from xuanyuan.scaling.memory import GIB, STRATEGIES, stage_memory
from xuanyuan.scaling.workloads import RECIPES_6B, Workload, load_workloads, score_config, step_flops
from xuanyuan.training.ppo import PPOConfig, PPOTrainer
from xuanyuan.training.reward import token_level_pairwise_loss, token_values
from xuanyuan.utils.precision import detect_machine, resolve_precision

STAGES = ("pretrain", "sft", "reward", "ppo")
FLOPS_FORMULA = (
    "training FLOPs/token = 6*N + 12*L*h*s (N = parameters in matmuls: all but the input embedding); "
    "PPO step = generation (2*N + 4*L*h*s per generated token) + 4 scoring forwards + actor and critic training"
)
SMOKE = dict(
    device="cpu", layers=1, hidden=64, heads=4, intermediate=128, vocab=512, seq=64, rows=2, steps=2, warmup=0,
    prompt_len=16, response_len=8,
)  # fmt: skip
PAD, FIRST_TOKEN = 0, 3  # ids below FIRST_TOKEN (pad, bos, eos) never appear in the random data


@dataclass
class GpuCheckConfig:
    """What to build and how long to run it."""

    layers: int = field(default=4, metadata={"help": "Decoder layers (the 6B preset has 30)."})
    hidden: int | None = field(default=None, metadata={"help": "Hidden size; None = the preset's (4096)."})
    heads: int | None = field(default=None, metadata={"help": "Attention (and KV) heads; None = the preset's."})
    intermediate: int | None = field(default=None, metadata={"help": "MLP width; None = the preset's."})
    vocab: int | None = field(default=None, metadata={"help": "Vocabulary size; None = the preset's (39438)."})
    seq: int | None = field(default=None, metadata={"help": "Row length of every stage; None = from the YAMLs."})
    rows: int | None = field(default=None, metadata={"help": "Rows per micro-batch; None = from the YAMLs."})
    prompt_len: int | None = field(default=None, metadata={"help": "PPO prompt tokens; None = the YAML's."})
    response_len: int | None = field(default=None, metadata={"help": "PPO response tokens; None = the YAML's."})
    steps: int = field(default=3, metadata={"help": "Timed optimizer steps (PPO steps) per stage."})
    warmup: int = field(default=1, metadata={"help": "Untimed steps before them."})
    stages: list[str] = field(default_factory=lambda: list(STAGES), metadata={"help": "Stages to run."})
    device: str = field(default="cuda", metadata={"help": "cuda or cpu."})
    bf16: str = field(default="auto", metadata={"help": "auto (bf16 where native), true or false."})
    attn_implementation: str = field(default="sdpa", metadata={"help": "sdpa, eager or flash_attention_2."})
    activation_checkpointing: bool = field(default=True, metadata={"help": "As the 6B YAMLs set it."})
    peak_tflops: float | None = field(
        default=None, metadata={"help": "Peak bf16 dense TFLOP/s; None = from the GPU's name (no MFU on CPU)."}
    )
    output: str = field(default="outputs/gpu_check.json", metadata={"help": "Where the JSON report goes."})
    smoke: bool = field(default=False, metadata={"help": "Toy size on CPU (overrides the size fields)."})
    seed: int = 0


@dataclass
class StageResult:
    stage: str
    rows: int
    seq_len: int
    steps: int
    seconds_per_step: float
    tokens_per_second: float
    flops_per_step: float
    model_tflops_per_second: float
    mfu: float | None
    peak_memory_gib: float
    predicted_memory_gib: float | None = None
    phases: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SpecialTokens:
    """What `PPOTrainer` reads from a tokenizer. Its EOS is an id past the vocabulary, never sampled: every
    response runs to `max_new_tokens`."""

    pad_token_id: int
    eos_token_id: int


def model_config(args: GpuCheckConfig) -> XuanYuanConfig:
    overrides = {
        "num_hidden_layers": args.layers,
        "hidden_size": args.hidden,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.heads,
        "intermediate_size": args.intermediate,
        "vocab_size": args.vocab,
    }
    config = XuanYuanConfig.from_preset("6b", **{k: v for k, v in overrides.items() if v is not None})
    config._attn_implementation = args.attn_implementation
    return config


def workloads(args: GpuCheckConfig) -> dict[str, Workload]:
    """The 6B YAMLs' micro-batches with the command line's overrides."""
    shapes = {}
    for name, workload in load_workloads(RECIPES_6B).items():
        rows = args.rows or workload.rows
        if name == "ppo":
            response = args.response_len or workload.response_len
            prompt = args.prompt_len or workload.seq_len - workload.response_len
            shapes[name] = replace(
                workload, rows=rows, rollout_rows=rows, seq_len=prompt + response, response_len=response
            )
        else:
            shapes[name] = replace(workload, rows=rows, seq_len=args.seq or workload.seq_len)
    return shapes


class Meter:
    """Times steps and measures peak memory on one device."""

    def __init__(self, device: torch.device):
        self.device = device

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def reset(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_gib(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / GIB
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB  # Linux reports KiB

    def seconds_per_step(self, step: Callable[[int], object], steps: int, warmup: int) -> float:
        for index in range(warmup):
            step(index)
        self.sync()
        started = time.perf_counter()
        for index in range(warmup, warmup + steps):
            step(index)
        self.sync()
        return (time.perf_counter() - started) / steps


def random_tokens(rows: int, length: int, vocab: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(FIRST_TOKEN, vocab, (rows, length), generator=generator)


def optimizer_for(model: torch.nn.Module, device: torch.device) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.1, fused=device.type == "cuda")


def build(model_class, config: XuanYuanConfig, device: torch.device) -> torch.nn.Module:
    """A randomly initialized model, made on `device` (initializing 1B+ parameters on CPU takes long)."""
    with device:
        return model_class(config)


def trained(model_class, config, args: GpuCheckConfig, device: torch.device) -> torch.nn.Module:
    model = build(model_class, config, device)
    if args.activation_checkpointing:
        model.activation_checkpointing_enable()
    return model.train()


def training_step(model, optimizer, loss_fn: Callable[[], torch.Tensor], autocast: torch.autocast) -> None:
    with autocast:
        loss = loss_fn()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def run_lm_stage(stage, workload, config, args, device, autocast, generator) -> float:
    """Pretraining (loss on every token) or SFT (loss on the second half of each row, the 'response')."""
    model = trained(XuanYuanForCausalLM, config, args, device)
    optimizer = optimizer_for(model, device)
    input_ids = random_tokens(workload.rows, workload.seq_len, config.vocab_size, generator).to(device)
    labels = input_ids.clone()
    if stage == "sft":
        labels[:, : workload.seq_len // 2] = -100

    def step(_: int) -> None:
        training_step(
            model, optimizer, lambda: model(input_ids=input_ids, labels=labels, use_cache=False).loss, autocast
        )

    return Meter(device).seconds_per_step(step, args.steps, args.warmup)


def preference_batch(workload: Workload, vocab: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`[chosen; rejected]` rows, right-padded: each pair shares its first half, the rejected one is 1/8 shorter."""
    pairs, length = workload.rows // 2, workload.seq_len
    chosen = random_tokens(pairs, length, vocab, generator)
    rejected = chosen.clone()
    rejected[:, length // 2 :] = random_tokens(pairs, length - length // 2, vocab, generator)
    mask = torch.ones(2 * pairs, length, dtype=torch.long)
    mask[pairs:, length - length // 8 :] = 0
    input_ids = torch.cat([chosen, rejected]).masked_fill(mask == 0, PAD)
    return input_ids, mask


def run_reward_stage(workload, config, args, device, autocast, generator) -> float:
    model = trained(XuanYuanForSequenceClassification, score_config(config), args, device)
    optimizer = optimizer_for(model, device)
    input_ids, mask = (t.to(device) for t in preference_batch(workload, config.vocab_size, generator))
    inputs = {"input_ids": input_ids, "attention_mask": mask, "use_cache": False}

    def loss() -> torch.Tensor:
        values, _ = token_values(model, inputs)
        return token_level_pairwise_loss(values, input_ids, mask)[0]

    return Meter(device).seconds_per_step(
        lambda _: training_step(model, optimizer, loss, autocast), args.steps, args.warmup
    )


def run_ppo_stage(workload, config, args, device, bf16: bool, generator, output_dir: str) -> dict[str, float]:
    """PPO steps of the project's trainer; returns the seconds per step of its rollout and its update."""
    scored = score_config(config)
    prompt_len = workload.seq_len - workload.response_len
    ppo_config = PPOConfig(
        output_dir=output_dir,
        rollout_batch_size=workload.rollout_rows,
        mini_batch_size=workload.rows,
        max_prompt_length=prompt_len,
        max_new_tokens=workload.response_len,
        max_steps=args.warmup + args.steps,
        activation_checkpointing=args.activation_checkpointing,
        bf16=bf16,
        use_cpu=device.type == "cpu",
        report_to="none",
        seed=args.seed,
    )
    frozen_dtype = torch.bfloat16 if bf16 else torch.float32  # the recipes load frozen models in bf16
    prompts = random_tokens(2 * workload.rollout_rows, prompt_len, config.vocab_size, generator).tolist()
    trainer = PPOTrainer(
        ppo_config,
        actor=build(XuanYuanForCausalLM, config, device),
        critic=build(XuanYuanForSequenceClassification, scored, device),
        reward_model=build(XuanYuanForSequenceClassification, scored, device).to(frozen_dtype),
        tokenizer=SpecialTokens(PAD, eos_token_id=config.vocab_size),
        prompts=prompts,
        reference=build(XuanYuanForCausalLM, config, device).to(frozen_dtype),
    )
    meter, seconds = Meter(device), {"rollout": 0.0, "update": 0.0}
    for step in range(args.warmup + args.steps):
        meter.sync()
        started = time.perf_counter()
        rollout = trainer.make_rollout(step)
        meter.sync()
        rolled = time.perf_counter()
        trainer.train_on_rollout(rollout, step)
        meter.sync()
        if step >= args.warmup:
            seconds["rollout"] += (rolled - started) / args.steps
            seconds["update"] += (time.perf_counter() - rolled) / args.steps
    return seconds


def run_stage(stage, workload, config, args, device, bf16, peak, output_dir) -> StageResult:
    meter = Meter(device)
    meter.reset()
    generator = torch.Generator().manual_seed(args.seed)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    phases: dict[str, float] = {}
    if stage == "ppo":
        phases = run_ppo_stage(workload, config, args, device, bf16, generator, output_dir)
        seconds = sum(phases.values())
    elif stage == "reward":
        seconds = run_reward_stage(workload, config, args, device, autocast, generator)
    else:
        seconds = run_lm_stage(stage, workload, config, args, device, autocast, generator)
    flops, tokens = step_flops(config, workload)
    predicted = None
    if device.type == "cuda":
        memory = stage_memory(config, workload, STRATEGIES["single"], 1, args.activation_checkpointing)
        predicted = memory.total / GIB
    return StageResult(
        stage=stage,
        rows=workload.rollout_rows if stage == "ppo" else workload.rows,
        seq_len=workload.seq_len,
        steps=args.steps,
        seconds_per_step=seconds,
        tokens_per_second=tokens / seconds,
        flops_per_step=flops,
        model_tflops_per_second=flops / seconds / 1e12,
        mfu=flops / seconds / (peak * 1e12) if peak else None,
        peak_memory_gib=meter.peak_gib(),
        predicted_memory_gib=predicted,
        phases=phases,
    )


def markdown_table(report: dict) -> str:
    memory = "peak CUDA GiB (predicted)" if report["device"] == "cuda" else "peak RSS GiB (process so far)"
    lines = [
        f"| stage | rows x seq | s/step | tokens/s | model TFLOP/s | MFU | {memory} |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in report["stages"].values():
        mfu = f"{row['mfu']:.1%}" if row["mfu"] is not None else "n/a"
        predicted = f" ({row['predicted_memory_gib']:.1f})" if row["predicted_memory_gib"] is not None else ""
        lines.append(
            f"| {row['stage']} | {row['rows']} x {row['seq_len']} | {row['seconds_per_step']:.3f} "
            f"| {row['tokens_per_second']:,.0f} | {row['model_tflops_per_second']:.3g} | {mfu} "
            f"| {row['peak_memory_gib']:.2f}{predicted} |"
        )
    return "\n".join(lines)


def run(args: GpuCheckConfig) -> dict:
    if args.smoke:
        args = replace(args, **SMOKE)
    unknown = sorted(set(args.stages) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown stages {unknown}; choose from {STAGES}")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("no CUDA device: pass --device cpu (or --smoke)")
    torch.manual_seed(args.seed)
    machine = detect_machine(use_cpu=device.type == "cpu")
    precision = resolve_precision(args.bf16, False, machine)
    peak = args.peak_tflops or (peak_tflops(machine.cuda_name) if device.type == "cuda" else None)
    config = model_config(args)
    shapes = workloads(args)
    report = {
        "device": device.type,
        "device_name": machine.cuda_name or machine.cpu_model,
        "precision": precision.name,
        "attn_implementation": args.attn_implementation,
        "activation_checkpointing": args.activation_checkpointing,
        "peak_tflops": peak,
        "flops_formula": FLOPS_FORMULA,
        "memory": "torch.cuda.max_memory_allocated per stage" if device.type == "cuda" else "peak RSS (getrusage)",
        "model": {
            "layers": config.num_hidden_layers,
            "hidden": config.hidden_size,
            "heads": config.num_attention_heads,
            "intermediate": config.intermediate_size,
            "vocab": config.vocab_size,
            "matmul_parameters_lm": matmul_parameters(config, "lm"),
            "matmul_parameters_score": matmul_parameters(score_config(config), "score"),
        },
        "stages": {},
    }
    with tempfile.TemporaryDirectory() as output_dir:
        for stage in args.stages:
            result = run_stage(stage, shapes[stage], config, args, device, precision.bf16, peak, output_dir)
            report["stages"][stage] = asdict(result)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report


def main() -> None:
    (args,) = HfArgumentParser(GpuCheckConfig).parse_args_into_dataclasses()
    report = run(args)
    print(f"{report['device_name']}, {report['precision']}, {report['attn_implementation']}; {FLOPS_FORMULA}")
    print(markdown_table(report))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
