"""Two-process CPU runs of recipes/pretrain.py through accelerate: DDP, FSDP and DeepSpeed ZeRO-1/2/3
(how, and why not `--cpu`: see distributed_launch.py)."""

import json
import os
import subprocess

import pytest
import torch
from distributed_launch import accelerate_launch, needs_deepspeed
from pretrain_setup import ROOT, recipe_args, write_corpus, write_model
from safetensors.torch import load_file


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("distributed")
    return write_model(folder / "model"), write_corpus(folder / "corpus.jsonl"), folder


def launch(setup, config: str) -> tuple[dict, object]:
    model, corpus, folder = setup
    out = folder / config
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    extra = ["--max_steps", "4", "--save_strategy", "no", "--bf16", "false"]
    if config in ("multi_gpu", "fsdp"):
        env["ACCELERATE_USE_CPU"] = "true"
    else:
        extra += ["--ddp_backend", "gloo", "--use_cpu", "false"]
    command = accelerate_launch(config, ROOT / "recipes/pretrain.py") + recipe_args(model, corpus, out, *extra)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads((out / "pretrain_metrics.json").read_text()), out


@pytest.fixture(scope="module")
def ddp(setup):
    return launch(setup, "multi_gpu")


def test_ddp_two_processes(ddp):
    metrics, out = ddp
    assert metrics["world_size"] == 2
    # each step consumed one batch per process: 4 steps x 2 processes x 128-token batches
    assert metrics["token_slots_seen"] == 4 * 2 * 128
    assert (out / "model.safetensors").exists()


@pytest.mark.parametrize(
    "config", ["fsdp", *(pytest.param(f"zero{stage}", marks=needs_deepspeed) for stage in (1, 2, 3))]
)
def test_sharded_runs_match_ddp(setup, ddp, config):
    metrics, out = launch(setup, config)
    assert metrics["world_size"] == 2
    assert metrics["final_train_loss"] == pytest.approx(ddp[0]["final_train_loss"], rel=1e-4)
    assert metrics["mixture"] == ddp[0]["mixture"]
    weights, reference = load_file(out / "model.safetensors"), load_file(ddp[1] / "model.safetensors")
    assert weights.keys() == reference.keys()  # ZeRO-3 / FSDP gathered the full weights on save
    for name, tensor in reference.items():
        torch.testing.assert_close(weights[name], tensor, atol=1e-4, rtol=1e-3)
