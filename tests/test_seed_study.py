"""scripts/seed_study.py: runs the seeded stages per precision and seed on data made once, and summarizes them."""

import json
import statistics

import pytest
import yaml
from script_loading import REPO, load_script

study = load_script("scripts/seed_study.py")


def numbers(exam_change, p_value, sft_reward, ppo_reward, wins, losses) -> dict:
    values = {number.label: 1.0 for number in study.NUMBERS}
    values.update(
        {
            "exam change SFT − pretraining (paired)": exam_change,
            "its p-value (sign flips over facts)": p_value,
            "mean reward, held-out prompts, SFT": sft_reward,
            "mean reward, held-out prompts, PPO": ppo_reward,
            "PPO wins against SFT": wins,
            "PPO losses against SFT": losses,
        }
    )
    return values


def test_summary_counts_each_expectation_and_gives_mean_and_spread():
    runs = [
        {"seed": seed, "precision": "fp32", "threads": threads, "numbers": numbers(*values)}
        for seed, threads, values in (
            (0, 2, (-0.04, 0.01, 0.5, 0.9, 20, 10)),  # SFT lost the exam significantly
            (1, 1, (-0.01, 0.60, 0.5, 0.4, 10, 10)),  # PPO: no reward gain, no more wins than losses
            (2, 1, (+0.02, 0.30, 0.2, 0.6, 25, 5)),
        )
    ]
    summary = study.summarize(runs, ["fp32"])["fp32"]
    assert summary["runs"] == 3
    kept, raised, won = (summary["expectations"][text] for text, _ in study.EXPECTATIONS)
    assert (kept, raised, won) == (2, 2, 2)
    change = summary["numbers"]["exam change SFT − pretraining (paired)"]
    assert change["mean"] == pytest.approx(-0.01)
    assert change["sd"] == pytest.approx(statistics.stdev([-0.04, -0.01, 0.02]))
    assert (change["min"], change["max"]) == (-0.04, 0.02)
    table = study.markdown({"runs": runs, "summary": study.summarize(runs, ["fp32"])})
    assert "| exam change SFT − pretraining (paired) | -0.040 / -0.010 / +0.020 | -0.010 ± 0.03 |" in table
    assert "fp32, seeds 0 / 1 / 2" in table
    assert "- PPO wins more than it loses against SFT: fp32 2/3 runs" in table
    assert "Threads per run (seeds in the order above): fp32 2 / 1 / 1." in table


# Every dotted path the study reads, as a fake stage's metrics; values move with the seed.
FAKE = "import json, pathlib, sys; p = pathlib.Path(sys.argv[1]); p.parent.mkdir(parents=True, exist_ok=True); p.write_text(sys.argv[2])"  # noqa: E501


def fake_stage(name: str, metrics: str) -> dict:
    path = f"{{output_dir}}/{name}/m.json"
    return {"name": name, "command": f"python -c '{FAKE}' {path} '{metrics}'", "metrics": path}


def fake_pipeline(tmp_path):
    metrics = {
        "exam_pretrain_blank": '{"overall": {"accuracy": 0.4}}',
        "exam_sft_blank": '{"overall": {"accuracy": 0.4{seed}}}',
        "exam_sft_vs_pretrain": '{"difference": 0.0{seed}, "cluster_p_value": 0.5}',
        "eval_reward": '{"accuracy": 0.8}',
        "ppo": '{"reward_first": 0.1, "reward_last": 1.{seed}}',
        "alignment": '{"methods": {"sft": {"reward_mean": 0.3}, "ppo": {"reward_mean": 0.{seed}, "good": 2{seed},'
        ' "same": 3, "bad": 10}}}',
    }
    names = [*study.SHARED_STAGES, "init_model", "pretrain", "exam_pretrain_blank", "sft", "exam_sft_blank",
             "exam_sft_vs_pretrain", "reward", "eval_reward", "ppo", "alignment", "quantize_8bit"]  # fmt: skip
    stages = [fake_stage(name, metrics.get(name, "{}")) for name in names]
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "unused"), "stages": stages}))
    return path


def test_study_runs_shared_stages_once_and_each_seed_in_its_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    config, out = fake_pipeline(tmp_path), tmp_path / "study"
    study.main(["--config", str(config), "--seeds", "1", "2", "--precisions", "fp32", "--output_dir", str(out)])
    assert (out / "shared" / "data" / "m.json").exists()
    assert (out / "fp32-seed1" / "data").resolve() == (out / "shared" / "data").resolve()
    assert (out / "fp32-seed1" / "alignment" / "m.json").exists()
    assert not (out / "fp32-seed1" / "quantize_8bit").exists()  # after the last stage the study reads
    result = json.loads((out / "seed_study.json").read_text())
    assert [(run["precision"], run["seed"]) for run in result["runs"]] == [("fp32", 1), ("fp32", 2)]
    assert [run["numbers"]["exam accuracy after SFT"] for run in result["runs"]] == [0.41, 0.42]
    assert all(isinstance(run["threads"], int) and run["threads"] >= 1 for run in result["runs"])
    summary = result["summary"]["fp32"]
    assert summary["numbers"]["PPO wins against SFT"]["mean"] == 21.5
    assert summary["expectations"]["PPO raises the mean reward on held-out prompts"] == 0  # 0.1, 0.2 < 0.3
    assert summary["expectations"]["PPO wins more than it loses against SFT"] == 2

    # A finished run is not repeated: its report is kept as it was.
    before = (out / "fp32-seed1" / "report.json").stat().st_mtime_ns
    study.main(["--config", str(config), "--seeds", "1", "--precisions", "fp32", "--output_dir", str(out)])
    assert (out / "fp32-seed1" / "report.json").stat().st_mtime_ns == before


def test_study_refuses_a_pipeline_without_its_stages(tmp_path):
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({"output_dir": "x", "stages": [fake_stage("data", "{}")]}))
    with pytest.raises(SystemExit, match="has no stage.*'reference_data'.*'alignment'"):
        study.main(["--config", str(config), "--output_dir", str(tmp_path / "out")])
