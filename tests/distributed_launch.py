"""Launching a recipe as a real 2-process world on CPU, shared by the distributed tests.

`accelerate launch --cpu --num_processes 2` silently runs one process (README, "two traps"), so DDP goes through
torchrun or the multi-GPU config with ACCELERATE_USE_CPU=true, DeepSpeed through the gloo backend; every
test checks the world size the recipe saw.
"""

import importlib.util
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
needs_deepspeed = pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None, reason="deepspeed not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accelerate_launch(config: str, script: Path, num_processes: int = 2) -> list[str]:
    """`accelerate launch` of `script` with `accelerate_configs/<config>.yaml`, in fp32, on a free port."""
    return [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / f"accelerate_configs/{config}.yaml"),
        "--num_processes", str(num_processes), "--mixed_precision", "no", "--main_process_port", str(free_port()),
        str(script),
    ]  # fmt: skip


def torchrun(script: Path, num_processes: int = 2) -> list[str]:
    return [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(num_processes),
        "--master_port", str(free_port()), str(script),
    ]  # fmt: skip
