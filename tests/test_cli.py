"""The recipes' shared parser: short fast `--help`, YAML checked up front with file and key named."""

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from xuanyuan.cli import ConfigError, check_config, check_model_paths, parse_recipe_args, read_config

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = sorted(
    str(path.relative_to(ROOT))
    for folder in ("recipes", "eval", "quantize")
    for path in (ROOT / folder).glob("*.py")
    if path.name not in ("run_pipeline.py", "pipeline_state.py", "stage_runner.py")  # the runner and its modules
)


@dataclass
class Settings:
    output_dir: str = field(metadata={"help": "Where results go."})
    tasks: int = 2
    rate: float = 0.5
    names: list[str] = field(default_factory=list)
    mode: str | None = None
    fast: bool = False


def test_wrong_types_and_unknown_keys_name_the_file_and_key():
    with pytest.raises(ConfigError) as error:
        check_config({"tasks": 2.5, "rate": "x", "nmes": ["a"], "fast": "yes"}, [Settings], "cfg/data.yaml")
    message = str(error.value)
    assert message.startswith("cfg/data.yaml: ")
    assert "key 'tasks' must be int, got 2.5 (float)" in message
    assert "key 'rate' must be float" in message and "key 'fast' must be bool" in message
    assert "unknown key 'nmes' (did you mean 'names'?)" in message


def test_well_typed_config_passes_and_ints_count_as_floats():
    check_config({"tasks": 3, "rate": 1, "names": ["a", "b"], "mode": None, "fast": True, "env": {}}, [Settings], "x")


def test_yaml_values_reach_the_dataclass_and_the_command_line_wins(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_bytes("\ufefftasks: 4\r\nnames: [a, b]\r\noutput_dir: out\r\n".encode())  # BOM and CRLF
    (settings,) = parse_recipe_args([Settings], argv=["--config", str(config), "--rate", "0.25"])
    assert (settings.tasks, settings.names, settings.rate, settings.output_dir) == (4, ["a", "b"], 0.25, "out")


def test_bad_yaml_exits_with_a_named_error(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("output_dir: out\ntasks: 2.5\n")
    with pytest.raises(SystemExit, match=r"c\.yaml: key 'tasks' must be int, got 2\.5"):
        parse_recipe_args([Settings], argv=["--config", str(config)])
    config.write_bytes(b"output_dir: \xff\xfe out\n")
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        read_config(str(config))
    with pytest.raises(ConfigError, match="config file not found"):
        read_config(str(tmp_path / "none.yaml"))


# Modules `--help` must not load: it answers in well under a second.
NOT_FOR_HELP = ("torch", "transformers", "datasets", "peft", "trl.trainer")


@pytest.mark.slow
def test_every_entry_point_has_a_short_help_showing_config():
    """`--help` lists the recipe's own options and --config, without loading the training stack; the
    TrainingArguments flood is behind --help-all."""
    for script in ENTRY_POINTS:
        code = (
            f"import os, runpy, sys\nsys.argv = [{script!r}, '--help']\n"
            f"sys.path.insert(0, os.path.dirname({script!r}))\n"  # as `python script.py` does: siblings import
            f"try:\n    runpy.run_path({script!r}, run_name='__main__')\n"
            f"finally:\n    print('LOADED', [m for m in {NOT_FOR_HELP!r} if m in sys.modules])"
        )
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (script, result.stderr[-2000:])
        lines = result.stdout.splitlines()
        assert "--config FILE.yaml" in result.stdout and len(lines) < 150, (script, len(lines))
        assert "--learning_rate" not in result.stdout or script.startswith("recipes/ppo"), script
        assert lines[-1] == "LOADED []", (script, lines[-1])


def test_recipe_help_does_not_import_the_training_stack():
    code = (
        "import sys, runpy; sys.argv = ['recipes/sft.py', '--help']\n"
        "try:\n    runpy.run_path('recipes/sft.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in ('trl.trainer.sft_trainer', 'datasets', 'peft') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "train_files" in result.stdout and "XuanYuanSFTConfig" in result.stdout
    assert "LOADED []" in result.stdout, result.stdout[-500:]


@pytest.mark.parametrize(
    ("script", "config", "library"),
    [
        ("recipes/pretrain.py", "pretrain.yaml", ["xuanyuan.training.pretrain:PretrainConfig", "trl:ModelConfig"]),
        ("recipes/sft.py", "sft.yaml", ["xuanyuan.training:XuanYuanSFTConfig", "trl:ModelConfig"]),
        ("recipes/sft.py", "self_qa_generator.yaml", ["xuanyuan.training:XuanYuanSFTConfig", "trl:ModelConfig"]),
        ("recipes/reward.py", "reward.yaml", ["xuanyuan.training.reward:XuanYuanRewardConfig", "trl:ModelConfig"]),
        ("recipes/ppo.py", "ppo.yaml", ["xuanyuan.training.ppo:PPOConfig", "trl:ModelConfig"]),
    ],
)
def test_tiny_training_configs_parse_and_resolve_precision(script, config, library, tmp_path):
    from script_loading import load_script

    recipe = load_script(script)
    own = [cls for name, cls in vars(recipe).items() if name.endswith("ScriptArguments") and name != "ScriptArguments"]
    # stage YAMLs hold no paths (pipeline.yaml chains the stages): give the ones each recipe requires
    paths = {
        "pretrain.yaml": ["--model_name_or_path", str(tmp_path), "--data_files", "corpus.jsonl"],
        "sft.yaml": ["--model_name_or_path", str(tmp_path), "--train_files", "sft.jsonl"],
        "self_qa_generator.yaml": ["--model_name_or_path", str(tmp_path), "--train_files", "self_qa.jsonl"],
        "reward.yaml": ["--model_name_or_path", str(tmp_path), "--data_files", "pairs.jsonl"],
        "ppo.yaml": ["--sft_model", str(tmp_path), "--reward_model", str(tmp_path), "--output_dir", str(tmp_path)],
    }[config]
    parsed = parse_recipe_args(own, library, argv=["--config", str(ROOT / "recipes/tiny" / config), *paths])
    training = parsed[len(own)]
    assert training.bf16 in (True, False)  # 'auto' resolved for this machine


def test_a_missing_model_folder_is_named_with_the_stage_that_makes_it(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "recipes/sft.py"),
            "--config",
            str(ROOT / "recipes/tiny/sft.yaml"),
            "--model_name_or_path",
            "outputs/tiny/pretrain",
            "--train_files",
            "data/sft/train.jsonl",
        ],  # fmt: skip
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode != 0
    message = run.stderr.strip().splitlines()[-1]
    assert message == (
        "error: --model_name_or_path outputs/tiny/pretrain: no such model folder; a pipeline stage makes it: "
        "python recipes/run_pipeline.py --config recipes/tiny/pipeline.yaml (stage pretrain)"
    )
    assert "Repo id" not in run.stderr


def test_a_model_behind_a_server_is_not_checked_as_a_folder(tmp_path):
    @dataclass
    class Models:
        model: str
        judge_model: str = ""

    check_model_paths([Models("openai:outputs/tiny/ppo@http://127.0.0.1:8000/v1", "openai:/no/such@https://h/v1")])
    with pytest.raises(ConfigError, match=r"--judge_model /no/such: no such model folder"):
        check_model_paths([Models(str(tmp_path), "/no/such")])
