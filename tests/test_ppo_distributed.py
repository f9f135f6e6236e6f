"""recipes/ppo.py in a real 2-process world on CPU: DDP (torchrun) and DeepSpeed ZeRO-1/2/3 through
`accelerate_configs/` (gloo backend), each a 2-step run on tiny models. Each run must see world size 2,
train actor and critic, leave reference and reward model untouched (under ZeRO-3 partitioned like the
trained ones), write a loadable actor, and log the same step-1 numbers as DDP: DeepSpeed changes where
the weights live, not the math."""

import json
import os
import subprocess

import pytest
import torch
from distributed_launch import ROOT, accelerate_launch, needs_deepspeed, torchrun
from ppo_toy import save_toy_run_inputs
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

import xuanyuan  # noqa: F401  (registers the XuanYuan classes with the Auto* factories)
from xuanyuan.training.ppo import PPOConfig
from xuanyuan.training.ppo.distributed import make_accelerator

HELPER = ROOT / "tests" / "ppo_launch_helper.py"
RUN = ["--rollout_batch_size", "4", "--mini_batch_size", "2", "--max_new_tokens", "4", "--system_prompt", ""]
RUN += ["--learning_rate", "1e-3", "--critic_learning_rate", "1e-3", "--max_steps", "2", "--save_steps", "1"]
RUN += ["--lr_scheduler_type", "linear", "--warmup_steps", "1"]  # step 1 at learning rate 0, step 2 at the peak
MODELS = ("actor", "critic", "reference", "reward")
STEP_ONE = ("reward/score", "kl/ref", "loss/actor", "loss/critic", "policy/entropy", "value/mean", "return/mean")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ppo_distributed")
    return folder, save_toy_run_inputs(folder)


def launch(inputs, config: str, *extra: str, name: str | None = None):
    folder, recipe_args = inputs
    out = folder / (name or config)
    if config == "ddp":
        command = torchrun(HELPER) + ["--use_cpu", "true"]
    else:
        command = accelerate_launch(config, HELPER) + ["--use_cpu", "false", "--ddp_backend", "gloo"]
    command += [*recipe_args, *RUN, "--output_dir", str(out), *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def history(out) -> list[dict]:
    return [json.loads(line) for line in (out / "ppo_metrics.jsonl").read_text().splitlines()]


def check_run(folder, out, zero_stage):
    """World size, trained vs frozen models (against the files they were loaded from), the saved actor."""
    summary = json.loads((out / "ppo_summary.json").read_text())
    assert (summary["world_size"], summary["steps"], summary["zero_stage"]) == (2, 2, zero_stage)
    final = {name: load_file(out / "final_weights" / f"{name}.safetensors") for name in MODELS}
    sft, rm = load_file(folder / "sft" / "model.safetensors"), load_file(folder / "rm" / "model.safetensors")

    def same(weights, start):
        return all(torch.equal(weights[name], tensor) for name, tensor in start.items())

    assert same(final["reference"], sft) and same(final["reward"], rm)
    assert not same(final["actor"], sft) and not same(final["critic"], rm)
    saved = AutoModelForCausalLM.from_pretrained(out)  # gathered from the shards under ZeRO-3
    for name, tensor in saved.state_dict().items():
        torch.testing.assert_close(tensor, final["actor"][name])
    for step in (1, 2):
        assert (out / f"checkpoint-{step}" / "actor" / "model.safetensors").exists()
    # the schedule drives every optimizer, DeepSpeed's included: the step at learning rate 0 changed nothing
    assert same(load_file(out / "checkpoint-1" / "actor" / "model.safetensors"), sft)
    return json.loads((out / "final_weights" / "local_share.json").read_text())


@pytest.fixture(scope="module")
def runs(inputs):
    """Each configuration launched once per module: `runs("zero3")` is the output folder."""
    done = {}

    def run(config: str):
        if config not in done:
            done[config] = launch(inputs, config)
        return done[config]

    return run


@pytest.fixture(scope="module")
def ddp(runs):
    return runs("ddp")


def test_ddp_two_processes(inputs, ddp):
    shares = check_run(inputs[0], ddp, zero_stage=None)
    assert set(shares.values()) == {1.0}


@needs_deepspeed
@pytest.mark.parametrize("stage", [1, 2, 3])
def test_deepspeed_zero_matches_ddp(inputs, runs, ddp, stage):
    out = runs(f"zero{stage}")
    shares = check_run(inputs[0], out, zero_stage=stage)
    if stage == 3:  # every model, frozen ones included, holds about half its weights on each of 2 processes
        assert all(0.4 < share < 0.6 for share in shares.values()), shares
    else:
        assert set(shares.values()) == {1.0}
    first, reference = history(out)[0], history(ddp)[0]
    for key in STEP_ONE:
        assert first[key] == pytest.approx(reference[key], rel=1e-4, abs=1e-6), key


@needs_deepspeed
def test_zero3_resume_reproduces_the_uninterrupted_run(inputs, runs):
    """Resume the ZeRO-3 run from its step-1 checkpoint (engines, both optimizers, RNG): step 2 and all
    four final models equal those of the run that never stopped."""
    straight = runs("zero3")
    resumed = launch(inputs, "zero3", "--resume_from_checkpoint", str(straight / "checkpoint-1"), name="resumed")
    assert [row["step"] for row in history(resumed)] == [2]
    for key, value in history(resumed)[0].items():
        if not key.startswith("time/"):
            assert value == pytest.approx(history(straight)[1][key], rel=1e-5, abs=1e-7), key
    for name in MODELS:
        weights = load_file(resumed / "final_weights" / f"{name}.safetensors")
        for key, tensor in load_file(straight / "final_weights" / f"{name}.safetensors").items():
            torch.testing.assert_close(weights[key], tensor, rtol=1e-5, atol=1e-6)


def test_deepspeed_launch_with_use_cpu_is_refused(monkeypatch, tmp_path):
    """accelerate drops DeepSpeed silently when asked for the CPU; the trainer says so instead."""
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    with pytest.raises(ValueError, match="--use_cpu false --ddp_backend gloo"):
        make_accelerator(PPOConfig(output_dir=str(tmp_path), use_cpu=True))
