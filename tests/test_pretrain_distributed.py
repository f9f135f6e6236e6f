"""Two-process CPU runs of recipes/pretrain.py through accelerate: DDP, FSDP and DeepSpeed ZeRO-1/2/3.

`accelerate launch --cpu --num_processes 2` silently runs one process, so DDP goes through the
multi-GPU (and FSDP) config with ACCELERATE_USE_CPU=true, DeepSpeed through the gloo backend, and every test
checks the world size the recipe saw.
"""

import importlib.util
import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from pretrain_setup import ROOT, recipe_args, write_corpus, write_model
from safetensors.torch import load_file

needs_deepspeed = pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None, reason="deepspeed not installed")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("distributed")
    return write_model(folder / "model"), write_corpus(folder / "corpus.jsonl"), folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(setup, config: str) -> tuple[dict, object]:
    model, corpus, folder = setup
    out = folder / config
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    extra = ["--max_steps", "4", "--save_strategy", "no"]
    if config in ("multi_gpu", "fsdp"):
        env["ACCELERATE_USE_CPU"] = "true"
    else:
        extra += ["--ddp_backend", "gloo", "--use_cpu", "false"]
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / f"accelerate_configs/{config}.yaml"),
        "--num_processes", "2", "--mixed_precision", "no", "--main_process_port", str(free_port()),
        str(ROOT / "recipes/pretrain.py"), *recipe_args(model, corpus, out, *extra),
    ]  # fmt: skip
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
