"""The main-job runner: stages run in order, metrics are collected, a failure stops the run."""

import json
import os
import pty
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from script_loading import REPO, load_script

RUNNER = REPO / "recipes" / "run_pipeline.py"

WRITE_METRICS = "import json, pathlib, sys; p = pathlib.Path(sys.argv[1]); p.parent.mkdir(parents=True, exist_ok=True); p.write_text(json.dumps({'score': float(sys.argv[2]), 'n': 3, 'counts': {'docs': 7}}))"  # noqa: E501


def run(config: dict, tmp_path: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    command = [sys.executable, str(RUNNER), "--config", str(path), *extra]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env)


def stage(name: str, score: float | str, summary=("score",)) -> dict:
    return {
        "name": name,
        "description": f"stage {name}",
        "command": f'python -c "{WRITE_METRICS}" {{output_dir}}/{name}/m.json {score}',
        "metrics": f"{{output_dir}}/{name}/m.json",
        "summary": list(summary),
    }


def test_stages_run_in_order_and_report_collects_metrics(tmp_path):
    out = tmp_path / "out"
    second = stage("second", 0.5, summary=("score", "counts.docs", "counts.missing"))
    result = run({"output_dir": str(out), "stages": [stage("first", 0.25), second]}, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert list(report["stages"]) == ["first", "second"]
    assert report["stages"]["second"]["metrics"] == {"score": 0.5, "n": 3, "counts": {"docs": 7}}
    table = (out / "report.md").read_text()
    assert "| first | stage first |" in table and "score=0.25" in table and "score=0.5, docs=7" in table
    assert "missing" not in table
    assert (out / "logs" / "second.log").exists()


def test_each_stage_reports_the_peak_memory_of_its_process(tmp_path):
    out = tmp_path / "out"
    small = stage("small", 0.1)
    big = stage("big", 0.2)  # holds 300 MiB of touched memory before it writes its metrics
    big["command"] = big["command"].replace('python -c "', 'python -c "b = bytearray(300 * 2**20); ')
    result = run({"output_dir": str(out), "stages": [small, big]}, tmp_path)
    assert result.returncode == 0, result.stderr
    stages = json.loads((out / "report.json").read_text())["stages"]
    assert 0 < stages["small"]["peak_rss_mib"] < 200 and stages["big"]["peak_rss_mib"] >= 300
    assert f"| {stages['big']['peak_rss_mib']:.0f} |" in (out / "report.md").read_text()


def test_seed_replaces_its_placeholder_and_the_report_states_it(tmp_path):
    out = tmp_path / "out"
    config = {"output_dir": str(out), "seed": 3, "stages": [stage("seeded", "{seed}")]}
    assert run(config, tmp_path).returncode == 0
    report = json.loads((out / "report.json").read_text())
    assert (report["seed"], report["stages"]["seeded"]["metrics"]["score"]) == (3, 3.0)
    assert "Training seed 3." in (out / "report.md").read_text()
    result = run(config, tmp_path, "--seed", "7")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert (report["seed"], report["stages"]["seeded"]["metrics"]["score"]) == (7, 7.0)
    assert not report["stages"]["seeded"]["reused"]  # another seed is another command


def test_failing_stage_stops_the_run_and_names_itself(tmp_path):
    out = tmp_path / "out"
    failing = {"name": "boom", "command": 'python -c "import sys; print(42); sys.exit(3)"'}
    result = run({"output_dir": str(out), "stages": [stage("first", 1.0), failing, stage("never", 2.0)]}, tmp_path)
    assert result.returncode != 0
    assert "stage 'boom' failed (exit 3)" in result.stderr
    assert (out / "logs" / "boom.log").read_text().strip() == "42"
    assert not (out / "never").exists()
    assert list(json.loads((out / "report.json").read_text())["stages"]) == ["first"]


def test_only_selects_stages_and_rejects_unknown_names(tmp_path):
    config = {"output_dir": str(tmp_path / "out"), "stages": [stage("a", 1.0), stage("b", 2.0)]}
    assert run(config, tmp_path, "--only", "b").returncode == 0
    assert not (tmp_path / "out" / "a").exists() and (tmp_path / "out" / "b" / "m.json").exists()
    bad = run(config, tmp_path, "--only", "c")
    assert bad.returncode != 0 and "unknown stage(s) ['c']" in bad.stderr


# A stage that appends its name to the file $FAKE_COUNTER (to count executions), adds its config's `value` to its
# inputs' values and writes the sum to {output_dir}/m.json; options make it noisy, slow, failing or hanging.
FAKE_STAGE = """
import argparse, json, os, pathlib, sys, time
parser = argparse.ArgumentParser()
for option in ("--name", "--output_dir", "--config", "--hang", "--fail_unless"):
    parser.add_argument(option)
parser.add_argument("--inputs", nargs="*", default=[])
parser.add_argument("--noise", type=int, default=0)
parser.add_argument("--progress", action="store_true")
parser.add_argument("--image", action="store_true")
args = parser.parse_args()
with open(os.environ["FAKE_COUNTER"], "a") as counter:
    counter.write(args.name + "\\n")
for i in range(args.noise):
    print(f"noise {i}")
if args.hang and not os.path.exists(args.hang):
    pathlib.Path(args.hang).write_text(str(os.getpid()))
    time.sleep(300)
if args.fail_unless and not os.path.exists(args.fail_unless):
    sys.exit(3)
if args.progress:
    print(" 50%|#####     | 5/10 [00:01<00:01,  5.00it/s]", file=sys.stderr, end="\\r", flush=True)
    time.sleep(2)
value = json.loads(pathlib.Path(args.config).read_text())["value"] if args.config else 1
value += sum(json.loads((pathlib.Path(path) / "m.json").read_text())["value"] for path in args.inputs)
out = pathlib.Path(args.output_dir)
out.mkdir(parents=True, exist_ok=True)
if args.image:
    (out / "plot.png").write_bytes(b"png")
    (out / "notes.md").write_text("| funnel | [3](plot.png) |\\n")
(out / "m.json").write_text(json.dumps({"value": value, "verbose": os.environ.get("XUANYUAN_VERBOSE")}))
"""


class FakePipeline:
    """Fake stages under `root`: build their YAML entries, run the runner on them, count what ran."""

    def __init__(self, root: Path):
        self.root = root
        self.script = root / "fake_stage.py"
        self.script.write_text(FAKE_STAGE, encoding="utf-8")
        self.counter = root / "runs.txt"
        self.out = root / "out"
        self.env = {**os.environ, "FAKE_COUNTER": str(self.counter)}

    def stage(self, name: str, *inputs: str, options: str = "", **fields) -> dict:
        reads = f" --inputs {' '.join('{output_dir}/' + i for i in inputs)}" if inputs else ""
        command = f"python {self.script} --name {name} --output_dir {{output_dir}}/{name}{reads} {options}"
        metrics = f"{{output_dir}}/{name}/m.json"
        return {"name": name, "description": f"fake {name}", "command": command.strip(), "metrics": metrics} | {
            "summary": ["value"],
            **fields,
        }

    def config(self, name: str, value: int) -> str:
        path = self.root / f"{name}.yaml"
        path.write_text(json.dumps({"value": value}), encoding="utf-8")  # JSON is YAML too
        return f"--config {path}"

    def run(self, stages: list[dict], *flags: str) -> subprocess.CompletedProcess:
        return run({"output_dir": str(self.out), "stages": stages}, self.root, *flags, env=self.env)

    def popen(self, stages: list[dict]) -> subprocess.Popen:
        """The runner in its own process group, for tests that kill it."""
        path = self.root / "pipeline.yaml"
        path.write_text(yaml.safe_dump({"output_dir": str(self.out), "stages": stages}), encoding="utf-8")
        command = [sys.executable, str(RUNNER), "--config", str(path)]
        return subprocess.Popen(command, cwd=REPO, env=self.env, start_new_session=True, stdout=subprocess.DEVNULL)

    def executed(self) -> list[str]:
        """The stages that ran since the last call."""
        names = self.counter.read_text().split() if self.counter.exists() else []
        self.counter.write_text("")
        return names

    def report(self, out: Path | None = None) -> dict:
        return json.loads(((out or self.out) / "report.json").read_text())

    def values(self) -> dict[str, int]:
        return {name: stage["metrics"]["value"] for name, stage in self.report()["stages"].items()}


@pytest.fixture
def fake(tmp_path) -> FakePipeline:
    return FakePipeline(tmp_path)


def without_timings(report: dict) -> dict:
    measured = ("seconds", "reused", "peak_rss_mib")
    return {name: {k: v for k, v in stage.items() if k not in measured} for name, stage in report.items()}


def wait_for(path: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def cpu_model() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))


def test_unchanged_rerun_executes_nothing_and_reports_the_same(fake):
    images = ["{output_dir}/a/plot.png", "{output_dir}/a/absent.png"]
    sections = ["{output_dir}/a/notes.md", "{output_dir}/a/absent.md"]
    stages = [fake.stage("a", options="--image", images=images, sections=sections), fake.stage("b", "a")]
    first = fake.run(stages)
    assert first.returncode == 0, first.stderr
    assert fake.executed() == ["a", "b"]
    before = fake.report()
    again = fake.run(stages)
    assert again.returncode == 0, again.stderr
    assert fake.executed() == []
    after = fake.report()
    assert [line.split()[1:3] for line in again.stdout.splitlines()[:2]] == [["a", "reused"], ["b", "reused"]]
    assert after["stages"] == {name: {**stage, "reused": True} for name, stage in before["stages"].items()}
    assert after["stage_seconds"] == before["stage_seconds"]
    assert fake.values() == {"a": 1, "b": 2}

    markdown = (fake.out / "report.md").read_text()
    assert markdown.startswith(f"# Pipeline report\n\nMachine: {cpu_model()} (")
    assert "![plot.png](a/plot.png)" in markdown and "absent.png" not in markdown
    assert "## a\n\n| funnel | [3](a/plot.png) |\n" in markdown  # the section's text (links rebased), before the image
    assert "| a | fake a | " in markdown and "(reused)" in markdown
    machine = after["machine"]
    assert machine["cpu_model"] == cpu_model() and machine["threads"] >= 1
    assert machine["precision"] in ("bf16", "fp16", "fp32") and isinstance(machine["cpu_avx2"], bool)


def test_changed_config_reruns_its_stage_and_the_stages_reading_its_outputs(fake):
    stages = [
        fake.stage("a"),
        fake.stage("b", "a", options=fake.config("b", 5)),
        fake.stage("c", "b"),
        fake.stage("d", "a"),
    ]
    assert fake.run(stages).returncode == 0
    assert fake.executed() == ["a", "b", "c", "d"] and fake.values() == {"a": 1, "b": 6, "c": 7, "d": 2}
    fake.config("b", 7)
    assert fake.run(stages).returncode == 0
    assert fake.executed() == ["b", "c"] and fake.values() == {"a": 1, "b": 8, "c": 9, "d": 2}


def test_from_only_and_force_choose_what_reruns(fake):
    stages = [fake.stage("a"), fake.stage("b", "a"), fake.stage("c", "b")]
    assert fake.run(stages).returncode == 0 and fake.executed() == ["a", "b", "c"]
    assert fake.run(stages, "--from", "b").returncode == 0 and fake.executed() == ["b", "c"]
    assert fake.run(stages, "--only", "a,c").returncode == 0 and fake.executed() == ["a", "c"]
    assert list(fake.report()["stages"]) == ["a", "c"]
    # a rewrote its outputs, so b (which reads them) and c (which reads b's) are stale now
    assert fake.run(stages).returncode == 0 and fake.executed() == ["b", "c"]
    assert fake.run(stages, "--force").returncode == 0 and fake.executed() == ["a", "b", "c"]
    bad = fake.run(stages, "--from", "z")
    assert bad.returncode != 0 and "unknown stage(s) ['z']; stages are ['a', 'b', 'c']" in bad.stderr


def test_stage_whose_output_was_deleted_reruns(fake):
    stages = [fake.stage("a"), fake.stage("b", "a"), fake.stage("c", "a")]
    assert fake.run(stages).returncode == 0 and fake.executed() == ["a", "b", "c"]
    shutil.rmtree(fake.out / "b")
    assert fake.run(stages).returncode == 0 and fake.executed() == ["b"]
    assert fake.values() == {"a": 1, "b": 2, "c": 2}


def test_runner_killed_mid_stage_resumes_with_that_stage(fake):
    marker = fake.root / "hanging"
    stages = [fake.stage("a"), fake.stage("b", "a", options=f"--hang {marker}"), fake.stage("c", "b")]
    runner = fake.popen(stages)
    wait_for(marker)
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    assert fake.executed() == ["a", "b"]
    resumed = fake.run(stages)
    assert resumed.returncode == 0, resumed.stderr
    assert fake.executed() == ["b", "c"]
    uninterrupted = fake.run(stages, "--output_dir", str(fake.root / "again"))
    assert uninterrupted.returncode == 0 and fake.executed() == ["a", "b", "c"]
    assert without_timings(fake.report()["stages"]) == without_timings(fake.report(fake.root / "again")["stages"])


def test_sigterm_stops_the_running_stage(fake):
    marker = fake.root / "hanging"
    runner = fake.popen([fake.stage("a", options=f"--hang {marker}")])
    wait_for(marker)
    os.kill(runner.pid, signal.SIGTERM)
    assert runner.wait(timeout=60) != 0
    with pytest.raises(ProcessLookupError):
        os.kill(int(marker.read_text()), 0)


def test_failed_stage_shows_its_log_tail_and_rerun_command_and_resumes_there(fake):
    flag = fake.root / "fixed"
    boom = fake.stage("boom", "a", options=f"--noise 50 --fail_unless {flag}")
    stages = [fake.stage("a"), boom, fake.stage("c", "boom")]
    failed = fake.run(stages)
    assert failed.returncode != 0 and fake.executed() == ["a", "boom"]
    lines = failed.stderr.splitlines()
    assert "noise 9" not in lines and lines[lines.index("noise 10") : lines.index("noise 49") + 1] == [
        f"noise {i}" for i in range(10, 50)
    ]
    yaml_path = fake.root / "pipeline.yaml"
    assert f"  python recipes/run_pipeline.py --config {yaml_path} --only boom" in lines
    assert "  " + boom["command"].replace("{output_dir}", str(fake.out)) in lines
    assert "stage 'boom' failed (exit 3)" in failed.stderr
    flag.touch()
    resumed = fake.run(stages)
    assert resumed.returncode == 0, resumed.stderr
    assert fake.executed() == ["boom", "c"]


def test_quiet_by_default_verbose_streams_everything(fake):
    stages = [fake.stage("a", options="--noise 200"), fake.stage("b", "a")]
    quiet = fake.run(stages)
    assert quiet.returncode == 0, quiet.stderr
    lines = quiet.stdout.splitlines()
    assert "\r" not in quiet.stdout and "noise" not in quiet.stdout and len(lines) == 4
    assert lines[0].startswith("[1/2] a ") and lines[0].endswith("value=1") and lines[1].endswith("value=2")
    assert "noise 199" in (fake.out / "logs" / "a.log").read_text()
    assert fake.values() and fake.report()["stages"]["a"]["metrics"]["verbose"] is None

    verbose = fake.run(stages, "--force", "--verbose")
    assert verbose.returncode == 0 and "noise 199" in verbose.stdout
    assert fake.report()["stages"]["a"]["metrics"]["verbose"] == "1"


def test_terminal_line_shows_progress_then_the_final_result(fake):
    main, child = pty.openpty()
    path = fake.root / "pipeline.yaml"
    config = {"output_dir": str(fake.out), "stages": [fake.stage("p", options="--progress")]}
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    command = [sys.executable, str(RUNNER), "--config", str(path)]
    runner = subprocess.Popen(command, cwd=REPO, env=fake.env, stdout=child)
    os.close(child)
    output = b""
    while chunk := _read(main):
        output += chunk
    assert runner.wait() == 0
    text = output.decode()
    assert "\r" in text and "50% 5/10" in text
    assert text.rsplit("\r\x1b[K", 1)[1].startswith("[1/1] p  ")


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # the terminal's other end closed
        return b""


def test_progress_of_tqdm_and_counter_lines():
    state = load_script("recipes/pipeline_state.py")
    assert state.progress_of(" 28%|██▊       | 275/1000 [01:42<05:36,  2.16it/s]") == "28% 275/1000"
    assert state.progress_of("step 3/10 loss 2.1") == "3/10"
    assert state.progress_of("100%|██████████| 9/9") == "100% 9/9"
    for line in ("saved to runs/2024/05", "date 2024/05/01", "ratio 12/5", "accuracy 45% of 3 models"):
        assert state.progress_of(line) is None, line


def test_stage_paths_of_the_cleaning_stage():
    state = load_script("recipes/pipeline_state.py")
    config = yaml.safe_load((REPO / "recipes" / "tiny" / "pipeline.yaml").read_text())
    clean = next(s for s in state.load_stages(config, "/o") if s.name == "clean_data")
    paths = state.stage_paths(clean, "/o")
    assert paths.outputs == ["/o/clean", "/o/clean/stats.json"]
    assert paths.configs == ["recipes/tiny/data.yaml"]
    for path in ("recipes/process_data.py", "/o/data/pretrain/raw.jsonl", "/o/kenlm"):
        assert path in paths.others


def test_stage_paths_with_flag_equals_value(tmp_path):
    state = load_script("recipes/pipeline_state.py")
    config = tmp_path / "settings.cfg"
    config.write_text("x")
    command = f"python recipes/sft.py --config={config} --output_dir={{output_dir}}/o --data={{output_dir}}/d"
    stage = state.load_stages({"stages": [{"name": "s", "command": command}]}, "/o")[0]
    paths = state.stage_paths(stage, "/o")
    assert (paths.outputs, paths.configs) == (["/o/o"], [str(config)])
    assert "/o/d" in paths.others and "recipes/sft.py" in paths.others


@pytest.mark.parametrize("size", ["tiny", "xuanyuan-6b"])
def test_every_stage_reads_under_output_dir_only_what_an_earlier_stage_writes(size):
    """The chaining paths live in pipeline.yaml alone, so a stage can only be wired to what an earlier one made."""
    state = load_script("recipes/pipeline_state.py")
    config = yaml.safe_load((REPO / "recipes" / size / "pipeline.yaml").read_text())
    written: list[Path] = []
    for stage in state.load_stages(config, "/o"):
        paths = state.stage_paths(stage, "/o")
        outputs = {Path(path) for path in paths.outputs}
        for path in map(Path, paths.others):
            if path.is_relative_to("/o") and path not in outputs:
                assert any(path.is_relative_to(made) for made in written), f"{stage.name} reads {path}: nobody made it"
        written += outputs


def test_the_6b_stages_parse_with_their_recipes(tmp_path, monkeypatch):
    """Each training stage of the cluster pipeline, YAML and command line together, is a valid recipe call."""
    from xuanyuan.cli import parse_recipe_args

    state = load_script("recipes/pipeline_state.py")
    config = yaml.safe_load((REPO / "recipes" / "xuanyuan-6b" / "pipeline.yaml").read_text())
    stages = {stage.name: stage for stage in state.load_stages(config, str(tmp_path))}
    library = {
        "pretrain": ["xuanyuan.training.pretrain:PretrainConfig", "trl:ModelConfig"],
        "sft": ["xuanyuan.training:XuanYuanSFTConfig", "trl:ModelConfig"],
        "reward": ["xuanyuan.training.reward:XuanYuanRewardConfig", "trl:ModelConfig"],
        "ppo": ["xuanyuan.training.ppo:PPOConfig", "trl:ModelConfig"],
    }
    monkeypatch.chdir(REPO)
    for name in ("pretrain", "sft", "reward"):
        (tmp_path / name).mkdir()  # the models the later stages start from
    for name, classes in library.items():
        tokens = shlex.split(stages[name].command)
        script = next(token for token in tokens if token.startswith("recipes/"))
        recipe = load_script(script)
        own = [
            cls for key, cls in vars(recipe).items() if key.endswith("ScriptArguments") and key != "ScriptArguments"
        ]
        argv = tokens[tokens.index(script) + 1 :] + ["--bf16", "false", "--use_cpu", "true"]  # parsed on a CPU
        parsed = parse_recipe_args(own, classes, argv=argv)
        training = parsed[len(own)]
        assert training.output_dir == str(tmp_path / name)


def test_the_runner_state_a_stage_reads_is_not_one_of_its_inputs():
    """eval/alignment.py reads stage times from pipeline_state.json, which changes after every stage: as an input
    it would make that stage stale on every rerun of an unchanged job."""
    state = load_script("recipes/pipeline_state.py")
    command = "python t.py --state {output_dir}/pipeline_state.json --data {output_dir}/d.jsonl --output_dir /t"
    (stage,) = state.load_stages({"stages": [{"name": "table", "command": command}]}, "/o")
    assert "/o/pipeline_state.json" not in state.stage_paths(stage, "/o").others
    assert "/o/d.jsonl" in state.stage_paths(stage, "/o").others
