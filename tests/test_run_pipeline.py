"""The main-job runner: stages run in order, metrics are collected, a failure stops the run."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

RUNNER = Path(__file__).resolve().parents[1] / "recipes" / "run_pipeline.py"

WRITE_METRICS = "import json, pathlib, sys; p = pathlib.Path(sys.argv[1]); p.parent.mkdir(parents=True, exist_ok=True); p.write_text(json.dumps({'score': float(sys.argv[2]), 'n': 3, 'counts': {'docs': 7}}))"  # noqa: E501


def run(config: dict, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return subprocess.run([sys.executable, str(RUNNER), "--config", str(path), *extra], capture_output=True, text=True)


def stage(name: str, score: float, summary=("score",)) -> dict:
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
