"""DPO training steps/s and peak memory: the tiny recipe's settings vs TRL's `DPOConfig` defaults.

    python benchmarks/dpo_speed.py --model DIR/init --data_dir DIR [--steps 8]

Ours: `recipes/tiny/dpo.yaml` as recipes/dpo.py runs it (its trainer, batch, max_length, precision and
activation checkpointing off). Baseline: TRL 1.16's `DPOTrainer` with `DPOConfig` defaults, given only what makes
the work the same: batch size, max_length, steps, precision, seed and threads (and no logging, saving or progress
bar on either side); its defaults then differ from ours in activation checkpointing (on), learning rate and
schedule. Both train on the same training rows (the recipe's split, strength-weighted), from the same weights,
the reference a frozen copy loaded by TRL. Each side runs in its own process, so that its peak RSS is its own;
the two processes are driven round by round, back to back. Before timing, the first training batch of both must
be the same tokens, with the same loss and the same chosen/rejected log-probabilities under the policy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import (
    MismatchError,
    Row,
    Section,
    bench_main,
    check_close,
    paired_row,
    peak_rss_mib,
    pin_threads,
    single,
    step_marks,
)

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "tiny" / "dpo.yaml"
MESSAGE = "DPO_SPEED "  # prefix of the worker's lines meant for the driver (the rest of its output is noise)
SIDES = ("ours", "baseline")


def recipe_config(args, output_dir: str) -> tuple:
    sys.path.insert(0, str(ROOT / "tests"))
    from script_loading import load_script

    recipe = load_script("recipes/dpo.py")
    argv = ["--config", str(RECIPE), "--model_name_or_path", args.model, "--output_dir", output_dir,
            "--max_steps", str(args.steps), "--report_to", "none", "--save_strategy", "no", "--logging_steps",
            "100000", "--disable_tqdm", "true"]  # fmt: skip
    return recipe.parse_args(argv)


def build_trainer(side: str, args):
    """The side's trainer on the recipe's training rows."""
    import torch
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    from xuanyuan.tokenization import load_tokenizer
    from xuanyuan.training.dpo import XuanYuanDPOTrainer, load_dpo_data

    work = tempfile.mkdtemp()
    script, config, _ = recipe_config(args, f"{work}/ours")
    files = [str(Path(args.data_dir, "preference", name)) for name in ("pairs.jsonl", "ranked.jsonl")]
    train, _, _ = load_dpo_data(files, script.test_fraction, script.split_seed, script.keep_ties,
                                weighting=script.strength_weighting)  # fmt: skip
    tokenizer = load_tokenizer(args.model)
    if side == "ours":
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
        return XuanYuanDPOTrainer(model=model, args=config, train_dataset=train, processing_class=tokenizer)
    baseline = DPOConfig(
        output_dir=f"{work}/baseline", per_device_train_batch_size=config.per_device_train_batch_size,
        max_length=config.max_length, max_steps=config.max_steps, bf16=config.bf16, use_cpu=config.use_cpu,
        seed=config.seed, report_to="none", save_strategy="no", logging_steps=100000, disable_tqdm=True,
    )  # fmt: skip
    return DPOTrainer(model=args.model, args=baseline, train_dataset=train, processing_class=tokenizer)


def steps_per_second(trainer) -> float:
    """Train `max_steps` once; optimizer steps/s from the end of the first step to the end of the last."""
    marks = step_marks(trainer)
    return (len(marks) - 1) / (marks[-1][0] - marks[0][0])


def worker(args) -> None:
    """One side: report the first batch, then train once per "run" line on stdin; report peak RSS at the end."""
    import torch

    pin_threads(args.threads)
    trainer = build_trainer(args.worker, args)
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, batch).item()
        chosen, rejected = trainer.compute_ref_log_probs(trainer.model, batch)  # TRL's sums, here of the policy
    send({"input_ids": batch["input_ids"].tolist(), "loss": loss, "logps": [chosen.tolist(), rejected.tolist()]})
    for line in sys.stdin:
        if line.strip() != "run":
            break
        send({"steps_per_s": steps_per_second(trainer)})
    send({"peak_rss_mib": peak_rss_mib()})


def send(message: dict) -> None:
    print(MESSAGE + json.dumps(message), flush=True)


class Side:
    """A worker process and the messages it sends."""

    def __init__(self, side: str, args):
        command = [sys.executable, __file__, "--worker", side, "--model", args.model, "--data_dir", args.data_dir,
                   "--steps", str(args.steps), "--threads", str(args.threads)]  # fmt: skip
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)

    def receive(self) -> dict:
        for line in self.process.stdout:
            if line.startswith(MESSAGE):
                return json.loads(line[len(MESSAGE) :])
        raise RuntimeError(f"the worker ended with code {self.process.wait()} before answering")

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.receive()


def run(args: argparse.Namespace) -> Section:
    import torch

    sides, first = {}, {}
    for side in SIDES:  # one after the other: a side sets up while the other waits
        sides[side] = Side(side, args)
        first[side] = sides[side].receive()
    ours, baseline = first["ours"], first["baseline"]
    if ours["input_ids"] != baseline["input_ids"]:
        raise MismatchError("the first training batches differ: the sides would not do the same work")
    checks = [
        check_close("loss of the first batch", torch.tensor(ours["loss"]), torch.tensor(baseline["loss"]), 1e-6),
        check_close("its chosen/rejected log-probabilities", torch.tensor(ours["logps"]),
                    torch.tensor(baseline["logps"]), 1e-4),
    ]  # fmt: skip
    started = time.perf_counter()
    row = paired_row(
        "training steps/s", "steps/s", lambda: sides["ours"].ask("run")["steps_per_s"],
        lambda: sides["baseline"].ask("run")["steps_per_s"], args.repeats, args.warmup,
    )  # fmt: skip
    peak = {side: worker_side.ask("exit")["peak_rss_mib"] for side, worker_side in sides.items()}
    for worker_side in sides.values():
        worker_side.process.wait()
    script, config, _ = recipe_config(args, tempfile.mkdtemp())
    batch, length = config.per_device_train_batch_size, config.max_length
    ratio = single(peak["baseline"] / peak["ours"])
    note = "lower is better; the ratio is baseline / ours"
    memory = Row("peak RSS of the side's process", "MiB", single(peak["ours"]), single(peak["baseline"]), ratio, note)
    return Section(
        key="dpo_speed",
        title="DPO: the tiny recipe's settings vs TRL `DPOConfig` defaults",
        baseline="TRL 1.16 `DPOTrainer` with `DPOConfig` defaults (activation checkpointing on, lr 1e-6, linear "
        "decay), given only the batch size, max_length, steps, precision and seed of ours",
        matched_work=f"same model and tokenizer ({args.model}), the recipe's strength-weighted training rows "
        f"({script.strength_weighting}), {batch} pairs per step, max_length {length}, {args.steps} optimizer steps "
        f"per round, {'bf16 autocast' if config.bf16 else 'fp32'}, {args.threads} threads, a frozen reference "
        "loaded by TRL on both sides",
        check=f"the same first batch on both sides ({len(ours['input_ids'])} rows); " + "; ".join(checks) + ".",
        rows=[row, memory],
        notes=[f"{time.perf_counter() - started:.0f} s of rounds; each side is one process for all rounds."],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Initial model folder (recipes/create_model.py).")
    parser.add_argument("--data_dir", required=True, help="Embedded data folder (recipes/generate_data.py).")
    parser.add_argument("--steps", type=int, default=8, help="Optimizer steps per round.")
    parser.add_argument("--worker", choices=SIDES, default=None, help=argparse.SUPPRESS)
    if "--worker" in sys.argv:
        parser.add_argument("--threads", type=int, default=2)
        worker(parser.parse_args())
    else:
        bench_main(parser, run)


if __name__ == "__main__":
    main()
