"""The cluster side of the data pipeline: the 6B config runs end to end (locally), its Slurm settings reach
the sbatch scripts datatrove writes (a fake `sbatch` records the submissions), and Ray's executor produces
the local executor's output."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import stat
from pathlib import Path

import pytest
from test_perplexity_filter import load_recipe
from test_process_data_pipeline import tree_digests

from xuanyuan.data.processing.dedup import DedupConfig
from xuanyuan.data.processing.dedup_eval import planted_corpus, removal_scores, true_duplicate_edges
from xuanyuan.data.processing.kenlm_tools import find_kenlm_tool
from xuanyuan.data.processing.normalize import NormalizeConfig, TextNormalizer
from xuanyuan.data.processing.pipeline import DataPipeline, ProcessDataConfig
from xuanyuan.data.processing.rules import RuleFilterConfig

REPO = Path(__file__).resolve().parents[1]
SIX_B = REPO / "recipes" / "xuanyuan-6b" / "data.yaml"
EXECUTORS = ("filter", "buckets", "cluster", "finalize", "report")


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A planted corpus (domain `news`, rate 1 in the 6B mixture), one spam document, a keyword list and, when
    KenLM is installed, models + thresholds trained on other text of the same kind (no near-duplicates, which
    would make held-out documents look fluent and the thresholds too low)."""
    root = tmp_path_factory.mktemp("six_b")
    docs = planted_corpus(240, seed=4)
    records = [{"id": d.id, "text": d.text, "domain": "news"} for d in docs]
    spam = "正规刷单平台，注册即送88元，日赚千元不是梦，详情加微信。" * 3
    write_jsonl(root / "raw.jsonl", records + [{"id": "spam", "text": spam, "domain": "news"}])
    (root / "keywords.txt").write_text("刷单\n", encoding="utf-8")
    normalizer = TextNormalizer(NormalizeConfig())  # the filter scores normalized text (t2s changes characters)
    reference = [{"text": normalizer.normalize(d.text)[0], "lang": "zh"} for d in planted_corpus(200, 9, 0)]
    write_jsonl(root / "reference.jsonl", reference)
    kenlm = None
    if find_kenlm_tool("lmplz") is not None and importlib.util.find_spec("kenlm") is not None:
        recipe = load_recipe("train_kenlm")
        kenlm = root / "kenlm"
        recipe.main(recipe.TrainKenLMConfig(reference=[str(root / "reference.jsonl")], output_dir=str(kenlm), order=3))
    return root, docs, kenlm


def six_b_args(root: Path, kenlm: Path, out: Path, *extra: str) -> list[str]:
    """The 6B config with its input paths (corpus, keyword list, KenLM models; the safety filter's model path
    dropped for the shipped demo classifier) and output path replaced."""
    perplexity = {"enabled": True, "backend": "kenlm", "model_dir": str(kenlm)}
    safety = {"enabled": True, "backend": "fasttext", "threshold": 0.5, "mode": "document"}
    return [
        "--config", str(SIX_B), "--input", str(root / "raw.jsonl"), "--output_dir", str(out),
        "--keyword_file", str(root / "keywords.txt"),
        "--perplexity", json.dumps(perplexity), "--safety", json.dumps(safety), *extra,
    ]  # fmt: skip


def needs_kenlm_and_fasttext(kenlm):
    if kenlm is None:
        pytest.skip("KenLM's lmplz or the kenlm package is missing: bash scripts/build_kenlm.sh && pip install kenlm")
    if importlib.util.find_spec("fasttext") is None:
        pytest.skip("fasttext is missing: pip install 'xuanyuan-recipes[fasttext]'")


def test_6b_config_runs_end_to_end_on_the_local_executor(inputs, tmp_path):
    root, docs, kenlm = inputs
    needs_kenlm_and_fasttext(kenlm)
    recipe = load_recipe("process_data")
    out = tmp_path / "clean"
    args = six_b_args(root, kenlm, out, "--executor", "local", "--tasks", "2", "--workers", "1")
    report = recipe.main(*recipe.parse_args(args))

    settings = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert settings["dedup"] | {"num_bands": 64, "rows_per_band": 8, "verify_pairs": "signature"} == settings["dedup"]
    assert settings["run"]["default_domain"] == "web" and settings["rules"]["min_doc_chars"] == 50
    assert [s["stage"] for s in report["stages"]] == [
        "read", "normalize", "keyword_filter", "line_filter", "min_length", "perplexity", "safety", "dedup",
        "domain_sampling",
    ]  # fmt: skip
    assert report["removed_by_reason"]["keyword_filter/bad_keyword"]["docs"] == 1
    assert len(list((out / "logs" / "buckets" / "completions").iterdir())) == 64  # bucket_tasks: 64

    kept = set()
    for path in (out / "data").glob("*.jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            kept.update(json.loads(line)["id"] for line in handle)
    removed_by_dedup = set()
    for path in (out / "removed" / "dedup").glob("*.jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            removed_by_dedup.update(json.loads(line)["id"] for line in handle)
    reached = [d for d in docs if d.id in kept | removed_by_dedup]  # what the earlier stages let through
    assert len(reached) > 100 and removed_by_dedup  # the demo safety classifier flags much random-Han text
    normalizer = TextNormalizer(NormalizeConfig())
    edges = true_duplicate_edges({d.id: normalizer.normalize(d.text)[0] for d in reached}, DedupConfig())
    scores = removal_scores([d.id for d in reached], edges, kept)
    assert scores["should_remove"] >= 15 and scores["precision"] >= 0.9 and scores["recall"] >= 0.9, scores


def test_6b_slurm_config_writes_its_settings_into_the_sbatch_scripts(inputs, tmp_path, monkeypatch):
    root, _, kenlm = inputs
    needs_kenlm_and_fasttext(kenlm)
    fake = tmp_path / "bin" / "sbatch"  # records each submission and answers like Slurm does
    fake.parent.mkdir()
    calls = tmp_path / "sbatch_calls.txt"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\necho "Submitted batch job $(wc -l < {calls})"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    recipe = load_recipe("process_data")
    out = tmp_path / "clean"
    assert recipe.main(*recipe.parse_args(six_b_args(root, kenlm, out))) is None

    arrays = {"filter": "0-1000", "buckets": "0-63", "cluster": "0-0", "finalize": "0-1000", "report": "0-0"}
    for name in EXECUTORS:
        script = (out / "logs" / name / "launch_script.slurm").read_text(encoding="utf-8")
        for line in (
            "#SBATCH --partition=cpu", "#SBATCH --time=12:00:00", "#SBATCH --cpus-per-task=1",
            "#SBATCH --mem-per-cpu=4G", "#SBATCH --account=xuanyuan", f"#SBATCH --job-name=xuanyuan_data_{name}",
            f"#SBATCH --array={arrays[name]}", "source /opt/venvs/xuanyuan/bin/activate",
            f"launch_pickled_pipeline {out / 'logs' / name / 'executor.pik'}",
        ):  # fmt: skip
            assert line in script, (name, line)
    # Job ids count sbatch calls. Each stage: its array job(s), then a stats-merge job. 2000 tasks with
    # max_array_size 1001 take two array jobs (the second after the first), and a stage starts after the
    # last array job of the one before: filter 1, 2 (merge 3), buckets 4 (5), cluster 6 (7), finalize 8, 9
    # (10), report 11 (12).
    launched = [call.split()[1:-1] for call in calls.read_text().splitlines() if "RUN_OFFSET=" in call]
    assert launched == [
        [], ["--dependency=afterany:1"], ["--dependency=afterok:2"], ["--dependency=afterok:4"],
        ["--dependency=afterok:6"], ["--dependency=afterok:6,afterany:8"], ["--dependency=afterok:9"],
    ]  # fmt: skip
    assert not (out / "data").exists(), "nothing may run here: the tasks belong to Slurm"


def test_ray_executor_output_equals_the_local_executor(inputs, tmp_path):
    """One task per stage: datatrove starts a Ray actor (a fresh process importing torch) per task."""
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'xuanyuan-recipes[ray]'")
    root, _, _ = inputs

    def run(out: Path, executor: str, **options) -> None:
        config = ProcessDataConfig(
            output_dir=str(out), input=[str(root / "raw.jsonl")], tasks=1, workers=1, executor=executor, **options
        )
        DataPipeline(run=config, rules=RuleFilterConfig(keyword_file=str(root / "keywords.txt"))).launch()

    run(tmp_path / "local", "local")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run(tmp_path / "ray", "ray", ray={"cpus_per_task": 1, "mem_per_cpu_gb": 0.5})
    finally:
        ray.shutdown()
    executor = json.loads((tmp_path / "ray" / "logs" / "filter" / "executor.json").read_text())
    assert executor["cpus_per_task"] == 1 and executor["mem_per_cpu_gb"] == 0.5  # RayPipelineExecutor's fields
    for sub in ("data", "removed"):
        assert tree_digests(tmp_path / "ray" / sub) == tree_digests(tmp_path / "local" / sub)
    assert json.loads((tmp_path / "ray" / "stats.json").read_text())["documents_out"] > 200
