"""Running a driver's stages through `run_pipeline.py`: a recipe of recipes (`pei_rlhf.py`, `raft.py`) writes its
stages as a pipeline YAML and lets the runner log them, report them and, on a rerun, skip those already finished.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run_stages(folder: Path, stages: list[dict], seed: int) -> None:
    """Run `stages` (name, command, metrics) as a pipeline in `folder` through recipes/run_pipeline.py, which
    logs each stage, reports it, and on a rerun skips the stages that already finished."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "pipeline.yaml"
    config.write_text(yaml.safe_dump({"output_dir": str(folder), "seed": seed, "stages": stages}), encoding="utf-8")
    command = [sys.executable, str(ROOT / "recipes/run_pipeline.py"), "--config", str(config)]
    subprocess.run(command, check=True)  # in the caller's folder: relative paths mean what they meant to the user


def python(script: str, *argv: str) -> str:
    """A stage command running one of this repository's scripts, from whatever folder the driver runs in."""
    return shlex.join(["python", str(ROOT / script), *argv])
