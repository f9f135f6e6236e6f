"""A finished distributed recipe process runs its exit handlers and leaves with status 0, skipping the interpreter's
teardown (where DeepSpeed-held process groups once aborted a finished run); outside a distributed world it returns."""

import os
import subprocess
import sys
import textwrap

from distributed_launch import ROOT, torchrun

WORKER = """
import atexit, os, sys
from pathlib import Path

import torch
import torch.distributed as dist

from xuanyuan.utils.distributed_exit import exit_finished_process

folder, rank = Path(sys.argv[1]), os.environ["RANK"]


class Teardown:
    def __del__(self):  # runs only if the interpreter tears its objects down
        (folder / f"teardown_{rank}").write_text("ran")


kept_until_teardown = Teardown()
dist.init_process_group("gloo")
total = torch.ones(1)
dist.all_reduce(total)
atexit.register(lambda: (folder / f"atexit_{rank}").write_text(str(int(total.item()))))
print(f"rank {rank} done", end="")  # no newline: only an explicit flush gets it out
exit_finished_process()
(folder / f"after_{rank}").write_text("reached")
"""


def test_outside_a_distributed_world_it_returns(tmp_path):
    log = tmp_path / "log"
    script = f"""
import atexit
from xuanyuan.utils.distributed_exit import exit_finished_process
atexit.register(lambda: open({str(log)!r}, "a").write("atexit;"))
exit_finished_process()
open({str(log)!r}, "a").write("returned;")
"""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert log.read_text() == "returned;atexit;"  # went on, and the handlers ran once, at the normal exit


def test_finished_ranks_run_exit_handlers_and_skip_teardown(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run(torchrun(script) + [str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for rank in ("0", "1"):
        assert (tmp_path / f"atexit_{rank}").read_text() == "2"  # the handler ran, after the all-reduce of 1 + 1
        assert not (tmp_path / f"after_{rank}").exists()  # the process left at the call
        assert not (tmp_path / f"teardown_{rank}").exists()  # the interpreter's object teardown was skipped
        assert f"rank {rank} done" in result.stdout
    assert "terminate called" not in result.stderr
