"""Every tiny stage YAML runs on its own from a clean directory (one step where it trains), with inputs made
there by the recipes that make them: no file of the main job's outputs/ folder is needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from xuanyuan.data.processing.kenlm_tools import find_kenlm_tool

ROOT = Path(__file__).resolve().parents[1]
ONE_STEP = ("--max_steps", "1", "--report_to", "none")


def config(name: str) -> str:
    return str(ROOT / "recipes" / "tiny" / f"{name}.yaml")


def run(cwd: Path, script: str, name: str, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / script), "--config", config(name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, (script, result.stderr[-3000:])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("standalone")
    run(directory, "recipes/generate_data.py", "embedded_data", "--output_dir", "data")
    return directory


@pytest.fixture(scope="module")
def clean(workdir) -> Path:
    run(workdir, "recipes/process_data.py", "data", "--input", "data/pretrain/raw.jsonl", "--output_dir", "clean")
    return workdir / "clean"


@pytest.fixture(scope="module")
def initial(workdir) -> Path:
    corpus = ("data/pretrain/raw.jsonl", "data/sft/train.jsonl")  # as the main job: then chat turns are short
    run(workdir, "recipes/train_tokenizer.py", "tokenizer", "--data_files", *corpus, "--output_dir", "tok")
    run(workdir, "recipes/create_model.py", "model", "--tokenizer", "tok", "--output_dir", "init")
    return workdir / "init"


@pytest.fixture(scope="module")
def pretrained(workdir, clean, initial) -> Path:
    args = ("--model_name_or_path", "init", "--data_files", "clean/data/*.jsonl.gz", "--output_dir", "pretrain")
    run(workdir, "recipes/pretrain.py", "pretrain", *args, *ONE_STEP)
    return workdir / "pretrain"


@pytest.fixture(scope="module")
def sft(workdir, pretrained) -> Path:
    args = (
        "--model_name_or_path", "pretrain", "--output_dir", "sft", "--train_files", "data/sft/train.jsonl",
        "--eval_files", "data/sft/test.jsonl", "--pretrain_files", "clean/data/*.jsonl.gz",
        "--pretrain_eval_files", "data/pretrain/heldout.jsonl",
    )  # fmt: skip
    run(workdir, "recipes/sft.py", "sft", *args, *ONE_STEP)
    return workdir / "sft"


@pytest.fixture(scope="module")
def reward(workdir, sft) -> Path:
    data = ("data/preference/pairs.jsonl", "data/preference/ranked.jsonl")
    run(workdir, "recipes/reward.py", "reward", "--model_name_or_path", "sft", "--data_files", *data,
        "--output_dir", "reward", *ONE_STEP)  # fmt: skip
    return workdir / "reward"


def test_data_pipeline_runs_alone_with_the_shipped_keyword_list(clean):
    stages = {stage["stage"]: stage for stage in json.loads((clean / "stats.json").read_text())["stages"]}
    assert stages["keyword_filter"]["removed"]["bad_keyword"]["docs"] > 0  # the planted spam goes
    assert any((clean / "data").glob("*.jsonl.gz"))


def test_tokenizer_and_model_creation_run_alone(initial):
    assert (initial / "model.safetensors").exists() and (initial / "tokenizer.json").exists()


def test_pretraining_runs_alone_for_a_step(pretrained):
    assert json.loads((pretrained / "pretrain_metrics.json").read_text())["global_step"] == 1


def test_sft_runs_alone_for_a_step(sft):
    assert json.loads((sft / "sft_metrics.json").read_text())["train_steps"] == 1


def test_reward_runs_alone_for_a_step(reward):
    assert (reward / "model.safetensors").exists() and (reward / "rm_report.json").exists()


def test_ppo_runs_alone_for_a_step(workdir, sft, reward):
    args = ("--sft_model", "sft", "--reward_model", "reward", "--prompt_files", "data/rl/prompts.jsonl")
    run(workdir, "recipes/ppo.py", "ppo", *args, "--output_dir", "ppo", "--max_steps", "1")
    assert (workdir / "ppo" / "model.safetensors").exists()


@pytest.mark.skipif(find_kenlm_tool("lmplz") is None, reason="KenLM's lmplz is not built (scripts/build_kenlm.sh)")
def test_kenlm_runs_alone(workdir):
    args = ("--reference", "data/pretrain/raw.jsonl", "--threshold_data", "data/pretrain/heldout.jsonl")
    run(workdir, "recipes/train_kenlm.py", "kenlm", *args, "--output_dir", "kenlm")
    assert (workdir / "kenlm" / "thresholds.json").exists()


def test_pei_runs_an_iteration_through_the_pipeline_runner(workdir, sft, reward):
    data = ("--data_files", "data/preference/pairs.jsonl", "data/preference/ranked.jsonl")
    result = subprocess.run(
        [sys.executable, str(ROOT / "eval/reward.py"), "--model", "reward", *data, "--output_dir", "rm_eval"],
        cwd=workdir, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    pei = [
        "--output_dir", "pei", "--sft_model", "sft", "--reward_model", "reward",
        "--reward_report", "rm_eval/reward_eval.json", "--prompt_files", "data/rl/prompts.jsonl",
        "--eval_files", "data/sft/test.jsonl", "--max_iterations", "1", "--prompts_per_iteration", "16",
        "--eval_max_examples", "4", "--eval_max_new_tokens", "8", "--ppo_overrides", "--max_steps 1",
    ]  # fmt: skip
    result = subprocess.run(
        [sys.executable, str(ROOT / "recipes/pei_rlhf.py"), *pei], cwd=workdir, capture_output=True, text=True,
        timeout=1200,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    history = json.loads((workdir / "pei" / "pei_history.json").read_text())
    assert [row["iteration"] for row in history] == [1] and history[0]["stop"]  # one iteration allowed: it stops
    state = json.loads((workdir / "pei" / "iteration-1" / "pipeline_state.json").read_text())
    assert {"ppo", "answers", "compare"} <= set(state["stages"])
