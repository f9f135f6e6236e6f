"""scripts/readme_numbers.py: the README's numbers block is rewritten from a report, and nothing else."""

import json

import pytest
import yaml
from script_loading import REPO, load_script

numbers = load_script("scripts/readme_numbers.py")

REPORT = {
    "machine": {"cpu_model": "Test CPU 9000", "threads": 4, "precision": "bf16", "cuda_name": None},
    "total_seconds": 440.2,
    "stages": {
        "data": {"seconds": 12.4, "metrics": {"counts": {"docs": 2869}}, "reused": False},
        "pretrain": {"seconds": 421.6, "metrics": {"final_train_loss": 2.18349}, "reused": False},
    },
}
TABLE = (
    numbers.Number("stages.pretrain.seconds", "pretraining time", "{:.0f} s"),
    numbers.Number("stages.pretrain.metrics.final_train_loss", "final loss", "{:.2f}"),
    numbers.Number("stages.data.metrics.counts.docs", "documents"),
)


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setattr(numbers, "NUMBERS", TABLE)
    report = tmp_path / "report.json"
    report.write_text(json.dumps(REPORT))
    return report, tmp_path / "README.md"


def test_block_between_markers_is_rewritten_from_the_report(files):
    report, readme = files
    readme.write_text("# Title\n\nIntro.\n\n<!-- numbers:begin -->\nold numbers\n<!-- numbers:end -->\n\nMore.\n")
    numbers.main(["--report", str(report), "--readme", str(readme)])
    assert readme.read_text() == (
        "# Title\n\nIntro.\n\n"
        "<!-- numbers:begin -->\n"
        "Measured on Test CPU 9000 (4 threads, bf16 training): 2 stages in 440 s of wall time (434 s in stages).\n"
        "Stage times: data 12 s, pretrain 422 s.\n"
        "\n"
        "| number | value |\n"
        "|---|---:|\n"
        "| pretraining time | 422 s |\n"
        "| final loss | 2.18 |\n"
        "| documents | 2869 |\n"
        "<!-- numbers:end -->\n"
        "\nMore.\n"
    )
    once = readme.read_text()
    numbers.main(["--report", str(report), "--readme", str(readme)])
    assert readme.read_text() == once


@pytest.mark.parametrize(
    "text",
    [
        "no markers at all\n",
        "<!-- numbers:begin -->\nonly the start\n",
        "<!-- numbers:end -->\nreversed\n<!-- numbers:begin -->\n",
    ],
)
def test_refuses_without_a_marked_block(files, text):
    report, readme = files
    readme.write_text(text)
    with pytest.raises(SystemExit, match="numbers:begin"):
        numbers.main(["--report", str(report), "--readme", str(readme)])
    assert readme.read_text() == text


def test_seed_study_block_is_replaced_by_the_study_table(files, tmp_path):
    report, readme = files
    study = tmp_path / "seed_study.md"
    study.write_text("| number | fp32 |\n|---|---:|\n| exam | 0.41 |\n")
    readme.write_text(
        "<!-- numbers:begin -->\n<!-- numbers:end -->\nA.\n<!-- seeds:begin -->\nold\n<!-- seeds:end -->\nB.\n"
    )
    numbers.main(["--report", str(report), "--readme", str(readme), "--seed_study", str(study)])
    text = readme.read_text()
    assert "A.\n<!-- seeds:begin -->\n| number | fp32 |\n|---|---:|\n| exam | 0.41 |\n<!-- seeds:end -->\nB.\n" in text
    assert "old" not in text and "| pretraining time | 422 s |" in text


def test_alignment_block_is_the_alignment_stage_table_without_its_heading(files):
    report, readme = files
    readme.write_text(
        "<!-- numbers:begin -->\n<!-- numbers:end -->\n<!-- alignment:begin -->\nold\n<!-- alignment:end -->\n"
    )
    with pytest.raises(SystemExit, match="no 'alignment' stage"):
        numbers.main(["--report", str(report), "--readme", str(readme)])
    data = json.loads(report.read_text())
    section = "## Alignment methods against SFT\n\n| method | reward |\n|---|---|\n| dpo | 0.5 |\n"
    data["stages"]["alignment"] = {"seconds": 3.0, "metrics": {}, "reused": False, "sections": [section]}
    report.write_text(json.dumps(data))
    numbers.main(["--report", str(report), "--readme", str(readme)])
    text = readme.read_text()
    assert "<!-- alignment:begin -->\n| method | reward |\n|---|---|\n| dpo | 0.5 |\n<!-- alignment:end -->" in text
    assert "old" not in text and "## Alignment" not in text


def test_refuses_a_report_that_reused_stages(files):
    report, readme = files
    readme.write_text("<!-- numbers:begin -->\n<!-- numbers:end -->\n")
    rerun = json.loads(report.read_text())
    rerun["stages"]["data"]["reused"] = True
    report.write_text(json.dumps(rerun))
    with pytest.raises(SystemExit, match=r"reused \['data'\]"):
        numbers.main(["--report", str(report), "--readme", str(readme)])


def test_refuses_when_the_report_lacks_a_number(files, monkeypatch):
    report, readme = files
    readme.write_text("<!-- numbers:begin -->\n<!-- numbers:end -->\n")
    monkeypatch.setattr(numbers, "NUMBERS", (numbers.Number("stages.ppo.metrics.kl_last", "KL"),))
    with pytest.raises(SystemExit, match="stages.ppo.metrics.kl_last"):
        numbers.main(["--report", str(report), "--readme", str(readme)])


def test_default_numbers_name_stages_and_summary_keys_of_the_main_job():
    stages = yaml.safe_load((REPO / "recipes" / "tiny" / "pipeline.yaml").read_text())["stages"]
    summaries = {stage["name"]: stage.get("summary", []) for stage in stages}
    for number in numbers.NUMBERS:
        _, stage, kind, *key = number.path.split(".")
        assert stage in summaries, number
        assert (kind, key) == ("seconds", []) or (kind == "metrics" and ".".join(key) in summaries[stage]), number
