"""PPO step time: this project's trainer vs TRL 1.12's experimental PPOTrainer, same tiny models and prompts.

    python benchmarks/ppo_step_time.py [--steps 6] [--response_length 32]

TRL removed PPOTrainer in 1.13, so TRL 1.12 is installed into a throw-away virtualenv (with this
machine's other packages visible) the first time this runs. Each implementation runs in its own fresh
process on identical models (policy, reference, value, reward: the tiny preset, random weights,
neutral sampling settings), 8 prompts per step, 2 mini-batches of 4, 1 PPO epoch, responses of exactly
`response_length` tokens (EOS disabled, so both generate the same number of tokens). Prints seconds
per step, their ratio, the passes each does per step, and peak resident memory of each process.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(tempfile.gettempdir()) / "xuanyuan-trl112-venv"
ROLLOUT, MINI_BATCH = 8, 4
# Forward (F) and backward (B) passes per PPO step over the rollout batch, by reading each trainer:
PASSES = {
    "ours": "generate + 4 F (actor log-probs, reference, critic, RM) + per mini-batch: 2 F + 2 B (actor, critic)",
    "trl112": "generate (log-probs from its logits) + 3 F (reference, value, RM) + per mini-batch: 1 F + 1 B "
    "(policy and value wrapped in one module, one optimizer)",
}


def prepare(workdir: Path) -> None:
    """Tiny random models + prompts shared by both runs."""
    import torch
    from transformers import GenerationConfig

    sys.path.insert(0, str(ROOT))
    from xuanyuan import XuanYuanConfig, XuanYuanForCausalLM, XuanYuanForSequenceClassification
    from xuanyuan.tokenization import load_tokenizer

    tokenizer = load_tokenizer()
    torch.manual_seed(0)
    config = XuanYuanConfig.from_preset("tiny", pad_token_id=0, bos_token_id=1, eos_token_id=2)
    policy = XuanYuanForCausalLM(config)
    policy.generation_config = GenerationConfig(pad_token_id=0, bos_token_id=1, eos_token_id=2)
    policy.save_pretrained(workdir / "policy")
    tokenizer.save_pretrained(workdir / "policy")
    reward = XuanYuanForSequenceClassification(XuanYuanConfig.from_preset("tiny", num_labels=1, pad_token_id=0))
    reward.save_pretrained(workdir / "reward")
    prompts = [f"请介绍第{i}家上市公司的主营业务与2023年的营业收入。" for i in range(ROLLOUT * 4)]
    (workdir / "prompts.json").write_text(json.dumps(prompts, ensure_ascii=False), encoding="utf-8")


def run_ours(workdir: Path, steps: int, response_length: int) -> float:
    sys.path.insert(0, str(ROOT))
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    from xuanyuan.training.ppo import PPOConfig, PPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(workdir / "policy")
    prompts = json.loads((workdir / "prompts.json").read_text(encoding="utf-8"))
    prompt_ids = [tokenizer(p)["input_ids"] for p in prompts]
    config = PPOConfig(
        output_dir=str(workdir / "ours"),
        rollout_batch_size=ROLLOUT,
        mini_batch_size=MINI_BATCH,
        max_new_tokens=response_length,
        temperature=0.7,
        top_k=0,
        top_p=1.0,
        max_steps=steps,
        save_steps=10**9,
        use_cpu=True,
        report_to=[],
    )
    trainer = PPOTrainer(
        config,
        AutoModelForCausalLM.from_pretrained(workdir / "policy"),
        AutoModelForSequenceClassification.from_pretrained(workdir / "reward"),
        AutoModelForSequenceClassification.from_pretrained(workdir / "reward"),
        tokenizer,
        prompt_ids,
        reference=AutoModelForCausalLM.from_pretrained(workdir / "policy"),
    )
    trainer.eos_token_id = -1  # never stop early: both implementations generate exactly response_length tokens
    history = trainer.train()
    return sum(row["time/step_seconds"] for row in history) / steps  # the loop alone, not the final checkpoint


def run_trl112(workdir: Path, steps: int, response_length: int) -> float:
    import trl
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    sys.path.insert(0, str(ROOT))
    import xuanyuan  # noqa: F401  (registers the Auto classes)

    assert trl.__version__ == "1.12.0", trl.__version__
    tokenizer = AutoTokenizer.from_pretrained(workdir / "policy")
    tokenizer.padding_side = "left"
    prompts = json.loads((workdir / "prompts.json").read_text(encoding="utf-8"))
    dataset = Dataset.from_dict({"input_ids": [tokenizer(p)["input_ids"] for p in prompts]})
    args = PPOConfig(
        output_dir=str(workdir / "trl112"),
        per_device_train_batch_size=MINI_BATCH,
        num_mini_batches=ROLLOUT // MINI_BATCH,
        gradient_accumulation_steps=1,
        num_ppo_epochs=1,
        total_episodes=ROLLOUT * steps,
        local_rollout_forward_batch_size=ROLLOUT,
        response_length=response_length,
        temperature=0.7,
        stop_token_id=None,
        num_sample_generations=0,
        use_cpu=True,
        bf16=False,
        report_to=[],
        save_strategy="no",
        logging_steps=10**9,
    )
    trainer = PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=AutoModelForCausalLM.from_pretrained(workdir / "policy"),
        ref_model=AutoModelForCausalLM.from_pretrained(workdir / "policy"),
        reward_model=AutoModelForSequenceClassification.from_pretrained(workdir / "reward"),
        value_model=AutoModelForSequenceClassification.from_pretrained(workdir / "reward"),
        train_dataset=dataset,
    )
    started = time.perf_counter()
    trainer.train()
    return (time.perf_counter() - started) / steps


def ensure_trl112_venv() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "trl==1.12.0"], check=True)
    return python


def child(implementation: str, workdir: Path, steps: int, response_length: int) -> None:
    import torch

    torch.manual_seed(0)
    runner = run_ours if implementation == "ours" else run_trl112
    seconds = runner(workdir, steps, response_length)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds_per_step": seconds, "peak_rss_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--response_length", type=int, default=32)
    parser.add_argument("--child", choices=["ours", "trl112"])
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.workdir, args.steps, args.response_length)
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        prepare(workdir)
        interpreters = {"ours": sys.executable, "trl112": str(ensure_trl112_venv())}
        results = {}
        for implementation, python in interpreters.items():
            command = [python, __file__, "--child", implementation, "--workdir", str(workdir)]
            command += ["--steps", str(args.steps), "--response_length", str(args.response_length)]
            output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=workdir).stdout
            results[implementation] = json.loads(output.strip().splitlines()[-1])
    ratio = results["ours"]["seconds_per_step"] / results["trl112"]["seconds_per_step"]
    print(f"PPO step, tiny preset, {ROLLOUT} prompts x {args.response_length} tokens, {args.steps} steps, CPU")
    print("| trainer | s/step | peak RSS (MB) | passes per step |\n|---|---|---|---|")
    for name, row in results.items():
        print(f"| {name} | {row['seconds_per_step']:.2f} | {row['peak_rss_mb']:.0f} | {PASSES[name]} |")
    print(f"ratio ours / TRL 1.12 = {ratio:.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
